"""Helpers to provision in-process (on moto's mock_aws) the way the CLI does."""

from __future__ import annotations

from fablink_ops.cli import plan_stages
from fablink_ops.engine import Change, Context, apply

from .conftest import make_ctx


def provision(cfg, stages=("network",), hooks=(), **ctx_kwargs) -> tuple[Context, list[Change]]:
    """Plan then apply, exactly as `invoke provision` does. Returns (ctx, the plan)."""
    ctx = make_ctx(cfg, hooks, **ctx_kwargs)
    changes = plan_stages(ctx, list(stages))
    apply(changes, ctx, cfg.engine.concurrency)
    return ctx, changes


def plan(cfg, stages=("network",), hooks=()) -> tuple[Context, list[Change]]:
    ctx = make_ctx(cfg, hooks)
    return ctx, plan_stages(ctx, list(stages))


def pending(changes: list[Change]) -> list[Change]:
    return [c for c in changes if c.action != "no change"]


def assert_config_error(path, key: str, phrase: str) -> str:
    """Loading ``path`` fails with one line naming the file and ``key``, containing ``phrase``."""
    import pytest

    from fablink_ops.config import load_config
    from fablink_ops.errors import ConfigError

    with pytest.raises(ConfigError) as err:
        load_config(path)
    message = str(err.value)
    assert "\n" not in message
    assert message.startswith(f"{path}: {key}: "), message
    assert phrase in message, message
    return message
