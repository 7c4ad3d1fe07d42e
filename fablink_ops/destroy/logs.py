"""CloudWatch log groups of this environment (flow logs, EKS control plane,
Aurora, API Gateway). DescribeLogGroups carries no tags, so each group's own
ListTagsForResource decides; the group's Stage tag assigns it to a stage.
Deleting a group deletes its metric filters and retained events."""

from __future__ import annotations

from ..engine import Context
from .common import Doomed, gone, owned

NOT_FOUND = ("ResourceNotFoundException",)


def _groups(ctx: Context) -> list[tuple[dict, dict[str, str]]]:
    logs = ctx.client("logs")

    def read() -> list[tuple[dict, dict[str, str]]]:
        out = []
        for g in logs.paginate("describe_log_groups", "logGroups"):
            arn = g["arn"].removesuffix(":*")
            out.append((g, logs.list_tags_for_resource(resourceArn=arn).get("tags", {})))
        return out

    return ctx.read_once("destroy:log-groups", read)


def log_groups(ctx: Context, stage: str, step: int) -> list[Doomed]:
    logs = ctx.client("logs")
    out = []
    for g, tags in _groups(ctx):
        if owned(ctx, tags) and tags.get("Stage") == stage:
            name = g["logGroupName"]
            out.append(Doomed(stage, "log-group", name, name, step,
                              lambda name=name: gone(lambda: logs.delete_log_group(logGroupName=name), *NOT_FOUND)))
    return out
