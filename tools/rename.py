"""Make the template yours: `python tools/rename.py petvision`.

Renames the package folder, the distribution (`petvision` in pyproject.toml and pip), and every
mention in the project's text files: `_target_`s, imports, tests, notebooks, README, benchmarks.
The Python files it changed are then formatted with ruff (a shorter or longer name moves line
breaks and import order), so the renamed project passes its own checks. With `--logs`, the saved
configs and checkpoints of existing runs under `logs/` are rewritten too, so they still evaluate,
predict and export. `--dry-run` lists what would change. Running it again with the same name finds
nothing to do.

A script beside the project rather than a module of the package: a wheel has no project to rename.
"""

import argparse
import importlib.util
import keyword
import os
import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

TEXT_SUFFIXES = {".py", ".yaml", ".yml", ".md", ".toml", ".ipynb", ".cfg", ".txt", ".json", ".ini"}
TEXT_NAMES = {"run", "Makefile", "Dockerfile"}  # .ci/run and friends
SKIPPED_DIRS = {".git", ".venv", "venv", ".cache", "__pycache__", "node_modules"}
SKIPPED_AT_ROOT = {"logs", "data"}  # run outputs (see --logs) and datasets: never walked
RUN_FILES = ("config.yaml", "overrides.yaml", "hydra.yaml", "resolved_config.yaml", "hparams.yaml")
FORMATTED_SUFFIXES = {".py", ".ipynb"}  # what ruff checks and formats


def distribution_name(package: str) -> str:
    return package.replace("_", "-")


def package_name(root: Path) -> str:
    """The package this project builds: its distribution's name in pyproject.toml, as an import name."""
    pyproject = root / "pyproject.toml"
    try:
        name = tomllib.loads(pyproject.read_text(encoding="utf-8"))["project"]["name"]
    except (OSError, tomllib.TOMLDecodeError, KeyError) as error:
        raise SystemExit(
            f"rename: no [project] name in {pyproject} ({error}); run it from the project."
        ) from None
    package = name.replace("-", "_")
    if not (root / "src" / package / "__init__.py").is_file():
        raise SystemExit(f"rename: pyproject.toml names {name}, but {root / 'src' / package} is no package.")
    return package


def check_name(name: str) -> None:
    """A new name must be an importable, lower-case Python identifier that is not a keyword."""
    if not name.isidentifier() or keyword.iskeyword(name) or name != name.lower():
        raise SystemExit(
            f"rename: {name!r} cannot be a package name; use lower-case letters, digits and underscores, "
            "starting with a letter (e.g. petvision or pet_vision)."
        )


def replace_names(text: str, old: str, new: str) -> str:
    """`old` as a package (`old.x`, `import old`) and as a distribution (`old-with-dashes`)."""
    text = re.sub(rf"\b{re.escape(old)}\b", new, text)
    return re.sub(rf"\b{re.escape(distribution_name(old))}\b", distribution_name(new), text)


def project_files(root: Path) -> list[Path]:
    """The text files of the project, outside environments, run outputs and data (never walked)."""
    files = []
    for folder, dirs, names in os.walk(root):
        skipped = SKIPPED_DIRS | (SKIPPED_AT_ROOT if Path(folder) == root else set())
        dirs[:] = sorted(d for d in dirs if d not in skipped and not d.endswith(".egg-info"))
        files += [
            Path(folder, n) for n in sorted(names) if Path(n).suffix in TEXT_SUFFIXES or n in TEXT_NAMES
        ]
    return files


def rewrite(path: Path, old: str, new: str, dry_run: bool) -> bool:
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        return False
    changed = replace_names(text, old, new)
    if changed == text:
        return False
    if not dry_run:
        _atomic_replace(path, lambda temporary: temporary.write_text(changed, encoding="utf-8"))
    return True


def _atomic_replace(path: Path, write) -> None:
    """Write a temporary sibling, fsync, rename over `path`: a kill never leaves half a file.

    Its own few lines rather than the package's atomic-file helpers: this script renames that package.
    """
    temporary = path.with_name(f".{path.name}.rename-tmp")
    write(temporary)
    with open(temporary, "rb") as file:
        os.fsync(file.fileno())
    temporary.replace(path)


def rewrite_checkpoint(path: Path, old: str, new: str, dry_run: bool) -> bool:
    """A checkpoint's recorded network config names classes by module path: renamed in place."""
    import torch  # only for --logs: renaming the sources needs no torch

    checkpoint = torch.load(path, map_location="cpu", weights_only=True)
    hparams = checkpoint.get("hyper_parameters")
    if not hparams:
        return False
    renamed = _renamed_values(hparams, old, new)
    if renamed == hparams:
        return False
    if not dry_run:
        checkpoint["hyper_parameters"] = renamed
        _atomic_replace(path, lambda temporary: torch.save(checkpoint, temporary))
    return True


def _renamed_values(value, old: str, new: str):
    if isinstance(value, dict):
        return {k: _renamed_values(v, old, new) for k, v in value.items()}
    if isinstance(value, list):
        return [_renamed_values(v, old, new) for v in value]
    return replace_names(value, old, new) if isinstance(value, str) else value


def rename(root: Path, new: str, logs: Path | None = None, dry_run: bool = False) -> list[str]:
    """Rename the package under `root/src` to `new`; return what changed (or would)."""
    check_name(new)
    old = package_name(root)
    changes = []
    if old != new:
        if (root / "src" / new).exists():
            raise SystemExit(f"rename: {root / 'src' / new} exists already; pick another name or remove it.")
        changes += [f"src/{old}/ -> src/{new}/"]
        if not dry_run:
            (root / "src" / old).rename(root / "src" / new)
        rewritten = [p for p in project_files(root) if rewrite(p, old, new, dry_run)]
        changes += [str(p.relative_to(root)) for p in rewritten]
        changes += _stale_metadata_removed(root, old, dry_run)
        if not dry_run:
            format_python(root, [p for p in rewritten if p.suffix in FORMATTED_SUFFIXES])
    if logs is not None and logs.is_dir():
        changes += _rename_in_runs(logs, old, new, dry_run)
    return changes


def _stale_metadata_removed(root: Path, old: str, dry_run: bool) -> list[str]:
    """`src/<old>.egg-info`, left by an earlier editable install: with src/ on sys.path (the editable
    install's .pth puts it there) Python would still see the old distribution and its scripts."""
    stale = root / "src" / f"{old}.egg-info"
    if not stale.is_dir():
        return []
    if not dry_run:
        shutil.rmtree(stale)
    return [f"{stale.relative_to(root)}/ removed"]


def format_python(root: Path, files: list[Path]) -> None:
    """Sort imports and format the rewritten files with the project's own ruff settings.

    A new name of another length moves line breaks, and one that sorts elsewhere moves imports:
    without this, `ruff check` and `ruff format --check` fail on the renamed project.
    """
    if not files:
        return
    if importlib.util.find_spec("ruff") is None:
        print(f"rename: ruff is not installed here; run `ruff check --fix . && ruff format .` in {root}.")
        return
    names = [str(f.relative_to(root)) for f in files]
    for command in (["check", "--fix", "--quiet", "--select", "I"], ["format", "--quiet"]):
        if subprocess.run([sys.executable, "-m", "ruff", *command, *names], cwd=root).returncode:
            print(f"rename: `ruff {' '.join(command)}` found what it cannot fix (above); fix it in {root}.")


def _rename_in_runs(logs: Path, old: str, new: str, dry_run: bool) -> list[str]:
    """Saved configs and checkpoints of earlier runs, so eval.py, predict.py and export.py still read them."""
    changed = [
        str(p) for name in RUN_FILES for p in sorted(logs.rglob(name)) if rewrite(p, old, new, dry_run)
    ]
    return changed + [
        str(p) for p in sorted(logs.rglob("*.ckpt")) if rewrite_checkpoint(p, old, new, dry_run)
    ]


def reinstall_instructions(root: Path, old: str, new: str) -> str:
    """The old distribution stays installed until removed, and both would claim the same scripts."""
    return (
        "Now swap the installed distribution for the renamed one, so that Python finds the package\n"
        f"under its new name and `{distribution_name(old)}` no longer claims the project's scripts:\n"
        f"  {sys.executable} -m pip uninstall -y {distribution_name(old)}\n"
        f'  {sys.executable} -m pip install -e "{root}[dev]"'
    )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python tools/rename.py", description=__doc__.splitlines()[0])
    parser.add_argument("name", help="the new package name, e.g. petvision")
    parser.add_argument("--root", type=Path, default=Path(__file__).resolve().parents[1], help="the project")
    parser.add_argument("--logs", type=Path, nargs="?", const=Path("logs"), default=None,
                        help="also rewrite the runs under this folder (default logs/)")  # fmt: skip
    parser.add_argument("--dry-run", action="store_true", help="list the changes, change nothing")
    args = parser.parse_args(argv)
    root = args.root.resolve()
    logs = (root / args.logs) if args.logs is not None and not args.logs.is_absolute() else args.logs
    old = package_name(root)
    changes = rename(root, args.name, logs, args.dry_run)
    verb = "would change" if args.dry_run else "changed"
    print(f"rename: {verb} {len(changes)} paths" + "".join(f"\n  {c}" for c in changes[:200]))
    if changes and not args.dry_run and old != args.name:
        print(reinstall_instructions(root, old, args.name))
    elif not changes:
        print(f"rename: nothing to do; the package is {args.name} already.")


if __name__ == "__main__":
    main()
