"""Small helpers the stages share.

The same shapes as in network.py (a Change per resource, tags in the create
call, one run made of several write steps, deterministic tokens), with the
stage name passed in, plus the CloudWatch Logs group every stage keeps for 90
days. Kept here rather than imported from network.py's private helpers so each
stage module stays independent of the others.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from dataclasses import dataclass
from typing import Any, Callable, TypeVar

from botocore.exceptions import ClientError

from .. import tags as tagging
from ..config import Config
from ..engine import CREATE, NOOP, SKIP, UPDATE, Change, Context, Diff
from ..target import error_code, none_if
from . import shared

Step = Callable[[], Any]
F = TypeVar("F")


def change(stage: str, kind: str, name: str, action: str, **kwargs: Any) -> Change:
    return Change(stage=stage, kind=kind, name=name, action=action, **kwargs)


def desired_tags(cfg: Config, stage: str, name: str, extra: dict[str, str] | None = None) -> dict[str, str]:
    tags = cfg.base_tags(stage)
    tags["Name"] = name
    tags.update(extra or {})
    return tags


def tag_diff(current: dict[str, str], desired: dict[str, str]) -> list[Diff]:
    todo = tagging.missing(current, desired)
    return [Diff(f"tag {k}", current.get(k), v) for k, v in sorted(todo.items())]


def tag_drift(current: dict[str, str], desired: dict[str, str], write: Callable[[dict[str, str]], Any]) -> tuple[list[Diff], list[Step]]:
    """Our tags that are missing or wrong, and the one step that sets them
    (``write`` gets just those); tags others set are left alone."""
    todo = tagging.missing(current, desired)
    return tag_diff(current, desired), ([lambda: write(todo)] if todo else [])


# moto 5.2 tags only API Gateway stages and EKS clusters: its TagResource
# reads a stage out of any other API Gateway ARN (REST APIs, API keys, usage
# plans, VPC links, domain names) and looks up clusters only for EKS (node
# groups), and answers NotFound; UntagResource likewise. Tags given in the
# create call are kept and read back, so drift is seen, but in the sandbox it
# can be neither made nor corrected.
SANDBOX_TAG_GAP = "tags skipped in the sandbox: moto's TagResource answers NotFound for {what}; on --live they are set here"


def tag_drift_or_gap(
    ctx: Context, what: str, current: dict[str, str], desired: dict[str, str], write: Callable[[dict[str, str]], Any]
) -> tuple[list[Diff], list[Step], str]:
    """``tag_drift`` for a resource the sandbox cannot tag (SANDBOX_TAG_GAP):
    there the diffs stay in the plan (the ownership guard reads them) but no
    step is made, and the third value says why; on --live it is tag_drift."""
    diffs, steps = tag_drift(current, desired, write)
    if steps and not ctx.target.is_live:
        return diffs, [], SANDBOX_TAG_GAP.format(what=what)
    return diffs, steps, ""


def sequence(*steps: Step | None) -> Callable[[], str | None] | None:
    """One run made of several write steps, skipping the None ones."""
    real = [s for s in steps if s is not None]

    def run() -> str | None:
        detail = None
        for step in real:
            out = step()
            detail = out if isinstance(out, str) and out else detail
        return detail

    return run if real else None


def maybe_update(
    stage: str, kind: str, name: str, resource_id: str, diffs: list[Diff], steps: list[Step | None], needs: tuple[str, ...] = (), note: str = "",
    gap: str = "",
) -> Change:
    """No change, an update, or (``gap``: what this target cannot write,
    e.g. tag_drift_or_gap's note) a skip when nothing else is left to do."""
    if not diffs:
        return change(stage, kind, name, NOOP, resource_id=resource_id, needs=needs, note=note)
    note = "; ".join(n for n in (note, gap) if n)
    run = sequence(*steps)
    if gap and run is None:
        return change(stage, kind, name, SKIP, diffs=diffs, resource_id=resource_id, needs=needs, note=note)
    return change(stage, kind, name, UPDATE, diffs=diffs, run=run, resource_id=resource_id, needs=needs, note=note)


@dataclass(frozen=True)
class StageKit:
    """The helpers above bound to one stage's name: each stage's common
    module makes one (``change``, ``maybe_update``, ``tags``)."""

    stage: str

    def change(self, kind: str, name: str, action: str, **kwargs: Any) -> Change:
        return change(self.stage, kind, name, action, **kwargs)

    def maybe_update(
        self, kind: str, name: str, resource_id: str, diffs: list[Diff], steps: list[Step | None], needs: tuple[str, ...] = (), note: str = "",
        gap: str = "",
    ) -> Change:
        return maybe_update(self.stage, kind, name, resource_id, diffs, steps, needs, note, gap)

    def tags(self, cfg: Config, name: str, extra: dict[str, str] | None = None) -> dict[str, str]:
        return desired_tags(cfg, self.stage, name, extra)


def discover_parts(ctx: Context, names: Any, found: F, parts: tuple[Any, ...]) -> F:
    """A packaged stage's discovery: each part module's ``discover(ctx,
    names, found)`` fills the one snapshot, in order."""
    for part in parts:
        part.discover(ctx, names, found)
    return found


def request_token(*parts: str, alphanumeric: bool = False) -> str:
    """A deterministic idempotency token (ClientToken, clientRequestToken):
    the same inputs, the same token.

    Built from the ids the resource hangs on, so a resumed run reuses it
    (AWS returns the resource the crashed run created) while a rebuilt
    environment, with new ids, gets a fresh one. ``alphanumeric``: 32 word
    characters, for ACM's IdempotencyToken (pattern \\w+, at most 32).
    """
    hashed = hashlib.sha256("|".join(parts).encode()).hexdigest()
    return hashed[:32] if alphanumeric else "fablink-" + hashed[:48]


RUN_NONCE = "run:update-token-nonce"


def update_token(ctx: Context, *parts: str) -> str:
    """An idempotency token for an update: the same within one run, new in the next.

    Within a run it makes a retried call (its answer lost) the same update.
    Across runs it must differ: AWS answers a token it has seen with the
    earlier update and changes nothing, so a drift that comes back to the
    same state would be "corrected" by a silent no-op, run after run
    (issue 14, item 9). Creates keep ``request_token``: across runs, that a
    crashed run's create is found again is the point.
    """
    with ctx._lock:
        nonce = ctx.outputs.setdefault(RUN_NONCE, uuid.uuid4().hex)
    return request_token(*parts, nonce)


def partition(region: str) -> str:
    """The ARN partition of a region (AWS managed policy ARNs carry it)."""
    if region.startswith("cn-"):
        return "aws-cn"
    if region.startswith("us-gov-"):
        return "aws-us-gov"
    return "aws"


def digest(value: Any, length: int = 16) -> str:
    """A short stable hash of a JSON-able value."""
    text = json.dumps(value, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:length]


def ignoring(codes: tuple[str, ...], call: Callable[[], Any]) -> Any:
    """Run a create whose "already exists" answer means a lost earlier answer."""
    return none_if(codes, call)



def create_role(ctx: Context, name: str, trust: dict, description: str, tags: dict[str, str]) -> str:
    """Create an IAM role (tags in the call) and return its ARN; a role a run
    whose answer was lost already made is found instead (IAM has no token)."""
    iam = ctx.client("iam")
    try:
        return iam.create_role(
            RoleName=name, AssumeRolePolicyDocument=json.dumps(trust), Description=description, Tags=tagging.to_list(tags)
        )["Role"]["Arn"]
    except ClientError as exc:
        if error_code(exc) != "EntityAlreadyExists":
            raise
        return iam.get_role(RoleName=name)["Role"]["Arn"]


def role_drift(ctx: Context, role: dict, trust: dict, trust_label: str, tags: dict[str, str]) -> tuple[list[Diff], list[Step]]:
    """Trust-policy and tag drift of an existing role (a RoleDetail or GetRole's
    Role), with the writes that correct it; our tags only, others' are kept."""
    iam, name = ctx.client("iam"), role["RoleName"]
    diffs: list[Diff] = []
    steps: list[Step] = []
    current_trust = role.get("AssumeRolePolicyDocument")
    if isinstance(current_trust, str):
        current_trust = json.loads(current_trust)
    if current_trust != trust:
        diffs.append(Diff("trust policy", current_trust, trust))  # shown key by key in the plan ({trust_label})
        steps.append(lambda: iam.update_assume_role_policy(RoleName=name, PolicyDocument=json.dumps(trust)))
    tag_diffs, tag_steps = tag_drift(
        tagging.from_list(role.get("Tags")), tags, lambda todo: iam.tag_role(RoleName=name, Tags=tagging.to_list(todo))
    )
    return diffs + tag_diffs, steps + tag_steps


# --------------------------------------------------------------------------
# CloudWatch Logs groups: created with their retention and tags (design doc:
# Logging, "Retention: 90 days"), found by exact name.


def log_group_change(
    ctx: Context, stage: str, name: str, found: dict | None, needs: tuple[str, ...] = (), output: str | None = None,
    name_at_run: Callable[[], str] | None = None, own_tags: bool = True,
) -> Change:
    """Create a log group with its retention, key and tags, or correct its
    retention, key and (``own_tags``) our tags on it.

    ``found`` is the group as DescribeLogGroups lists it (shared.log_groups).
    ``name_at_run`` gives the real name when it is only known at run time
    (API Gateway's execution log group carries the API id). ``own_tags`` is
    False where another stage owns the group and only its existence and
    retention matter here (monitoring and the Aurora log group), so two
    stages never correct each other's Stage tag. Every group is encrypted
    with the logs key (logs_key.py; issue 17 item 3), which it needs.
    """
    from . import logs_key  # here: logs_key imports kms_key, which imports this module

    retention = ctx.cfg.logging.retention_days
    logs = ctx.client("logs")
    tags = desired_tags(ctx.cfg, stage, name)
    needs = (*needs, logs_key.k_key(ctx))

    def set_retention(group: str) -> None:
        logs.put_retention_policy(logGroupName=group, retentionInDays=retention)

    if found is None:

        def create() -> str:
            group = name_at_run() if name_at_run else name
            ignoring(
                ("ResourceAlreadyExistsException",),
                lambda: logs.create_log_group(logGroupName=group, tags=desired_tags(ctx.cfg, stage, group), kmsKeyId=ctx.output(
                    _key_output(ctx))),
            )
            set_retention(group)
            if output:
                ctx.set_output(output, log_group_arn(ctx, group))
            return group

        diffs = [Diff("retention days", None, retention), Diff("kms key", None, logs_key.alias(ctx))]
        return change(stage, "log-group", name, CREATE, diffs=diffs, needs=needs, run=create)
    if output:
        ctx.set_output(output, _strip_star(found["arn"]))
    diffs: list[Diff] = []
    steps: list[Step] = []
    if found.get("retentionInDays") != retention:
        diffs.append(Diff("retention days", found.get("retentionInDays"), retention))
        steps.append(lambda: set_retention(name))
    key_diffs, key_steps, note = _log_key_drift(ctx, name, found)
    if own_tags:
        current = shared.tags_of(ctx, found["arn"], tags, lambda: logs.list_tags_log_group(logGroupName=name).get("tags", {}))
        tag_diffs, tag_steps = tag_drift(current, tags, lambda todo: logs.tag_log_group(logGroupName=name, tags=todo))
        diffs += tag_diffs
        steps += tag_steps
    if note and not diffs:
        return change(stage, "log-group", name, SKIP, resource_id=name, needs=needs, note=note)
    return maybe_update(stage, "log-group", name, name, diffs + key_diffs, steps + key_steps, needs, note=note)


def _key_output(ctx: Context) -> str:
    from . import kms_key, logs_key

    return kms_key.output_key(logs_key.alias(ctx), ctx.cfg.project.region)


def _log_key_drift(ctx: Context, name: str, found: dict) -> tuple[list[Diff], list[Step], str]:
    """A group not encrypted with the logs key: AssociateKmsKey (AWS encrypts
    what arrives from then on; what is stored stays as it was). moto 5.2 has
    no AssociateKmsKey: in the sandbox the difference is said, not corrected."""
    from . import logs_key

    wanted = logs_key.arn(ctx)
    current = found.get("kmsKeyId")
    if wanted is not None and current == wanted:
        return [], [], ""
    if not ctx.target.is_live:
        return [], [], f"not encrypted with {logs_key.alias(ctx)} (kms key {current}): skipped in the sandbox, moto 5.2 has no AssociateKmsKey"
    logs = ctx.client("logs")
    return ([Diff("kms key", current, logs_key.alias(ctx))],
            [lambda: logs.associate_kms_key(logGroupName=name, kmsKeyId=ctx.output(_key_output(ctx)))], "")


def _strip_star(arn: str) -> str:
    # describe_log_groups answers "arn:...:log-group:NAME:*"; services that
    # take a log group ARN (API Gateway access logs) want it without ":*".
    return arn[:-2] if arn.endswith(":*") else arn


def log_group_arn(ctx: Context, name: str) -> str:
    groups = ctx.client("logs").describe_log_groups(logGroupNamePrefix=name)["logGroups"]
    return _strip_star(next(g["arn"] for g in groups if g["logGroupName"] == name))
