"""Docs that cannot go stale: every command in the README, docs/ and benchmarks/README.md is checked,
and every relative link leads to a file (and heading) that exists.

A command is a line of a ```bash block, or an inline `code span` that starts with a program
(`python ...`, `pip ...`). Each kind is checked as cheaply as the truth allows:
- train.py, eval.py, predict.py, ... (and `python -m <package>.tasks.<task>`, torchrun, srun): the
  config composes with the same overrides, as `--cfg job` would print it (in-process, Hydra's
  compose API; a multirun composes every job of its sweep);
- images-to-csv, tools/rename.py: run for real, on generated images and a copy of the project;
- the benchmark scripts: their argument parser accepts the arguments (nothing is measured);
- installing, testing, linting: the same commands CI runs, extras that exist, markers that exist;
- tensorboard, jupyter and curl: the program is installed (and the notebook exists); the URL and form
  field are those serve.py answers.
A command of any other kind fails here until a check for it is added. The import lines of
```python blocks run, so a moved module is caught.
"""

import argparse
import itertools
import os
import re
import runpy
import shlex
import shutil
import subprocess
import sys
import tomllib
from collections.abc import Iterator
from dataclasses import dataclass
from importlib import import_module
from importlib.metadata import distribution
from pathlib import Path

import pytest
import yaml
from hydra import compose, initialize_config_dir
from hydra.core.global_hydra import GlobalHydra
from hydra.core.override_parser.overrides_parser import OverridesParser
from omegaconf import OmegaConf

import lightning_hydra_template
from lightning_hydra_template.config.project import CONFIG_DIR, PROJECT_ROOT
from lightning_hydra_template.inference.serving_api import FORM_FIELDS

from .helpers import class_folders

PACKAGE = lightning_hydra_template.__name__
PAGES = [
    PROJECT_ROOT / "README.md",
    *sorted((PROJECT_ROOT / "docs").glob("*.md")),
    PROJECT_ROOT / "benchmarks" / "README.md",
]
# The root scripts and the task modules behind them, each with the config it composes.
ENTRY_SCRIPTS = {"train.py": "train", "eval.py": "eval", "predict.py": "predict", "export.py": "export",
                 "explain.py": "explain", "serve.py": "serve"}  # fmt: skip
TASK_MODULES = {f"{PACKAGE}.tasks.{task}": config for task, config in
                [("train", "train"), ("evaluate", "eval"), ("predict", "predict"), ("export", "export"),
                 ("explain", "explain"), ("serve", "serve")]}  # fmt: skip
HYDRA_FLAGS = {"-m": 0, "--multirun": 0, "--help": 0, "--cfg": 1, "--resolve": 0}  # flag: values it takes
PYTHONS = {"python", "python3", ".venv/bin/python"}
PROGRAMS = PYTHONS | {"pip", ".venv/bin/pip", "torchrun", "srun", "source", "tensorboard", "images-to-csv",
                      "curl", ".venv/bin/pre-commit", "pre-commit", "cat", "git", "jupyter",
                      "optuna-dashboard", "scripts/slurm_cluster.sh", "apt-get", "export"}  # fmt: skip
ASSIGNMENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*=")
VARIABLE = re.compile(r"\$\{?([A-Za-z_][A-Za-z0-9_]*)\}?")
FENCE = re.compile(r"^\s*```(\w*)")
INLINE_CODE = re.compile(r"`([^`\n]+)`")
PLACEHOLDER = re.compile(r"<(\w+)>")
LINK = re.compile(r"!?\[[^\]\n]*\]\(([^)\s]+)\)")


@dataclass(frozen=True)
class Command:
    """One command as a page shows it: where, its words (the shell's, variables expanded), its env."""

    page: Path
    line: int
    words: tuple[str, ...]
    env: tuple[tuple[str, str], ...] = ()

    def __str__(self) -> str:
        shown = self.page.relative_to(PROJECT_ROOT) if self.page.is_relative_to(PROJECT_ROOT) else self.page
        return f"{shown}:{self.line}"


def prose_and_blocks(page: Path) -> Iterator[tuple[int, str, str | None]]:
    """`(line number, line, language of the fenced block it is in, or None for prose)`."""
    language = None
    for number, line in enumerate(page.read_text(encoding="utf-8").splitlines(), start=1):
        fence = FENCE.match(line)
        if fence:
            language = None if language is not None else fence.group(1)
            continue
        yield number, line, language


def shell_lines(page: Path) -> Iterator[tuple[int, str]]:
    """The logical lines of the page's bash blocks (`\\` continuations joined), and its inline commands."""
    pending, start = "", 0
    for number, line, language in prose_and_blocks(page):
        if language == "bash":
            start = start or number
            if line.rstrip().endswith("\\"):
                pending += line.rstrip()[:-1] + " "
                continue
            yield start, pending + line
            pending, start = "", 0
        elif language is None:
            for span in INLINE_CODE.findall(line):
                words = span.split()
                first = next((w for w in words if not ASSIGNMENT.match(w)), "")
                if first in PROGRAMS and len(words) > 1:  # a program's name alone is prose, not a command
                    yield number, span


def commands_in(page: Path) -> list[Command]:
    commands, variables = [], {}
    for number, line in shell_lines(page):
        words = [VARIABLE.sub(lambda m: variables.get(m.group(1), m.group(0)), w)
                 for w in shlex.split(line, comments=True)]  # fmt: skip
        while words:
            cut = words.index("&&") if "&&" in words else len(words)
            one, words = words[:cut], words[cut + 1 :]
            program = next((i for i, w in enumerate(one) if not ASSIGNMENT.match(w)), len(one))
            env = tuple(tuple(w.split("=", 1)) for w in one[:program])  # DATA_DIR=... python ...
            if program == len(one):  # only assignments: shell variables for the lines below
                variables.update(env)
                continue
            commands.append(Command(page, number, tuple(one[program:]), env))
    return commands


COMMANDS = [command for page in PAGES for command in commands_in(page)]


# The checks, one per kind of command.


@pytest.fixture(scope="module")
def hydra_configs() -> Iterator[None]:
    GlobalHydra.instance().clear()
    with initialize_config_dir(str(CONFIG_DIR), version_base="1.3"):
        yield
    GlobalHydra.instance().clear()


def hydra_jobs(arguments: list[str]) -> list[list[str]]:
    """The overrides of each job the command runs: one, or every job of a multirun's sweep."""
    overrides, multirun, i = [], False, 0
    while i < len(arguments):
        word = arguments[i]
        if word.startswith("-"):
            assert word in HYDRA_FLAGS, f"{word}: not a Hydra flag this test knows"
            multirun |= word in ("-m", "--multirun")
            i += 1 + HYDRA_FLAGS[word]
            continue
        overrides.append(word)
        i += 1
    if not multirun:
        return [overrides]
    # What Hydra's basic sweeper runs: every combination of the comma-separated values (its
    # split_arguments is in hydra._internal, so the same few lines on Override's public methods).
    choices = [
        [f"{o.get_key_element()}={v}" for v in o.sweep_string_iterator()]
        if o.is_sweep_override()
        else [f"{o.get_key_element()}={o.get_value_element_as_str()}"]
        for o in OverridesParser.create().parse_overrides(overrides)
    ]
    return [list(job) for job in itertools.product(*choices)]


def check_hydra_entry(config_name: str, arguments: list[str]) -> None:
    # `<run>` stands for a folder name: Hydra's grammar (like the shell) reads no `<` in a value.
    arguments = [PLACEHOLDER.sub(r"\1", a) for a in arguments]
    for job in hydra_jobs(arguments):
        cfg = compose(config_name, overrides=job, return_hydra_config=True)
        assert cfg.task_name, cfg  # composed: every group, key and value of the command exists


def check_pip(words: list[str]) -> None:
    """`pip install` of the project with extras that exist (and a constraints file that exists), or
    a command CI runs; `pip freeze` runs for real."""
    if words[1] == "freeze":
        pipeline = words[: words.index("|")] if "|" in words else words
        result = subprocess.run([sys.executable, "-m", "pip", *pipeline[1:]], capture_output=True, text=True)
        assert result.returncode == 0 and result.stdout, result.stderr
        return
    assert words[1] == "install", words
    arguments = [w for w in words[2:] if w != "-e"]
    if "-c" in arguments:
        constraints = arguments.pop(arguments.index("-c") + 1)
        arguments.remove("-c")
        assert (PROJECT_ROOT / constraints).is_file(), f"{constraints}: no such file"
    extras = tomllib.loads((PROJECT_ROOT / "pyproject.toml").read_text())["project"]["optional-dependencies"]
    if len(arguments) == 1 and arguments[0].startswith("."):
        assert re.fullmatch(r"\.(\[[\w,-]+\])?", arguments[0]), arguments
        named = set(re.findall(r"[\w-]+", arguments[0]))
        assert named <= set(extras), f"{named - set(extras)}: extras pyproject.toml lacks"
    else:  # pre-commit: a tool of the user's choice, for the hooks checked below
        assert ran_by_ci(words) or arguments == ["pre-commit"], f"{words}: not the project, not what CI runs"


def check_run_files(arguments: list[str]) -> None:
    """`cat`, `git apply` of a file a run writes (`provenance-0.patch`: written as `provenance-{n}.patch`)."""
    sources = "\n".join(p.read_text() for p in (PROJECT_ROOT / "src").rglob("*.py"))
    for argument in arguments:
        if argument.startswith("logs/"):
            stem, _, suffix = Path(argument).name.partition(".")
            written = re.escape(stem.rstrip("0123456789")) + r"(\{[^}]+\})?" + re.escape(f".{suffix}")
            assert re.search(written, sources), f"no module writes {Path(argument).name}"


def check_optuna_dashboard(arguments: list[str]) -> None:
    """Installed, and pointed at a study the configs name, where the sweeper stores it by default."""
    assert "optuna-dashboard" in distribution("optuna-dashboard").entry_points.names
    (storage,) = arguments
    study = re.fullmatch(r"sqlite:///logs/optuna/(\w+)\.db", storage).group(1)
    searches = [OmegaConf.load(p) for p in (CONFIG_DIR / "hparams_search").glob("*.yaml")]
    assert study in {OmegaConf.select(s, "hydra.sweeper.study_name") for s in searches}, study


def ran_by_ci(words: list[str]) -> bool:
    """The command (`.venv/bin/` aside) is a line of .ci/run or a step of the GitHub workflow."""

    def plain(command: str) -> str:
        return " ".join(w.removeprefix(".venv/bin/") for w in shlex.split(command, comments=True))

    workflow = yaml.safe_load((PROJECT_ROOT / ".github" / "workflows" / "ci.yml").read_text())
    steps = [step["run"] for job in workflow["jobs"].values() for step in job["steps"] if "run" in step]
    ci_lines = [
        *(PROJECT_ROOT / ".ci" / "run").read_text().splitlines(),
        *(s for step in steps for s in step.split("&&")),
    ]
    command = plain(shlex.join(words))  # CI may add options after it (a constraints file)
    return any(f"{plain(line)} ".startswith(f"{command} ") for line in ci_lines)


def check_pytest(arguments: list[str]) -> None:
    """Markers it selects are registered (`--strict-markers` would refuse others); CI runs the rest."""
    config = tomllib.loads((PROJECT_ROOT / "pyproject.toml").read_text())["tool"]["pytest"]["ini_options"]
    markers = {m.split(":")[0] for m in config["markers"]}
    if "-m" in arguments:
        selected = set(re.findall(r"\w+", arguments[arguments.index("-m") + 1])) - {"not", "and", "or"}
        assert selected <= markers, f"{selected - markers}: markers pyproject.toml does not register"
    else:
        assert ran_by_ci([".venv/bin/python", "-m", "pytest", *arguments]), arguments


def check_images_to_csv(arguments: list[str], tmp_path: Path) -> None:
    """Run for real on generated class folders, the page's paths (/data/pets/...) under tmp_path."""
    image_dir, csv_path = (tmp_path / a.lstrip("/") for a in arguments)
    class_folders(image_dir)
    scripts = tomllib.loads((PROJECT_ROOT / "pyproject.toml").read_text())["project"]["scripts"]
    module, function = scripts["images-to-csv"].split(":")
    getattr(import_module(module), function)([str(image_dir), str(csv_path)])
    assert csv_path.read_text().startswith("file,label\n")


def check_rename(arguments: list[str], tmp_path: Path) -> None:
    """Run for real, as the page writes it, in a copy of the project (its runs and data left out)."""
    copy = tmp_path / "project"
    left_out = shutil.ignore_patterns(".venv", ".git", "logs", "data", "__pycache__", ".*_cache", ".cache")
    shutil.copytree(PROJECT_ROOT, copy, ignore=left_out)
    result = subprocess.run(
        [sys.executable, "tools/rename.py", *arguments], cwd=copy, capture_output=True, text=True
    )
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    assert result.stdout.startswith("rename: ")


class ArgumentsParsed(Exception):
    """Raised by the benchmark script's parser once it has accepted the arguments: nothing runs."""


def check_script_arguments(script: Path, arguments: list[str], monkeypatch) -> None:
    parse_args = argparse.ArgumentParser.parse_args

    def parse_then_stop(parser, args=None, namespace=None):
        parse_args(parser, args, namespace)  # exits 2 with argparse's message on a wrong argument
        raise ArgumentsParsed

    monkeypatch.setattr(argparse.ArgumentParser, "parse_args", parse_then_stop)
    monkeypatch.setattr(sys, "argv", [str(script), *arguments])
    monkeypatch.syspath_prepend(str(script.parent))  # as `python <script>` does: its neighbours import
    with pytest.raises(ArgumentsParsed):
        runpy.run_path(str(script), run_name="__main__")


def check_curl(arguments: list[str]) -> None:
    """POST to serve.py's default address; a multipart field serve.py reads, or the raw body."""
    serve = OmegaConf.load(CONFIG_DIR / "serve.yaml")
    assert f"http://{serve.host}:{serve.port}/predict" in arguments, arguments
    if "-F" in arguments:
        assert arguments[arguments.index("-F") + 1].split("=@")[0] in FORM_FIELDS
    else:
        assert arguments[arguments.index("--data-binary") + 1].startswith("@")


def check_python(words: list[str], tmp_path: Path, monkeypatch) -> None:
    if words[1] == "-m":
        module, arguments = words[2], words[3:]
        if module in TASK_MODULES:
            return check_hydra_entry(TASK_MODULES[module], arguments)
        if module == "pytest":
            return check_pytest(arguments)
        if module == "venv":
            return None if ran_by_ci(words) else pytest.fail(f"{words}: not the environment CI creates")
        if module == f"{PACKAGE}.data.folder_to_csv":
            return check_images_to_csv(arguments, tmp_path)
        pytest.fail(f"python -m {module}: no check for this module")
    script, arguments = words[1], words[2:]
    if script in ENTRY_SCRIPTS:
        return check_hydra_entry(ENTRY_SCRIPTS[script], arguments)
    if script == "tools/rename.py":
        return check_rename(arguments, tmp_path)
    if script.startswith("benchmarks/"):
        return check_script_arguments(PROJECT_ROOT / script, arguments, monkeypatch)
    pytest.fail(f"python {script}: no check for this script")


def check(command: Command, tmp_path: Path, monkeypatch) -> None:
    """The check for the command's kind; a kind without one fails."""
    words = list(command.words)
    while words[0] == "srun":
        words = words[1:]
    program = words[0]
    if program in PYTHONS:
        check_python(words, tmp_path, monkeypatch)
    elif program == "torchrun":  # its own options, then the script and its arguments
        script = next(i for i, w in enumerate(words) if w.endswith(".py"))
        check_python(["python", *words[script:]], tmp_path, monkeypatch)
    elif program in ("pip", ".venv/bin/pip"):
        check_pip(words)
    elif program in ("pre-commit", ".venv/bin/pre-commit"):
        hooks = yaml.safe_load((PROJECT_ROOT / ".pre-commit-config.yaml").read_text())["repos"][0]["hooks"]
        assert words[1:] == ["install"] and {h["entry"].split()[0] for h in hooks} == {".venv/bin/ruff"}
    elif program == "source":
        assert words[1:] == [".venv/bin/activate"]  # the environment the install command creates
    elif program == "images-to-csv":
        check_images_to_csv(words[1:], tmp_path)
    elif program == "tensorboard":
        scripts = distribution("tensorboard").entry_points.select(group="console_scripts")
        assert "tensorboard" in scripts.names  # installed with the project's dependencies
    elif program == "jupyter":  # tests/test_notebooks.py runs the notebook in a kernel
        scripts = distribution("jupyterlab").entry_points.select(group="console_scripts")
        assert words[1] == "lab" and "jupyter-lab" in scripts.names and (PROJECT_ROOT / words[2]).is_file()
    elif program == "curl":
        check_curl(words[1:])
    elif program == "cat":
        check_run_files(words[1:])
    elif program == "git" and words[1] == "diff":  # what provenance.py runs for the patch
        source = (PROJECT_ROOT / "src" / PACKAGE / "run" / "provenance.py").read_text()
        assert all(f'"{w}"' in source for w in words[1:]), words
    elif program == "git":
        assert words[1] in ("checkout", "apply"), words  # a commit and a patch that provenance.json names
        check_run_files(words[2:])
    elif program == "optuna-dashboard":
        check_optuna_dashboard(words[1:])
    elif program == "scripts/slurm_cluster.sh":  # run for real by the `slurm` fixture (tests/test_slurm.py)
        assert (
            os.access(PROJECT_ROOT / program, os.X_OK) and words[1] in ("start", "stop") and len(words) == 3
        )
    elif program == "apt-get":  # the packages CI installs when it can (.ci/run)
        ci = (PROJECT_ROOT / ".ci" / "run").read_text()
        assert words[1:3] == ["install", "-y"] and all(f" {p}" in ci for p in words[3:]), words
    elif program == "export":  # the file the cluster script writes and prints
        name, _, value = words[1].partition("=")
        assert name == "SLURM_CONF" and value.endswith("/slurm.conf"), words
        assert "SLURM_CONF=$state/slurm.conf" in (PROJECT_ROOT / "scripts" / "slurm_cluster.sh").read_text()
    else:
        pytest.fail(f"{command}: {program}: no check for this program")


@pytest.mark.parametrize("command", COMMANDS, ids=str)
def test_every_command_in_the_docs_composes_or_runs(command, hydra_configs, tmp_path, monkeypatch):
    check(command, tmp_path, monkeypatch)


def test_the_pages_show_the_commands_people_run_first():
    """The extraction itself: were the README's install, test and train commands not found, every
    other test here could pass on an empty list."""
    readme = [
        " ".join(c.words) for c in COMMANDS if c.page.name == "README.md" and c.page.parent == PROJECT_ROOT
    ]
    assert ".venv/bin/pip install -e .[dev]" in readme and ".venv/bin/python -m pytest" in readme
    # CI and the hooks run these very lines: they stay word for word.
    text = (PROJECT_ROOT / "README.md").read_text(encoding="utf-8")
    install = 'python3 -m venv .venv && .venv/bin/pip install -e ".[dev]" && '
    install += ".venv/bin/python train.py experiment=cnn"
    assert f"\n{install}\n" in text
    assert "\n.venv/bin/python -m pytest\n" in text
    assert "python train.py experiment=cnn --cfg job" in readme
    assert len({c.page for c in COMMANDS}) >= 8  # the README, benchmarks and the docs pages on using it


def python_imports() -> list[tuple[Path, int, str]]:
    """The import lines of the pages' ```python blocks."""
    return [(page, number, line.strip()) for page in PAGES
            for number, line, language in prose_and_blocks(page)
            if language == "python" and re.match(r"\s*(from \S+ )?import ", line)]  # fmt: skip


@pytest.mark.parametrize(("page", "line", "statement"), python_imports(), ids=lambda v: str(v).split("/")[-1])
def test_every_import_in_the_docs_python_works(page, line, statement):
    exec(statement, {})  # a moved module fails here, with the page and line in the test's id


# Links.


def slug(heading: str) -> str:
    """GitHub's anchor for a heading: lower case, punctuation dropped, spaces as hyphens."""
    return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")


def anchors(page: Path) -> set[str]:
    """The page's heading anchors; a repeated heading gets `-1`, `-2`, ... as on GitHub."""
    found: set[str] = set()
    for _, line, language in prose_and_blocks(page):
        if language is None and line.startswith("#"):
            base = anchor = slug(line.lstrip("#"))
            while anchor in found:
                anchor = f"{base}-{int(anchor.rsplit('-', 1)[1]) + 1 if anchor != base else 1}"
            found.add(anchor)
    return found


def relative_links(page: Path) -> list[tuple[int, str]]:
    return [(number, target) for number, line, language in prose_and_blocks(page) if language is None
            for target in LINK.findall(INLINE_CODE.sub("", line))
            if not re.match(r"^[a-z]+:", target)]  # fmt: skip


def link_problem(page: Path, target: str) -> str | None:
    """What is wrong with a relative link, or None."""
    path, _, anchor = target.partition("#")
    linked = (page.parent / path).resolve() if path else page
    if not linked.exists():
        return f"{target} leads nowhere"
    if page.is_relative_to(PROJECT_ROOT) and not linked.is_relative_to(PROJECT_ROOT):
        return f"{target} leaves the project"
    if anchor and anchor not in anchors(linked):
        return f"no heading #{anchor} in {linked.name}"
    return None


LINKS = [(page, number, target) for page in PAGES for number, target in relative_links(page)]


@pytest.mark.parametrize(
    ("page", "line", "target"), LINKS, ids=lambda v: str(v).replace(str(PROJECT_ROOT), "")
)
def test_every_relative_link_leads_to_a_file_and_heading_that_exist(page, line, target):
    assert link_problem(page, target) is None, f"{page.name}:{line}: {link_problem(page, target)}"


def test_every_docs_page_can_be_reached_from_the_readme():
    reached, queue = set(), [PROJECT_ROOT / "README.md"]
    while queue:
        page = queue.pop()
        reached.add(page)
        for _, target in relative_links(page):
            linked = (page.parent / target.partition("#")[0]).resolve()
            if linked.suffix == ".md" and linked.is_file() and linked not in reached:
                queue.append(linked)
    orphans = [p.name for p in PAGES if p not in reached]
    assert not orphans, f"docs pages no link leads to: {orphans}"


# The checks catch what they are for.


def test_a_sweep_composes_every_job_and_a_key_that_does_not_exist_fails(hydra_configs):
    assert hydra_jobs(["-m", "experiment=mlp", "optimizer.lr=1e-3,3e-3", "seed=1,2"]) == [
        ["experiment=mlp", "optimizer.lr=0.001", "seed=1"],
        ["experiment=mlp", "optimizer.lr=0.001", "seed=2"],
        ["experiment=mlp", "optimizer.lr=0.003", "seed=1"],
        ["experiment=mlp", "optimizer.lr=0.003", "seed=2"],
    ]
    with pytest.raises(Exception, match="optimizer.no_such_key"):
        check_hydra_entry("train", ["-m", "experiment=mlp", "seed=1,2", "optimizer.no_such_key=1"])


def test_a_page_with_a_stale_link_or_an_unknown_program_is_caught(tmp_path):
    # A bash block's every line is a command; prose only where a code span starts with a program.
    page = tmp_path / "page.md"
    page.write_text(
        "# Use it\n\nRun `make everything now` or `python train.py seed=1`; see [below](#use-it-1).\n\n"
        "[gone](gone.md), [no such part](#use-it-2).\n\n"
        "```bash\nX=1\nDATA_DIR=/d python train.py \\\n    seed=$X  # a comment\nmake all\n```\n\n## Use it\n"
    )
    commands = commands_in(page)
    assert [(c.line, c.words, c.env) for c in commands] == [
        (3, ("python", "train.py", "seed=1"), ()),
        (9, ("python", "train.py", "seed=1"), (("DATA_DIR", "/d"),)),
        (11, ("make", "all"), ()),
    ]
    with pytest.raises(pytest.fail.Exception, match="make: no check for this program"):
        check(commands[-1], tmp_path, monkeypatch=None)
    assert anchors(page) == {"use-it", "use-it-1"}
    links = [target for _, target in relative_links(page)]
    assert [link_problem(page, target) for target in links] == [
        None,
        "gone.md leads nowhere",
        "no heading #use-it-2 in page.md",
    ]
    assert (
        slug("Inference: eager PyTorch, torch.export and predict.py")
        == "inference-eager-pytorch-torchexport-and-predictpy"
    )


def test_the_readme_table_of_where_to_change_what_shows_overrides_that_compose(hydra_configs):
    """Its "on the command line" column: each code span with a `=` is overrides of train.py."""
    readme = (PROJECT_ROOT / "README.md").read_text(encoding="utf-8")
    table = readme.split("## Where to change what", 1)[1].split("\n## ", 1)[0]
    rows = [line.split("|")[2] for line in table.splitlines() if line.startswith("| ") and "`" in line]
    assert len(rows) >= 6  # model, data, augmentation, optimizer, logger, hardware, cluster
    for cell in rows:
        for span in INLINE_CODE.findall(cell):
            if "=" in span:
                check_hydra_entry("train", [w for w in shlex.split(span) if w != "..."])
