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
