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


@dataclass(frozen=True)
class WorkloadNames:
    cfg: Config

    @property
    def prefix(self) -> str:
        return self.cfg.project.prefix

    @property
    def namespace(self) -> str:
        return self.cfg.project.namespace

    @property
    def backend_role(self) -> str:
        """The backend's IRSA role (its name predates this stage: the eks stage made it first)."""
        return f"{self.prefix}-{self.cfg.eks.irsa.service_account}"

    @property
    def controller_role(self) -> str:
        return f"{self.prefix}-aws-load-balancer-controller"

    def role_arn(self, name: str) -> str:
        p = self.cfg.project
        return f"arn:{kit.partition(p.region)}:iam::{p.account_id}:role/{name}"

    @property
    def k_backend_role(self) -> str:
        return change_key("iam-role", self.backend_role)

    @property
    def k_controller_role(self) -> str:
        return change_key("iam-role", self.controller_role)

    @staticmethod
    def k_object(obj: dict) -> str:
        meta = obj["metadata"]
        return change_key(f"k8s-{obj['kind']}", f"{meta.get('namespace', '')}/{meta['name']}".lstrip("/"))


@dataclass
class Found:
    roles: dict[str, dict] = field(default_factory=dict)  # RoleDetail by name (ours only)
    cluster: dict | None = None  # DescribeCluster's, live only: the API endpoint and CA


_KIT = kit.StageKit(NAME)
change, maybe_update, tags = _KIT.change, _KIT.maybe_update, _KIT.tags
STAGE = _KIT
