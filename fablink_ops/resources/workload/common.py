"""Names, output keys and the discovery snapshot shared by the workload modules."""

from __future__ import annotations

from dataclasses import dataclass, field

from ...config import Config
from ...engine import change_key
from .. import kit

NAME = "workload"
# What the other stages record in ctx.outputs and this one reads (their Out
# classes would import their packages; the keys are the contract).
TG_ARN = {"blue": "edge:tg-arn", "green": "edge:tg-arn-green"}  # edge Out.TG_ARN / Out.TG_GREEN_ARN
AURORA_ENDPOINT, AURORA_READER, AURORA_RESOURCE_ID = "aurora:endpoint", "aurora:reader-endpoint", "aurora:resource-id"
VPC_ID = "vpc"


class WorkloadNames:
    """Every name the stage uses, from the config. The backend role's name
    predates this stage (the eks stage made it first), so it is kept."""

    def __init__(self, cfg: Config):
        p = cfg.project
        self.cfg, self.namespace = cfg, p.namespace
        self.backend_role = f"{p.prefix}-{cfg.eks.irsa.service_account}"
        self.controller_role = f"{p.prefix}-aws-load-balancer-controller"
        self.k_backend_role = change_key("iam-role", self.backend_role)
        self.k_controller_role = change_key("iam-role", self.controller_role)
        self._arn = f"arn:{kit.partition(p.region)}:iam::{p.account_id}:role/"

    def role_arn(self, name: str) -> str:
        return self._arn + name

    @staticmethod
    def k_object(obj: dict) -> str:
        """A Kubernetes object's change key: k8s-<Kind>:<namespace>/<name>."""
        meta = obj["metadata"]
        return change_key(f"k8s-{obj['kind']}", f"{meta.get('namespace', '')}/{meta['name']}".lstrip("/"))


@dataclass
class Found:
    roles: dict[str, dict] = field(default_factory=dict)  # RoleDetail by name (ours only)
    cluster: dict | None = None  # DescribeCluster's, live only: the API endpoint and CA


_KIT = kit.StageKit(NAME)
change, maybe_update, tags = _KIT.change, _KIT.maybe_update, _KIT.tags
STAGE = _KIT
