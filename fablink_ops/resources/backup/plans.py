"""The backup plan (one daily rule, optional copy) and its selection: the
Aurora cluster and the six tables.

moto 5.2 has backup plans but no UpdateBackupPlan and no selections
(DESIGN.md, Known moto 5.2 gaps): in the sandbox the selection is a SKIP that
says so, and both live paths are tested with botocore's Stubber.
https://docs.aws.amazon.com/aws-backup/latest/devguide/API_CreateBackupPlan.html
https://docs.aws.amazon.com/aws-backup/latest/devguide/API_CreateBackupSelection.html
"""

from __future__ import annotations

from typing import Any

from ...engine import CREATE, NOOP, SKIP, UPDATE, Change, Context, Diff
from .. import kit, shared
from .common import PLAN_ID, ROLE_ARN, RULE, SELECTION, Found, Names, change, maybe_update, tags

# The fields of a rule this tool sets; AWS adds others (RuleId, timezone, ...).
RULE_FIELDS = ("RuleName", "TargetBackupVaultName", "ScheduleExpression", "StartWindowMinutes", "CompletionWindowMinutes", "Lifecycle", "CopyActions")


def desired_rule(names: Names) -> dict[str, Any]:
    p = names.plan_cfg
    rule: dict[str, Any] = {
        "RuleName": RULE,
        "TargetBackupVaultName": names.vault,
        "ScheduleExpression": p.schedule,
        "StartWindowMinutes": p.start_window_minutes,
        "CompletionWindowMinutes": p.completion_window_minutes,
        "Lifecycle": {"DeleteAfterDays": p.retention_days},
    }
    if p.copy_to_vault_arn:
        rule["CopyActions"] = [{"DestinationBackupVaultArn": p.copy_to_vault_arn, "Lifecycle": {"DeleteAfterDays": p.copy_retention_days}}]
    return rule


def _comparable(rule: dict[str, Any]) -> dict[str, Any]:
    out = {k: rule[k] for k in RULE_FIELDS if rule.get(k) not in (None, [], {})}
    if "Lifecycle" in out:  # AWS answers with every lifecycle field; ours is DeleteAfterDays only
        out["Lifecycle"] = {"DeleteAfterDays": out["Lifecycle"].get("DeleteAfterDays")}
    if "CopyActions" in out:
        out["CopyActions"] = [{"DestinationBackupVaultArn": c.get("DestinationBackupVaultArn"),
                               "Lifecycle": {"DeleteAfterDays": (c.get("Lifecycle") or {}).get("DeleteAfterDays")}} for c in out["CopyActions"]]
    return out


def plan(ctx: Context, names: Names, found: Found) -> Change:
    backup, name = ctx.client("backup"), names.plan
    body = {"BackupPlanName": name, "Rules": [desired_rule(names)]}
    want_tags = tags(ctx.cfg, name)
    if found.plan is None:

        def create() -> str:
            answer = backup.create_backup_plan(BackupPlan=body, BackupPlanTags=want_tags,
                                               CreatorRequestId=kit.request_token(ctx.cfg.project.account_id, name))
            ctx.set_output(PLAN_ID, answer["BackupPlanId"])
            return answer["BackupPlanArn"]

        rule = desired_rule(names)
        diffs = [Diff("rule", None, f"{rule['ScheduleExpression']}, kept {rule['Lifecycle']['DeleteAfterDays']} days, into {names.vault}"
                      + (f", copied to {names.plan_cfg.copy_to_vault_arn}" if "CopyActions" in rule else ""))]
        return change("backup-plan", name, CREATE, diffs=diffs, needs=(names.k_vault,), run=create)
    plan_id, arn = found.plan["BackupPlanId"], found.plan["BackupPlanArn"]
    ctx.set_output(PLAN_ID, plan_id)
    have = [_comparable(r) for r in found.plan.get("BackupPlan", {}).get("Rules", [])]
    diffs: list[Diff] = []
    steps: list = []
    if have != [_comparable(desired_rule(names))]:
        diffs.append(Diff("rules", have, [_comparable(desired_rule(names))]))
        steps.append(lambda: backup.update_backup_plan(BackupPlanId=plan_id, BackupPlan=body))
    now = shared.tags_of(ctx, arn, want_tags, lambda: ctx.client("backup").list_tags(ResourceArn=arn).get("Tags", {}))
    tag_diffs, tag_steps = kit.tag_drift(now, want_tags, lambda todo: backup.tag_resource(ResourceArn=arn, Tags=todo))
    return maybe_update("backup-plan", name, arn, diffs + tag_diffs, steps + tag_steps, needs=(names.k_vault,))


def selection(ctx: Context, names: Names, found: Found) -> Change:
    name = f"{names.plan}/{SELECTION}"
    want = sorted(names.resources())
    needs = (names.k_plan, names.k_role)
    if ctx.target.mode == "sandbox":
        return change("backup-selection", name, SKIP, diffs=[Diff("resources", None, f"{len(want)} (the Aurora cluster, the tables)")],
                      needs=needs, note="moto 5.2 has no AWS Backup selections: in the sandbox the plan covers nothing (live: created)")
    backup = ctx.client("backup")

    def create() -> str:
        return backup.create_backup_selection(
            BackupPlanId=ctx.output(PLAN_ID), CreatorRequestId=kit.request_token(ctx.cfg.project.account_id, name, *want),
            BackupSelection={"SelectionName": SELECTION, "IamRoleArn": ctx.output(ROLE_ARN), "Resources": want},
        )["SelectionId"]

    current = found.selection
    if current is None:
        return change("backup-selection", name, CREATE, diffs=[Diff("resources", None, want)], needs=needs, run=create)
    have = sorted(current.get("Resources") or [])
    role_arn = (found.role or {}).get("Arn")
    diffs = []
    if have != want:
        diffs.append(Diff("resources", have, want))
    if role_arn and current.get("IamRoleArn") != role_arn:
        diffs.append(Diff("role", current.get("IamRoleArn"), role_arn))
    if not diffs:
        return change("backup-selection", name, NOOP, resource_id=found.selection_id, needs=needs)

    def replace() -> str:
        # A selection cannot be updated; it holds no data (the recovery points
        # are the vault's), so it is deleted and made again.
        backup.delete_backup_selection(BackupPlanId=ctx.output(PLAN_ID), SelectionId=found.selection_id)
        return create()

    return change("backup-selection", name, UPDATE, diffs=diffs, needs=needs, run=replace, resource_id=found.selection_id,
                  note="selections are immutable: deleted and made again (no recovery point is touched)")
