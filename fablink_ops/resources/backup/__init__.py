"""The backup stage: an AWS Backup vault and plan beyond the services' own
PITR ([backup.plan]). Design doc: Operational readiness ("backup strategy").

    vault.py   the vault's customer managed key, the role AWS Backup takes
               (confused-deputy condition), the vault, its lock
    plans.py   the daily plan (optional copy) and its selection: the Aurora
               cluster and the six tables

Nothing has to exist first: the selection names the cluster and tables by
ARN. Discovery: the key (kms_key.py), the role (shared IAM read), one
ListBackupVaults, one ListBackupPlans (+ GetBackupPlan for ours); live, one
ListBackupSelections (+ GetBackupSelection for ours).
"""

from __future__ import annotations

from ...engine import Change, Context
from .. import kms_key, shared
from . import plans as _plan
from . import vault as _vault
from .common import NAME, SELECTION, Found, Names

__all__ = ["NAME", "plan"]


def discover(ctx: Context, names: Names) -> Found:
    found = Found()
    found.key = kms_key.discover(ctx, _vault.key_spec(ctx, names), ctx.cfg.project.region)
    found.role = shared.roles(ctx).get(names.role)
    backup = ctx.client("backup")
    found.vault = next((v for v in backup.paginate("list_backup_vaults", "BackupVaultList") if v["BackupVaultName"] == names.vault), None)
    listed = next((p for p in backup.paginate("list_backup_plans", "BackupPlansList") if p.get("BackupPlanName") == names.plan), None)
    if listed is not None:
        found.plan = backup.get_backup_plan(BackupPlanId=listed["BackupPlanId"])
        if ctx.target.mode != "sandbox":  # moto 5.2 has no selections
            ours = [s for s in backup.paginate("list_backup_selections", "BackupSelectionsList", BackupPlanId=listed["BackupPlanId"])
                    if s.get("SelectionName") == SELECTION]
            if ours:
                found.selection_id = ours[0]["SelectionId"]
                found.selection = backup.get_backup_selection(BackupPlanId=listed["BackupPlanId"], SelectionId=found.selection_id)["BackupSelection"]
    return found


def plan(ctx: Context) -> list[Change]:
    names = Names(ctx.cfg)
    found = discover(ctx, names)
    return [
        kms_key.change(ctx, _vault.key_spec(ctx, names), found.key),
        _vault.role(ctx, names, found),
        _vault.vault(ctx, names, found),
        _vault.vault_lock(ctx, names, found),
        _plan.plan(ctx, names, found),
        _plan.selection(ctx, names, found),
    ]
