"""Customer managed KMS keys of this environment.

A key cannot be deleted at once: ScheduleKeyDeletion with the shortest
window AWS allows (7 days; during it CancelKeyDeletion brings the key back,
which is the point: whatever it encrypted, a final snapshot included, stays
readable until then). A key PendingDeletion counts as gone. Keys are found by
their tags through the Resource Groups Tagging API, so a key whose alias a
crashed run already deleted is still found; its aliases go after the key is
scheduled (the alias then points at a key that is going away). The key of a data
store whose final snapshot is taken is kept: the snapshot is encrypted with it.
"""

from __future__ import annotations

from .. import tags as tagging
from ..engine import Context
from .common import Doomed, gone, owned, tag_filters

PENDING_WINDOW_DAYS = 7  # the minimum AWS accepts (7-30)
NOT_FOUND = ("NotFoundException",)


def _keys(ctx: Context) -> list[dict]:
    tagging_api = ctx.client("resourcegroupstaggingapi")
    return ctx.read_once("destroy:kms-keys", lambda: tagging_api.paginate(
        "get_resources", "ResourceTagMappingList", TagFilters=tag_filters(ctx), ResourceTypeFilters=["kms:key"]))


def keys(ctx: Context, stage: str, step: int) -> list[Doomed]:
    kms = ctx.client("kms")
    aliases = ctx.read_once("destroy:kms-aliases", lambda: kms.paginate("list_aliases", "Aliases"))
    out = []
    for item in _keys(ctx):
        tags = tagging.from_list(item.get("Tags"))
        if not owned(ctx, tags) or tags.get("Stage") != stage:
            continue
        arn = item["ResourceARN"]
        key_id = arn.rsplit("/", 1)[-1]
        state = kms.describe_key(KeyId=key_id)["KeyMetadata"]["KeyState"]
        names = [a["AliasName"] for a in aliases if a.get("TargetKeyId") == key_id]
        if state in ("PendingDeletion", "PendingReplicaDeletion") and not names:
            continue  # already going away: nothing left to do
        name = names[0] if names else tags.get("Alias", key_id)
        out.append(Doomed(stage, "kms-key", name, arn, step, _delete(ctx, key_id, state, names), keep=_kept(ctx, stage)))
    return out


def _kept(ctx: Context, stage: str) -> str:
    """A final snapshot or backup is encrypted with its store's key: deleting
    the key would make it unrestorable 7 days later, so the key stays."""
    d = ctx.cfg.destroy
    if (stage == "aurora" and d.aurora_final_snapshot) or (stage == "dynamodb" and d.dynamodb_final_backup):
        return "encrypts the final snapshots: kept so they stay restorable (schedule its deletion once they are not needed)"
    return ""


def _delete(ctx: Context, key_id: str, state: str, aliases: list[str]):
    kms = ctx.client("kms")

    def delete() -> None:
        if state not in ("PendingDeletion", "PendingReplicaDeletion"):
            gone(lambda: kms.schedule_key_deletion(KeyId=key_id, PendingWindowInDays=PENDING_WINDOW_DAYS), *NOT_FOUND)
        for alias in aliases:
            gone(lambda: kms.delete_alias(AliasName=alias), *NOT_FOUND)

    return delete


def pending_deletion(ctx: Context, arn: str) -> bool:
    state = ctx.client("kms").describe_key(KeyId=arn)["KeyMetadata"]["KeyState"]
    return state in ("PendingDeletion", "PendingReplicaDeletion")
