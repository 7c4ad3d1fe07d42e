"""Log retention: every log group of the project is kept for [logging]
retention_days (design doc: Logging, "Retention: 90 days").

Stages create their own groups with that retention. Others are created by AWS
on the project's behalf with no expiry: the EKS control plane's, Container
Insights', Aurora's exported PostgreSQL log. The account's log groups come
from one read the stages share (shared.py); those whose name belongs to this
environment (the prefix, the cluster, the Aurora cluster) get the retention.

The Aurora PostgreSQL log group is also created here when it does not exist
yet (RDS writes into an existing group), so the connection-failure metric
filter can be in place before the first export.
"""

from __future__ import annotations

from ...engine import UPDATE, Change, Context, Diff
from .. import kit, logs_key, shared
from .common import NAME, Found, MonitoringNames, change


def discover(ctx: Context, names: MonitoringNames, found: Found) -> None:
    marks = _marks(ctx)
    found.log_groups = {n: g for n, g in shared.log_groups(ctx).items() if any(m in n for m in marks)}


def _marks(ctx: Context) -> tuple[str, ...]:
    cfg = ctx.cfg
    return (cfg.project.prefix, cfg.project.cluster_name, cfg.monitoring.aurora_cluster)


def plan(ctx: Context, names: MonitoringNames, found: Found) -> list[Change]:
    logs = ctx.client("logs")
    retention = ctx.cfg.logging.retention_days
    aurora = names.aurora_log_group
    # The aurora stage owns this group (and its tags) when both are planned.
    # The logs key (network owns it; planned here too when monitoring is planned alone).
    changes = [logs_key.change(ctx), kit.log_group_change(ctx, NAME, aurora, found.log_groups.get(aurora), own_tags=False)]
    for name, group in sorted(found.log_groups.items()):
        if name == aurora or group.get("retentionInDays") == retention:
            continue
        changes.append(change(
            "log-retention", name, UPDATE, diffs=[Diff("retention days", group.get("retentionInDays"), retention)], resource_id=name,
            run=kit.sequence(lambda n=name: logs.put_retention_policy(logGroupName=n, retentionInDays=retention)),
        ))
    return changes
