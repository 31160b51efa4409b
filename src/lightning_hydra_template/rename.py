"""Make the template yours: `python -m lightning_hydra_template.rename petvision`.

Renames the package folder, the distribution (`petvision` in pyproject.toml and pip), and every
mention in the project's text files: `_target_`s, imports, tests, notebooks, README, benchmarks.
With `--logs`, the saved configs and checkpoints of existing runs under `logs/` are rewritten
too, so they still evaluate, predict and export. `--dry-run` lists what would change. Running it
again with the same name finds nothing to do.
"""

import argparse
import keyword
import os
import re
import sys
from pathlib import Path

TEXT_SUFFIXES = {".py", ".yaml", ".yml", ".md", ".toml", ".ipynb", ".cfg", ".txt", ".json", ".ini"}
TEXT_NAMES = {"run", "Makefile", "Dockerfile"}  # .ci/run and friends
SKIPPED_DIRS = {".git", ".venv", "venv", ".cache", "__pycache__", "node_modules"}
SKIPPED_AT_ROOT = {"logs", "data"}  # run outputs (see --logs) and datasets: never walked
RUN_FILES = ("config.yaml", "overrides.yaml", "hydra.yaml", "resolved_config.yaml", "hparams.yaml")


def distribution_name(package: str) -> str:
    return package.replace("_", "-")


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
        _atomic_write_text(path, changed)
    return True


def _atomic_write_text(path: Path, text: str) -> None:
    temporary = path.with_name(f".{path.name}.rename-tmp")
    temporary.write_text(text, encoding="utf-8")
    temporary.replace(path)


def rewrite_checkpoint(path: Path, old: str, new: str, dry_run: bool) -> bool:
    """A checkpoint's recorded network config names classes by module path: renamed in place."""
    import torch

    checkpoint = torch.load(path, map_location="cpu", weights_only=True)
    hparams = checkpoint.get("hyper_parameters")
    if not hparams:
        return False
    renamed = _renamed_values(hparams, old, new)
    if renamed == hparams:
        return False
    if not dry_run:
        checkpoint["hyper_parameters"] = renamed
        temporary = path.with_name(f".{path.name}.rename-tmp")
        torch.save(checkpoint, temporary)
        temporary.replace(path)
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
    packages = [p for p in (root / "src").iterdir() if (p / "rename.py").is_file()]
    if len(packages) != 1:
        raise SystemExit(
            f"rename: no single package with rename.py under {root / 'src'}; run it from the project."
        )
    old = packages[0].name
    changes = []
    if old != new:
        if (root / "src" / new).exists():
            raise SystemExit(f"rename: {root / 'src' / new} exists already; pick another name or remove it.")
        changes += [f"src/{old}/ -> src/{new}/"]
        if not dry_run:
            packages[0].rename(root / "src" / new)
        changes += [str(p.relative_to(root)) for p in project_files(root) if rewrite(p, old, new, dry_run)]
    if logs is not None and logs.is_dir():
        changes += _rename_in_runs(logs, old, new, dry_run)
    return changes


def _rename_in_runs(logs: Path, old: str, new: str, dry_run: bool) -> list[str]:
    """Saved configs and checkpoints of earlier runs, so eval.py, predict.py and export.py still read them."""
    changed = [
        str(p) for name in RUN_FILES for p in sorted(logs.rglob(name)) if rewrite(p, old, new, dry_run)
    ]
    return changed + [
        str(p) for p in sorted(logs.rglob("*.ckpt")) if rewrite_checkpoint(p, old, new, dry_run)
    ]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog=f"python -m {__package__}.rename", description=__doc__.splitlines()[0]
    )
    parser.add_argument("name", help="the new package name, e.g. petvision")
    parser.add_argument("--root", type=Path, default=Path(__file__).resolve().parents[2], help="the project")
    parser.add_argument("--logs", type=Path, nargs="?", const=Path("logs"), default=None,
                        help="also rewrite the runs under this folder (default logs/)")  # fmt: skip
    parser.add_argument("--dry-run", action="store_true", help="list the changes, change nothing")
    args = parser.parse_args(argv)
    logs = (args.root / args.logs) if args.logs is not None and not args.logs.is_absolute() else args.logs
    changes = rename(args.root.resolve(), args.name, logs, args.dry_run)
    verb = "would change" if args.dry_run else "changed"
    print(f"rename: {verb} {len(changes)} paths" + "".join(f"\n  {c}" for c in changes[:200]))
    if changes and not args.dry_run and any(c.startswith("src/") for c in changes):
        print(
            "Now reinstall, so that Python finds the package under its new name:\n"
            f'  {sys.executable} -m pip install -e "{args.root}[dev]"'
        )
    elif not changes:
        print(f"rename: nothing to do; the package is {args.name} already.")


if __name__ == "__main__":
    main()
