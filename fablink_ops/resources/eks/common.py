"""What the EKS stage's modules share: names, change and tag helpers, waits.

Names live in one place so discovery and creation agree. Ids and ARNs travel
through ``ctx.outputs`` under the keys in ``Out``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

from ...config import AddonConfig, Config, Zone
from ...engine import Context, change_key, wait_for
from .. import kit, kms_key
from ..network import Names as NetworkNames

NAME = "eks"

# The audience every IRSA token carries: https://docs.aws.amazon.com/eks/latest/userguide/associate-service-account-role.html
STS_AUDIENCE = "sts.amazonaws.com"


@dataclass(frozen=True)
class Names:
    cfg: Config

    @property
    def prefix(self) -> str:
        return self.cfg.project.prefix

    @property
    def cluster(self) -> str:
        return self.cfg.project.cluster_name

    @property
    def key_name(self) -> str:
        """The secrets key's Name tag; its alias is alias/<this>."""
        return f"{self.prefix}-eks-secrets"

    @property
    def key_alias(self) -> str:
        return f"alias/{self.key_name}"

    @property
    def key_arn_output(self) -> str:
        return kms_key.output_key(self.key_alias, self.cfg.project.region)

    def key_spec(self) -> kms_key.KeySpec:
        return kms_key.KeySpec(NAME, self.key_alias, f"Encrypts the Kubernetes secrets of EKS cluster {self.cluster}",
                               desired_tags(self.cfg, self.key_name))

    @property
    def cluster_role(self) -> str:
        return f"{self.prefix}-eks-cluster"

    @property
    def node_role(self) -> str:
        return f"{self.prefix}-eks-node"

    @property
    def log_group(self) -> str:
        # The name EKS writes control-plane logs to; it creates the group
        # itself (never expiring) unless it exists already, so ours comes first.
        # https://docs.aws.amazon.com/eks/latest/userguide/control-plane-logs.html
        return f"/aws/eks/{self.cluster}/cluster"

    def nodegroup(self, zone: Zone) -> str:
        return f"{self.prefix}-nodes-{zone.suffix}"

    @property
    def launch_template(self) -> str:
        """The node groups' launch template (launch_template.py)."""
        return f"{self.prefix}-eks-nodes"

    def addon_role(self, addon: AddonConfig) -> str:
        return f"{self.prefix}-{addon.name}"

    def private_subnet(self, zone: Zone) -> str:
        return NetworkNames(self.cfg).subnet("private", zone)

    def private_route_table(self, zone: Zone) -> str:
        return NetworkNames(self.cfg).private_rt(zone)


    # Change keys ("kind:name") that dependents list in ``needs``.
    @property
    def k_key(self) -> str:
        region = self.cfg.project.region
        return kms_key.change_key(self.key_alias, region, region)

    def k_role(self, name: str) -> str:
        return change_key("iam-role", name)

    @property
    def k_log_group(self) -> str:
        return change_key("log-group", self.log_group)

    @property
    def k_cluster(self) -> str:
        return change_key("eks-cluster", self.cluster)

    @property
    def k_cluster_version(self) -> str:
        return change_key("eks-version", self.cluster)

    @property
    def k_oidc(self) -> str:
        return change_key("oidc-provider", self.cluster)

    def k_nodegroup(self, zone: Zone) -> str:
        return change_key("nodegroup", self.nodegroup(zone))

    @property
    def k_launch_template(self) -> str:
        return change_key("launch-template", self.launch_template)

    def k_private_subnet(self, zone: Zone) -> str:
        return NetworkNames(self.cfg).k_subnet("private", zone)

    def k_private_route_table(self, zone: Zone) -> str:
        return NetworkNames(self.cfg).k_private_rt(zone)


class Out:
    """ctx.outputs keys this stage sets (the secrets key's ARN: Names.key_arn_output)."""

    CLUSTER_ARN = "eks:cluster-arn"
    CLUSTER_VERSION = "eks:cluster-version"
    OIDC_ISSUER = "eks:oidc-issuer"
    OIDC_ARN = "eks:oidc-provider-arn"
    CLUSTER_SG = "sg:eks-cluster"  # the security group EKS puts on the control plane and managed nodes
    LAUNCH_TEMPLATE = "eks:launch-template"  # {"id": ..., "version": ...} the node groups use

    @staticmethod
    def role_arn(name: str) -> str:
        return f"iam-role-arn:{name}"


_KIT = kit.StageKit(NAME)
change, maybe_update, desired_tags = _KIT.change, _KIT.maybe_update, _KIT.tags


def issues(health: dict | None) -> str:
    """AWS's health issues of a cluster, node group or add-on, as one line."""
    found = (health or {}).get("issues") or []
    return "; ".join(f"{i.get('code', '')}: {i.get('message', '')}".strip(": ") for i in found)


def minor(version: str | None) -> int:
    """'1.31' -> 31; anything else (None, '') -> 0."""
    try:
        return int(str(version).split(".")[1])
    except (IndexError, ValueError):
        return 0


# --------------------------------------------------------------------------
# waits


def wait_update(ctx: Context, what: str, update: dict | None, budget: float, **where: str) -> None:
    """Wait for an EKS update (config, version, add-on) to finish.

    ``where`` names what the update is on (nodegroupName=, addonName=), as
    DescribeUpdate wants it. An update AWS reports Successful at once (or
    none at all: the sandbox applies updates at once and returns no update
    record) needs no wait.
    """
    if not update or update.get("status") == "Successful":
        return
    eks = ctx.client("eks")
    cluster, update_id = ctx.cfg.project.cluster_name, update["id"]

    def poll() -> tuple[str, str]:
        got = eks.describe_update(name=cluster, updateId=update_id, **where)["update"]
        errors = "; ".join(f"{e.get('errorCode', '')}: {e.get('errorMessage', '')}" for e in got.get("errors") or [])
        return got["status"], errors

    wait_for(ctx, f"{what} (update {update_id})", poll, {"Successful"}, {"Failed", "Cancelled"}, budget)


def waiter(ctx: Context, what: str, describe: Callable[[], dict], done: set[str], failed: set[str], budget: float) -> dict:
    """wait_for over a describe call; returns the last description."""
    last: dict[str, Any] = {}

    def poll() -> tuple[str, str]:
        last["item"] = describe()
        return last["item"]["status"], issues(last["item"].get("health"))

    wait_for(ctx, what, poll, done, failed, budget)
    return last["item"]
