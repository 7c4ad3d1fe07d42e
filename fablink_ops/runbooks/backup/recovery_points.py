"""backup.verify's check of the AWS Backup plan ([backup.plan], the backup
stage): the latest recovery point of each resource exists, completed, lies
in the plan's vault, and is recent. One paginated
ListRecoveryPointsByResource per resource.

moto 5.2 has no recovery points (nor the selections that would make them;
DESIGN.md, Known moto 5.2 gaps): in the sandbox the check is skipped and says
so; the live path is tested with botocore's Stubber.
https://docs.aws.amazon.com/aws-backup/latest/devguide/API_ListRecoveryPointsByResource.html
"""

from __future__ import annotations

from datetime import datetime, timezone

from ...config import Config
from ...engine import Context
from ...report import iso
from .checks import Check

NAME = "AWS Backup recovery point"
PERMISSIONS = ("backup:ListRecoveryPointsByResource",)
SANDBOX = "sandbox: moto 5.2 has no AWS Backup recovery points (nor selections); checked live only"


def latest(ctx: Context, resource_arn: str) -> dict | None:
    """The newest COMPLETED recovery point of a resource, in any vault."""
    points = ctx.client("backup").paginate("list_recovery_points_by_resource", "RecoveryPoints", ResourceArn=resource_arn)
    done = [p for p in points if p.get("Status") == "COMPLETED" and p.get("CreationDate")]
    return max(done, key=lambda p: p["CreationDate"]) if done else None


def check(ctx: Context, label: str, resource_arn: str, now: datetime) -> Check:
    if not ctx.target.is_live:
        return Check(label, NAME, True, SANDBOX, skipped=True)
    return judge(ctx.cfg, label, latest(ctx, resource_arn), now)


def judge(cfg: Config, label: str, point: dict | None, now: datetime) -> Check:
    plan = cfg.backup.plan
    budget = plan.max_recovery_point_age_hours
    if point is None:
        return Check(label, NAME, False, f"no completed recovery point: is it in the plan {plan.plan_name}'s selection? (invoke provision --stage backup)")
    made = point["CreationDate"].astimezone(timezone.utc)
    hours = max(0.0, (now - made).total_seconds() / 3600)
    vault = point.get("BackupVaultName", "")
    where = f"in {vault}" + ("" if vault == plan.vault_name else f", not the plan's vault {plan.vault_name}")
    ok = hours <= budget and vault == plan.vault_name
    return Check(label, NAME, ok, f"{iso(made)}, {hours:.1f} h ago (at most {budget:g} h{'' if hours <= budget else ', exceeded'}), {where}")
