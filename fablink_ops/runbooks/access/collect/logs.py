"""CloudWatch Logs: every log group with its retention."""

from __future__ import annotations

from ....engine import Context
from ..models import LogGroup
from .common import Piece

PERMISSIONS = ("logs:DescribeLogGroups",)


def collect(ctx: Context, region: str) -> Piece:
    logs = ctx.target.client("logs", region)
    return {
        "log_groups": [
            LogGroup(g["logGroupName"], g.get("logGroupArn") or g.get("arn", "").removesuffix(":*"), region, g.get("retentionInDays"))
            for g in logs.paginate("describe_log_groups", "logGroups")
        ]
    }
