"""The customer managed key every log group of the project is encrypted with
(issue 17 item 3; design doc: Security, "encryption settings").

One key, alias [logging] kms_key_alias, for the flow logs, the EKS control
plane, Aurora's PostgreSQL log, API Gateway's access and execution logs and
WAF's log. Its key policy lets the account administer it through IAM and
CloudWatch Logs use it only for this environment's groups: AWS's statement
for the logs.<region>.amazonaws.com principal with an ArnLike condition on
the encryption context kms:EncryptionContext:aws:logs:arn
(https://docs.aws.amazon.com/AmazonCloudWatch/latest/logs/encrypt-log-data-kms.html).

The network stage owns it (Stage tag network): every stage with log groups
but monitoring builds on the network; monitoring plans the same change, and
the plan keeps the first in build order (stages._one_change_per_resource).
Its discovery is read once per plan for every stage that asks.

Log groups made by AWS services themselves (EKS's /aws/eks/<cluster>/cluster,
RDS's /aws/rds/cluster/<cluster>/<log>, API Gateway's
API-Gateway-Execution-Logs_<api id>/<stage>) are created by this tool first,
with the key, so the service writes into an encrypted group; a group that
exists without it is associated with the key (AssociateKmsKey), which AWS
applies to data ingested from then on, not to what is already stored.
"""

from __future__ import annotations

from ..engine import Change, Context
from . import kms_key
from .kit import desired_tags, partition

OWNER = "network"  # the stage whose Stage tag the key carries


def alias(ctx: Context) -> str:
    return ctx.cfg.logging.kms_key_alias


def group_patterns(ctx: Context) -> list[str]:
    """The names of this environment's log groups (wildcards where AWS picks
    part of the name), for the key policy's encryption-context condition."""
    # Imported here: the stages' name classes import kit, which imports this module lazily.
    from .aurora.common import Names as AuroraNames
    from .edge.common import EdgeNames
    from .eks.common import Names as EksNames
    from .network import Names as NetworkNames

    cfg = ctx.cfg
    edge = EdgeNames(cfg)
    return [
        NetworkNames(cfg).flow_log_group,
        EksNames(cfg).log_group,
        *(AuroraNames(cfg).log_group(t) for t in cfg.aurora.log_exports),
        edge.access_log_group,
        edge.execution_log_group("*"),  # the API id is AWS's
        edge.waf_log_group,
    ]


def key_policy(ctx: Context) -> dict:
    p = ctx.cfg.project
    arns = [f"arn:{partition(p.region)}:logs:{p.region}:{p.account_id}:log-group:{g}" for g in group_patterns(ctx)]
    return {
        "Version": "2012-10-17",
        "Statement": [
            kms_key.account_administers(p.account_id, p.region),
            {
                # CloudWatch Logs encrypts and decrypts this environment's groups, and nothing else.
                "Sid": "CloudWatchLogsEncryptsOurGroups",
                "Effect": "Allow",
                "Principal": {"Service": f"logs.{p.region}.amazonaws.com"},
                "Action": ["kms:Encrypt*", "kms:Decrypt*", "kms:ReEncrypt*", "kms:GenerateDataKey*", "kms:Describe*"],
                "Resource": "*",
                "Condition": {"ArnLike": {"kms:EncryptionContext:aws:logs:arn": arns}},
            },
        ],
    }


def key_spec(ctx: Context) -> kms_key.KeySpec:
    return kms_key.KeySpec(
        OWNER, alias(ctx), f"Encrypts the CloudWatch Logs groups of FabLink {ctx.cfg.project.environment} (fablink-ops)",
        desired_tags(ctx.cfg, OWNER, alias(ctx)), policy=key_policy(ctx), policy_label="account + CloudWatch Logs (our groups)",
    )


def change(ctx: Context) -> Change:
    """The key's change; discovered once per plan whichever stage asks first."""
    region = ctx.cfg.project.region
    spec = key_spec(ctx)
    found = ctx.read_once(("logs-key", region), lambda: kms_key.discover(ctx, spec, region))
    return kms_key.change(ctx, spec, found)


def k_key(ctx: Context) -> str:
    region = ctx.cfg.project.region
    return kms_key.change_key(alias(ctx), region, region)


def arn(ctx: Context) -> str | None:
    """The key's ARN once discovered or created (None before)."""
    return ctx.outputs.get(kms_key.output_key(alias(ctx), ctx.cfg.project.region))
