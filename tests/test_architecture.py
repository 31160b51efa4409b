"""The layers run one way (docs/architecture.md): a module imports only from its own layer or below.

Read from the source with `ast`, so the picture in the docs and the code cannot drift apart.
"""

import ast
from pathlib import Path

import lightning_hydra_template

PACKAGE = Path(lightning_hydra_template.__file__).parent
NAME = PACKAGE.name

# Top to bottom, as docs/architecture.md draws them. Same rank: may import each other.
LAYERS = {
    "tasks": 6,
    "run": 5,
    "config": 4,
    "checkpoints": 3,
    "sweeps": 3,
    "inference": 3,
    "data": 2,
    "models": 2,
    "optim": 2,
    "callbacks": 2,
    "loss": 2,
    # small shared utilities anyone may import
    "errors": 1,
    "atomic_files": 1,
    "console": 1,
    "run_status": 1,
}
DOMAIN = ("data", "models", "optim", "callbacks", "loss")


def part_of(module: str) -> str | None:
    """The top-level part (`run`, `data`, `errors`, ...) of a dotted module inside the package."""
    parts = module.split(".")
    return parts[1] if parts[0] == NAME and len(parts) > 1 else None


def imports(path: Path) -> set[str]:
    """The package modules `path` imports, absolute, top-level and inside functions alike."""
    here = [NAME, *path.relative_to(PACKAGE).with_suffix("").parts][:-1]  # the file's package
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = here[: len(here) - node.level + 1]
                found.add(".".join([*base, *([node.module] if node.module else [])]))
            elif node.module:
                found.add(node.module)
        elif isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
    return {m for m in found if m.split(".")[0] == NAME}


def upward_imports() -> list[str]:
    wrong = []
    for path in sorted(PACKAGE.rglob("*.py")):
        source = part_of(".".join([NAME, *path.relative_to(PACKAGE).with_suffix("").parts]))
        if source not in LAYERS:
            continue
        for module in imports(path):
            target = part_of(module)
            if target in LAYERS and LAYERS[target] > LAYERS[source]:
                wrong.append(f"{path.relative_to(PACKAGE)} imports {module}")
    return wrong


def test_every_part_of_the_package_has_a_layer():
    parts = {p.stem if p.is_file() else p.name for p in PACKAGE.iterdir() if not p.name.startswith("_")}
    parts -= {"configs", "rename", "__pycache__"}  # the shipped configs; the renaming tool
    assert parts <= set(LAYERS), f"add {sorted(parts - set(LAYERS))} to LAYERS and docs/architecture.md"


def test_no_module_imports_from_a_layer_above_its_own():
    assert upward_imports() == []


def test_the_domain_imports_no_task_run_config_or_sweep_code():
    for part in DOMAIN:
        for path in (PACKAGE / part).rglob("*.py"):
            assert {part_of(m) for m in imports(path)} <= {*DOMAIN, "errors", "atomic_files", "run_status"}, (
                path
            )


def test_the_architecture_page_names_every_layer():
    page = (PACKAGE.parents[1] / "docs" / "architecture.md").read_text()
    for part in LAYERS:
        assert f"{part}" in page, part
