"""The customer managed KMS key of the Aurora cluster: storage, Performance
Insights and the master user secret are encrypted with it. Rotation on.

CreateKey takes no idempotency token, so the key is created with a tag naming
its intended alias: if the run dies before CreateAlias, the next plan finds the
key by that tag and only adds the alias (no second key).

The key policy is KMS's default (the account's IAM policies decide): RDS uses
the key through grants it creates with the caller's permissions.
https://docs.aws.amazon.com/AmazonRDS/latest/UserGuide/Overview.Encryption.Keys.html
"""

from __future__ import annotations

from botocore.exceptions import ClientError

from ...engine import CREATE, REPLACE, Context, Diff, Change
from ...errors import OpsError
from ...target import error_code
from .common import KEY_ALIAS_TAG, KEY_ARN, Found, Names, change, desired_tags, maybe_update, tag_diffs
from ... import tags as tagging

DESCRIPTION = "FabLink Aurora PostgreSQL: storage, Performance Insights and the master user secret"


def _kms_tags(tags: dict[str, str]) -> list[dict[str, str]]:
    return [{"TagKey": k, "TagValue": v} for k, v in sorted(tags.items())]


def key(ctx: Context, names: Names, found: Found) -> Change:
    alias = names.key_alias
    kms = ctx.client("kms")
    tags = desired_tags(ctx.cfg, names.key_name, {KEY_ALIAS_TAG: alias})

    def create_alias(key_id: str) -> None:
        try:
            kms.create_alias(AliasName=alias, TargetKeyId=key_id)
        except ClientError as exc:  # made by a run whose answer was lost, or by someone else
            if error_code(exc) != "AlreadyExistsException":
                raise
            target = kms.describe_key(KeyId=alias)["KeyMetadata"]["KeyId"]
            if target != key_id:
                raise OpsError(f"{alias} already points at KMS key {target}, not at {key_id}; fix the alias by hand") from None

    if found.key is None:

        def create() -> str:
            meta = kms.create_key(
                Description=DESCRIPTION,
                KeyUsage="ENCRYPT_DECRYPT",
                KeySpec="SYMMETRIC_DEFAULT",
                Tags=_kms_tags(tags),
            )["KeyMetadata"]
            ctx.set_output(KEY_ARN, meta["Arn"])
            kms.enable_key_rotation(KeyId=meta["KeyId"])
            create_alias(meta["KeyId"])
            return alias

        return change("kms-key", alias, CREATE, diffs=[Diff("rotation", None, True), Diff("alias", None, alias)], run=create)

    meta = found.key
    key_id = meta["KeyId"]
    if meta.get("KeyManager") != "CUSTOMER" or meta.get("KeySpec", "SYMMETRIC_DEFAULT") != "SYMMETRIC_DEFAULT" or meta.get("KeyUsage") != "ENCRYPT_DECRYPT":
        return change(
            "kms-key", alias, REPLACE, resource_id=key_id,
            diffs=[Diff("key", f"{meta.get('KeyManager')} {meta.get('KeySpec')} {meta.get('KeyUsage')}", "CUSTOMER SYMMETRIC_DEFAULT ENCRYPT_DECRYPT")],
            note="RDS needs a symmetric customer managed key; a key's kind cannot change. Nothing was changed",
        )
    diffs: list[Diff] = []
    steps: list = []
    state = meta["KeyState"]
    if state in ("PendingDeletion", "PendingReplicaDeletion"):
        # The cluster's data is unreadable once this key is gone: stop that.
        diffs.append(Diff("state", state, "Enabled"))
        steps += [lambda: kms.cancel_key_deletion(KeyId=key_id), lambda: kms.enable_key(KeyId=key_id)]
    elif state == "Disabled":
        diffs.append(Diff("state", state, "Enabled"))
        steps.append(lambda: kms.enable_key(KeyId=key_id))
    elif state != "Enabled":
        raise OpsError(f"KMS key {key_id} ({alias}) is {state}: it cannot be used; see the KMS console")
    if not found.key_rotation:
        diffs.append(Diff("rotation", found.key_rotation, True))
        steps.append(lambda: kms.enable_key_rotation(KeyId=key_id))
    if not found.key_aliased:
        diffs.append(Diff("alias", None, alias))
        steps.append(lambda: create_alias(key_id))
    todo = tagging.missing(found.key_tags, tags)
    diffs += tag_diffs(found.key_tags, tags)
    if todo:
        steps.append(lambda: kms.tag_resource(KeyId=key_id, Tags=_kms_tags(todo)))
    return maybe_update("kms-key", alias, key_id, diffs, steps)
