"""The customer-managed KMS key that encrypts the cluster's Kubernetes secrets.

Design doc: Security, "Encryption settings". Rotation on, an alias as its
name. The key holds no data itself but everything it encrypted depends on it:
it is never deleted or replaced to converge.
"""

from __future__ import annotations

from botocore.exceptions import ClientError

from ... import tags as tagging
from ...engine import CREATE, REPLACE, Change, Context, Diff
from ...target import error_code
from .common import Names, Out, change, desired_tags, maybe_update, tag_diffs
from .discover import Found

KIND = "kms-key"


def _kms_tags(tags: dict[str, str]) -> list[dict[str, str]]:
    return [{"TagKey": k, "TagValue": v} for k, v in sorted(tags.items())]


def key(ctx: Context, names: Names, found: Found) -> Change:
    alias = names.key_alias
    name = alias  # the change key is kms-key:<alias> (Keys.key)
    # The Name tag is the intended alias: how a key whose alias was never
    # created (a crash right after CreateKey) is found again.
    tags = desired_tags(ctx.cfg, names.key_name)
    kms = ctx.client("kms")

    def rotate() -> None:
        kms.enable_key_rotation(KeyId=ctx.output(Out.KEY_ARN))

    def make_alias() -> None:
        try:
            kms.create_alias(AliasName=alias, TargetKeyId=ctx.output(Out.KEY_ARN))
        except ClientError as exc:  # made by a run whose answer was lost
            if error_code(exc) != "AlreadyExistsException":
                raise

    if found.key is None:

        def create() -> str:
            meta = kms.create_key(
                Description=f"Encrypts the Kubernetes secrets of EKS cluster {names.cluster}",
                KeyUsage="ENCRYPT_DECRYPT",
                KeySpec="SYMMETRIC_DEFAULT",  # EKS secrets encryption needs a symmetric key
                Tags=_kms_tags(tags),
            )["KeyMetadata"]
            ctx.set_output(Out.KEY_ARN, meta["Arn"])
            rotate()
            make_alias()
            return meta["Arn"]

        return change(KIND, name, CREATE, diffs=[Diff("rotation", None, True), Diff("alias", None, alias)], run=create)

    meta = found.key
    if meta["KeyState"] != "Enabled" or meta.get("KeySpec", "SYMMETRIC_DEFAULT") != "SYMMETRIC_DEFAULT":
        return change(
            KIND, name, REPLACE, resource_id=meta["Arn"],
            diffs=[Diff("key state", meta["KeyState"], "Enabled"), Diff("key spec", meta.get("KeySpec"), "SYMMETRIC_DEFAULT")],
            note=f"{alias} points at a key that cannot encrypt the cluster's secrets (disabled, pending deletion or "
            "asymmetric): enable it, cancel its deletion, or point the alias at a usable key; nothing was changed",
        )
    diffs, steps = [], []
    if not found.key_aliased:
        diffs.append(Diff("alias", None, alias))
        steps.append(make_alias)
    if not found.key_rotation:
        diffs.append(Diff("rotation", False, True))
        steps.append(rotate)
    todo = tagging.missing(found.key_tags, tags)
    diffs += tag_diffs(found.key_tags, tags)
    if todo:
        steps.append(lambda: kms.tag_resource(KeyId=meta["KeyId"], Tags=_kms_tags(todo)))
    return maybe_update(KIND, name, meta["Arn"], diffs, steps)
