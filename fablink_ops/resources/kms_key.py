"""A customer-managed KMS key known by its alias: found, created, rotated,
tagged, re-enabled; never deleted, never scheduled for deletion.

A helper for the stages that encrypt data with a key of their own (eks,
aurora, monitoring; the DynamoDB stage: one key per region that holds a table
or a replica). A key whose users cannot go through IAM (CloudWatch alarms
publishing to an encrypted topic) carries its own key policy: KeySpec.policy,
set at creation and corrected (GetKeyPolicy, PutKeyPolicy); without one, the
default key policy is left as AWS made it.

Finding the key. The alias names it: one paginated ListAliases per region,
then DescribeKey and GetKeyRotationStatus for that one key; its tags come
from the tag index the stages share (shared.py), ListResourceTags only when
the index does not show them all.
CreateKey takes no idempotency token and the alias is a second call, so a run
that dies between CreateKey and CreateAlias (or loses CreateKey's answer)
leaves a key nobody points at. So that a re-run never makes a second key,
every key carries its intended alias as a tag, set in the CreateKey call
itself; when the alias is missing, the key is looked up by that tag with one
filtered Resource Groups Tagging API call (tag:GetResources) and the alias is
added to it. Known limit: that API indexes a new key within seconds, not at
once (eventual consistency), so a crash followed by a re-run within those
seconds could still miss the key; the stray key would then show up here as an
error naming both keys, never silently as a second data key.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field

from botocore.exceptions import ClientError

from ..engine import CREATE, NOOP, REPLACE, UPDATE, Change, Context, Diff
from ..errors import OpsError
from ..target import error_code
from . import kit, shared

ALIAS_TAG = "Alias"  # the tag that carries a key's intended alias
GONE_STATES = ("PendingDeletion", "PendingReplicaDeletion")


@dataclass(frozen=True)
class KeySpec:
    """What one key should be. ``stage`` owns it (the Change's stage)."""

    stage: str
    alias: str
    description: str
    tags: dict[str, str]  # Name and the stage's base tags; the Alias tag is added here
    policy: dict | None = None  # the key policy; None: AWS's default, not read
    policy_label: str = ""  # how the plan names the policy

    def desired_tags(self) -> dict[str, str]:
        return {**self.tags, ALIAS_TAG: self.alias}


@dataclass
class FoundKey:
    region: str
    metadata: dict | None = None  # DescribeKey's KeyMetadata
    has_alias: bool = False
    rotation: bool = False
    tags: dict[str, str] = field(default_factory=dict)
    policy: dict | None = None  # read only when the spec has one


def account_administers(account: str, region: str) -> dict:
    """The default key policy's statement, for keys with a policy of their
    own: the account administers the key through IAM (without it the key is
    unmanageable)."""
    return {
        "Sid": "AccountAdministers",
        "Effect": "Allow",
        "Principal": {"AWS": f"arn:{kit.partition(region)}:iam::{account}:root"},
        "Action": "kms:*",
        "Resource": "*",
    }


def output_key(alias: str, region: str) -> str:
    """The ctx.outputs key holding the key's ARN."""
    return f"kms-key-arn:{alias}@{region}"


def change_name(alias: str, region: str, home: str) -> str:
    return alias if region == home else f"{alias}@{region}"


def change_key(alias: str, region: str, home: str) -> str:
    return f"kms-key:{change_name(alias, region, home)}"


def _kms(ctx: Context, region: str):
    return ctx.target.client("kms", region)


def _tags_of(items: list[dict]) -> dict[str, str]:
    return {t["TagKey"]: t.get("TagValue", "") for t in items}


def _to_kms_tags(tags: dict[str, str]) -> list[dict[str, str]]:
    return [{"TagKey": k, "TagValue": v} for k, v in sorted(tags.items())]


# --------------------------------------------------------------------------
# discovery


def discover(ctx: Context, spec: KeySpec, region: str) -> FoundKey:
    alias = spec.alias
    kms = _kms(ctx, region)
    found = FoundKey(region)
    # One listing per region for every stage that owns a key.
    aliases = ctx.read_once(("kms:ListAliases", region), lambda: kms.paginate("list_aliases", "Aliases"))
    target = next((a.get("TargetKeyId") for a in aliases if a["AliasName"] == alias), None)
    if target:
        found.metadata = kms.describe_key(KeyId=target)["KeyMetadata"]
        found.has_alias = True
    else:
        found.metadata = _find_by_tag(ctx, alias, region)
    if found.metadata is None:
        return found
    key_id = found.metadata["KeyId"]
    try:
        found.rotation = kms.get_key_rotation_status(KeyId=key_id)["KeyRotationEnabled"]
    except ClientError as exc:
        # A key pending deletion answers KMSInvalidStateException; the plan
        # cancels the deletion first, then turns rotation on.
        if error_code(exc) != "KMSInvalidStateException":
            raise
    found.tags = shared.tags_of(
        ctx, found.metadata["Arn"], spec.desired_tags(),
        lambda: _tags_of(kms.paginate("list_resource_tags", "Tags", KeyId=key_id)), region,
    )
    if spec.policy is not None:
        found.policy = json.loads(kms.get_key_policy(KeyId=key_id, PolicyName="default")["Policy"])
    ctx.set_output(output_key(alias, region), found.metadata["Arn"])
    return found


def _find_by_tag(ctx: Context, alias: str, region: str) -> dict | None:
    """A key left without its alias by a crashed run, found by its Alias tag."""
    tagging = ctx.target.client("resourcegroupstaggingapi", region)
    items = tagging.paginate(
        "get_resources",
        "ResourceTagMappingList",
        ResourceTypeFilters=["kms:key"],
        TagFilters=[{"Key": ALIAS_TAG, "Values": [alias]}],
    )
    kms = _kms(ctx, region)
    live = []
    for item in items:
        meta = kms.describe_key(KeyId=item["ResourceARN"])["KeyMetadata"]
        if meta["KeyState"] in GONE_STATES:
            continue  # someone scheduled it for deletion without an alias: not ours to revive
        live.append(meta)
    if len(live) > 1:
        raise OpsError(
            f"two KMS keys in {region} carry the tag {ALIAS_TAG}={alias} and neither has the alias: "
            f"{live[0]['Arn']} and {live[1]['Arn']}; give the alias to the one in use (or schedule the unused one "
            "for deletion), then re-run"
        )
    return live[0] if live else None


# --------------------------------------------------------------------------
# the change


def change(ctx: Context, spec: KeySpec, found: FoundKey) -> Change:
    region, home = found.region, ctx.cfg.project.region
    name = change_name(spec.alias, region, home)

    def make(action: str, **kwargs) -> Change:
        return Change(stage=spec.stage, kind="kms-key", name=name, action=action, **kwargs)

    meta = found.metadata
    if meta is None:
        return make(
            CREATE,
            diffs=[Diff("alias", None, spec.alias), Diff("rotation", None, "on (yearly)"), Diff("region", None, region)]
            + ([Diff("key policy", None, spec.policy_label or "ours")] if spec.policy is not None else []),
            run=lambda: _create_key(ctx, spec, region),
        )
    arn = meta["Arn"]
    if meta.get("KeySpec", "SYMMETRIC_DEFAULT") != "SYMMETRIC_DEFAULT" or meta.get("KeyUsage") != "ENCRYPT_DECRYPT":
        return make(
            REPLACE, resource_id=arn,
            diffs=[Diff("key", f"{meta.get('KeySpec')}/{meta.get('KeyUsage')}", "SYMMETRIC_DEFAULT/ENCRYPT_DECRYPT")],
            note=f"{spec.alias} names a key that cannot encrypt tables: point the alias at a symmetric encryption key by hand; nothing was changed",
        )
    state = meta.get("KeyState", "Enabled")
    if state not in ("Enabled", "Disabled", "PendingDeletion"):
        return make(
            REPLACE, resource_id=arn, diffs=[Diff("state", state, "Enabled")],
            note=f"the key is {state}, which this tool cannot correct; nothing was changed",
        )
    diffs, steps = _key_drift(ctx, spec, found)
    if not diffs:
        return make(NOOP, resource_id=arn)
    return make(UPDATE, diffs=diffs, run=kit.sequence(*steps, lambda: arn), resource_id=arn)


def _create_key(ctx: Context, spec: KeySpec, region: str) -> str:
    kms = _kms(ctx, region)
    # The default key policy (the account may use the key through
    # IAM) is what DynamoDB needs: it uses the key through grants it
    # makes on the caller's behalf, which IAM policies then govern.
    policy = {"Policy": json.dumps(spec.policy)} if spec.policy is not None else {}
    meta = kms.create_key(
        Description=spec.description,
        KeyUsage="ENCRYPT_DECRYPT",
        KeySpec="SYMMETRIC_DEFAULT",
        Tags=_to_kms_tags(spec.desired_tags()),
        **policy,
    )["KeyMetadata"]
    ctx.set_output(output_key(spec.alias, region), meta["Arn"])
    kms.create_alias(AliasName=spec.alias, TargetKeyId=meta["KeyId"])
    kms.enable_key_rotation(KeyId=meta["KeyId"])
    return meta["Arn"]


def _key_drift(ctx: Context, spec: KeySpec, found: FoundKey) -> tuple[list[Diff], list[kit.Step]]:
    """What differs on an existing, usable key, and the writes that correct it."""
    kms, meta = _kms(ctx, found.region), found.metadata or {}
    key_id, state = meta["KeyId"], meta.get("KeyState", "Enabled")
    diffs: list[Diff] = []
    steps: list[kit.Step] = []
    if state != "Enabled":
        diffs.append(Diff("state", state, "Enabled"))
        if state == "PendingDeletion":
            # Deleting the key would make every table it encrypts unreadable:
            # cancel (which leaves the key Disabled), then enable.
            steps.append(lambda: kms.cancel_key_deletion(KeyId=key_id))
        steps.append(lambda: kms.enable_key(KeyId=key_id))
    if not found.has_alias:
        diffs.append(Diff("alias", None, spec.alias))
        steps.append(lambda: kms.create_alias(AliasName=spec.alias, TargetKeyId=key_id))
    if not found.rotation:
        diffs.append(Diff("rotation", "off", "on (yearly)"))
        steps.append(lambda: kms.enable_key_rotation(KeyId=key_id))
    if spec.policy is not None and found.policy != spec.policy:
        diffs.append(Diff("key policy", found.policy, spec.policy))  # shown key by key in the plan
        steps.append(lambda: kms.put_key_policy(KeyId=key_id, PolicyName="default", Policy=json.dumps(spec.policy)))
    if meta.get("Description", "") != spec.description:
        diffs.append(Diff("description", meta.get("Description", ""), spec.description))
        steps.append(lambda: kms.update_key_description(KeyId=key_id, Description=spec.description))
    tag_diffs, tag_steps = kit.tag_drift(found.tags, spec.desired_tags(), lambda todo: kms.tag_resource(KeyId=key_id, Tags=_to_kms_tags(todo)))
    return diffs + tag_diffs, steps + tag_steps
