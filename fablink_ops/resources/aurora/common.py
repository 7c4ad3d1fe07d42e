"""Names, the discovered state and small Change helpers shared by the Aurora
stage's modules.

Everything is found by a unique name: RDS identifiers and IAM/log group names
are unique per account and region; the KMS key by its alias (kms_key.py).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

from ... import tags as tagging
from ...config import Config
from ...engine import Context, change_key
from ...errors import OpsError
from .. import kit, kms_key, network

NAME = "aurora"
ENGINE = "aurora-postgresql"
# Where a run records the ids dependents read (see engine.Context.outputs).
# The key's ARN is under kms_key.output_key(alias, region): see Names.key_output.
ROLE_ARN = "aurora:monitoring-role-arn"
CLUSTER_ARN = "aurora:cluster-arn"


@dataclass(frozen=True)
class Names:
    cfg: Config

    @property
    def cluster(self) -> str:
        return self.cfg.aurora.cluster_identifier

    @property
    def key_alias(self) -> str:
        return self.cfg.aurora.kms_key_alias

    @property
    def key_name(self) -> str:
        return self.key_alias.removeprefix("alias/")

    def key_spec(self) -> kms_key.KeySpec:
        return kms_key.KeySpec(NAME, self.key_alias, self.cfg.aurora.kms_key_description, desired_tags(self.cfg, self.key_name))

    @property
    def key_output(self) -> str:
        """The ctx.outputs key of the KMS key's ARN."""
        return kms_key.output_key(self.key_alias, self.cfg.project.region)

    @property
    def subnet_group(self) -> str:
        return f"{self.cluster}-subnets"

    @property
    def parameter_group(self) -> str:
        # The family's major version is in the name: a major upgrade needs a
        # group of the new family, created beside this one.
        return f"{self.cluster}-pg{self.cfg.aurora.engine_major}"

    @property
    def monitoring_role(self) -> str:
        # project prefix (49 characters at most) + 15: within IAM's 64.
        return f"{self.cfg.project.prefix}-rds-monitoring"

    def log_group(self, log_type: str) -> str:
        # The name RDS itself exports to; creating it first lets us set its
        # retention (RDS would create it with "never expire").
        return f"/aws/rds/cluster/{self.cluster}/{log_type}"

    @property
    def private_subnets(self) -> list[str]:
        net = network.Names(self.cfg)
        return [net.subnet("private", zone) for zone in self.cfg.network.zones]

    @property
    def security_group(self) -> str:
        return network.Names(self.cfg).security_group(self.cfg.aurora.security_group_tier)

    @property
    def sg_output(self) -> str:
        return f"sg:{self.cfg.aurora.security_group_tier}"

    # Change keys ("kind:name") that dependents list in ``needs``.
    @property
    def k_key(self) -> str:
        return kms_key.change_key(self.key_alias, self.cfg.project.region, self.cfg.project.region)

    @property
    def k_role(self) -> str:
        return change_key("iam-role", self.monitoring_role)

    @property
    def k_subnet_group(self) -> str:
        return change_key("db-subnet-group", self.subnet_group)

    @property
    def k_parameter_group(self) -> str:
        return change_key("db-cluster-parameter-group", self.parameter_group)

    @property
    def k_security_group(self) -> str:
        return network.Names(self.cfg).k_security_group(self.cfg.aurora.security_group_tier)

    def k_log_group(self, log_type: str) -> str:
        return change_key("log-group", self.log_group(log_type))

    @property
    def k_cluster(self) -> str:
        return change_key("db-cluster", self.cluster)

    def k_instance(self, identifier: str) -> str:
        return change_key("db-instance", identifier)


@dataclass
class Found:
    key: kms_key.FoundKey | None = None
    role: dict | None = None
    role_policies: list[str] = field(default_factory=list)  # attached managed policy ARNs
    log_groups: dict[str, dict] = field(default_factory=dict)  # by name
    subnet_group: dict | None = None
    subnet_group_tags: dict[str, str] = field(default_factory=dict)
    parameter_group: dict | None = None
    parameter_group_tags: dict[str, str] = field(default_factory=dict)
    parameters: dict[str, dict] = field(default_factory=dict)  # user-set, by name
    cluster: dict | None = None
    instances: dict[str, dict] = field(default_factory=dict)  # the cluster's, by identifier


_KIT = kit.StageKit(NAME)
change, maybe_update, desired_tags = _KIT.change, _KIT.maybe_update, _KIT.tags


def rds_tag_step(ctx: Context, arn: str, current: dict[str, str], desired: dict[str, str]) -> Callable[[], None] | None:
    todo = tagging.missing(current, desired)
    if not todo:
        return None
    return lambda: ctx.client("rds").add_tags_to_resource(ResourceName=arn, Tags=tagging.to_list(todo))


def one(items: list[dict], kind: str, key: str) -> dict | None:
    """The single item, or an error naming both when there are two."""
    if len(items) > 1:
        raise OpsError(f"two {kind}s match one desired resource: {items[0][key]} and {items[1][key]}; remove one, then re-run")
    return items[0] if items else None
