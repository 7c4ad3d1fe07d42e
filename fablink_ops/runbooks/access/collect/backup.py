"""AWS Backup: every plan's selections, as the resource patterns they cover.

moto 5.2 has backup plans but no selections (DESIGN.md, Known moto 5.2
gaps): the sandbox review says so (a Gap) and the coverage check is not
evaluated there; live, ListBackupPlans, then per plan ListBackupSelections and
GetBackupSelection.
"""

from __future__ import annotations

from ....engine import Context
from ..models import BackupSelection, Gap
from .common import Piece

PERMISSIONS = ("backup:ListBackupPlans", "backup:ListBackupSelections", "backup:GetBackupSelection")


def collect(ctx: Context, region: str) -> Piece:
    if not ctx.target.is_live:
        return {"gaps": [Gap(f"backup@{region}", "moto 5.2 lacks AWS Backup selections; a live review reads them")]}
    backup = ctx.target.client("backup", region)
    out: list[BackupSelection] = []
    for plan in backup.paginate("list_backup_plans", "BackupPlansList"):
        for listed in backup.paginate("list_backup_selections", "BackupSelectionsList", BackupPlanId=plan["BackupPlanId"]):
            sel = backup.get_backup_selection(BackupPlanId=plan["BackupPlanId"], SelectionId=listed["SelectionId"])["BackupSelection"]
            conditions = sel.get("Conditions") or {}
            by_tag = bool(sel.get("ListOfTags")) or any(conditions.get(k) for k in conditions)
            out.append(BackupSelection(plan.get("BackupPlanName", plan["BackupPlanId"]), sel.get("SelectionName", ""), region,
                                       tuple(sel.get("Resources") or ()), tuple(sel.get("NotResources") or ()), by_tag))
    return {"backup_selections": out, "backup_regions": [region]}
