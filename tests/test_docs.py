"""Every `python train.py` / `python eval.py` command in the docs' bash blocks composes as written."""

import re
import shlex

import pytest
from hydra.core.override_parser.overrides_parser import OverridesParser

from lightning_hydra_template.config.project import PROJECT_ROOT

BASH_BLOCK = re.compile(r"```bash\n(.*?)```", re.DOTALL)
SCRIPTS = {"train.py": "train", "eval.py": "eval"}


def documented_commands() -> list[tuple[str, list[str]]]:
    """(page, argv after `python`) for each command line of each docs page's bash blocks."""
    found = []
    for page in sorted((PROJECT_ROOT / "docs").glob("*.md")):
        for block in BASH_BLOCK.findall(page.read_text()):
            for line in block.replace("\\\n", " ").splitlines():
                words = shlex.split(line.split("#")[0])
                if words[:1] == ["python"] and words[1:2] and words[1] in SCRIPTS:
                    found.append((page.name, words[1:]))
    return found


def single_run(overrides: list[str]) -> list[str]:
    """A multirun's overrides as its first job gets them: the first value of each sweep."""
    parsed = OverridesParser.create().parse_overrides(overrides)
    return [
        f"{o.get_key_element()}={next(iter(o.sweep_string_iterator()))}"
        if o.is_sweep_override()
        else o.input_line
        for o in parsed
    ]


@pytest.mark.parametrize(
    ("page", "argv"), documented_commands(), ids=lambda v: " ".join(v) if isinstance(v, list) else v
)
def test_a_documented_command_composes(compose_config, page, argv):
    script, *overrides = argv
    overrides = [o for o in overrides if o != "-m"]
    cfg = compose_config(single_run(overrides), config_name=SCRIPTS[script])
    assert cfg.task_name == SCRIPTS[script]


def test_the_docs_show_commands():
    assert {page for page, _ in documented_commands()} >= {"reproducibility.md", "sweeps.md"}
