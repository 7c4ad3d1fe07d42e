"""The layers import downward only: config/ is a leaf, the CLI is the top.

    tasks.py -> cli -> stages (orchestration) / runbooks -> session -> resources -> engine -> config
"""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent.parent / "fablink_ops"


def _imports(path: Path) -> set[str]:
    """The fablink_ops modules ``path`` imports (resolved from relative imports)."""
    module = ".".join(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    package = module.rsplit(".", 1)[0] if path.name != "__init__.py" else module.removesuffix(".__init__")
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                name = ".".join(base + ([node.module] if node.module else []))
            else:
                name = node.module or ""
            found |= {name} | {f"{name}.{a.name}" for a in node.names}
        elif isinstance(node, ast.Import):
            found |= {a.name for a in node.names}
    return {n for n in found if n.startswith("fablink_ops")}


def test_config_imports_nothing_of_the_other_packages():
    for path in (PACKAGE / "config").rglob("*.py"):
        bad = {n for n in _imports(path) if n.startswith(("fablink_ops.resources", "fablink_ops.runbooks", "fablink_ops.cli"))}
        assert not bad, f"{path.name} imports {sorted(bad)}"


def test_only_the_invoke_layer_imports_the_cli():
    for path in PACKAGE.rglob("*.py"):
        if path.name == "cli.py":
            continue
        bad = {n for n in _imports(path) if n == "fablink_ops.cli" or n.startswith("fablink_ops.cli.")}
        assert not bad, f"{path.relative_to(PACKAGE)} imports the CLI"


def test_the_stage_names_come_from_one_registry():
    import tasks
    from fablink_ops.resources import STAGE_NAMES, STAGES
    from fablink_ops.stages import select_stages

    assert STAGE_NAMES == ("network", "eks", "aurora", "dynamodb", "edge", "monitoring", "events", "backup", "workload")
    assert select_stages(None) == list(STAGE_NAMES)
    assert ", ".join(STAGE_NAMES) in tasks.HELP["stage"]
    for stage in STAGES:  # every required stage is built earlier
        assert all(STAGE_NAMES.index(r) < STAGE_NAMES.index(stage.name) for r in stage.requires)
