"""The rules of the fidelity layer: one entry per AWS behaviour moto lacks.

Each rule names the AWS documentation or the issue that describes the
behaviour. ``WINDOWS`` holds how many matching calls a window answers with
the error (a test widens one to prove a budget; 0 turns a rule off).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Callable

from botocore.exceptions import ConnectionClosedError

from . import canary

if TYPE_CHECKING:
    from . import FidelityLayer


@dataclass(frozen=True)
class Call:
    service: str  # botocore service name: "dynamodb", "eks"
    operation: str  # "DescribeTable"
    params: dict[str, Any]  # the request's parameters
    parsed: dict[str, Any] | None  # moto's answer (after-call only)


Answer = tuple[int, str, str]  # (HTTP status, error code, message)


@dataclass(frozen=True)
class Rule:
    name: str
    link: str  # where AWS documents (or an issue tracker shows) the behaviour
    service: str
    operations: frozenset[str] = field(default_factory=frozenset)  # empty: every operation of the service ("*": of all)
    before: Callable[["FidelityLayer", Call], Answer | dict | None] | None = None
    after: Callable[["FidelityLayer", Call], None] | None = None

    def matches(self, call: Call) -> bool:
        if self.service != "*" and call.service != self.service:
            return False
        return not self.operations or call.operation in self.operations


# How many calls each window answers with its error in the sandbox and the
# tests. Small: the code path is AWS's, the run stays fast.
WINDOWS: dict[str, int] = {
    "dynamodb-table-not-found-after-create": 1,
    "nat-gateway-not-found-after-create": 1,
    "iam-role-not-assumable-by-eks-yet": 2,
    "pitr-being-enabled": 2,
    "waf-cannot-see-new-stage-yet": 2,
    # on by default through real races (apigateway-concurrent-modification); forced per kind only in tests
    "apigateway-conflict-on-first-write": 0,
}


def _window(layer: "FidelityLayer", rule: str, key: str) -> None:
    layer.remember(f"{rule}:{key}", layer.windows.get(rule, 0))


def _in_window(layer: "FidelityLayer", rule: str, key: str) -> bool:
    return layer.take(f"{rule}:{key}")


# ----- eventual consistency: NotFound right after a create ------------------

DDB_NOT_FOUND = "dynamodb-table-not-found-after-create"


def _table_created(layer: "FidelityLayer", call: Call) -> None:
    _window(layer, DDB_NOT_FOUND, call.params.get("TableName", ""))
    _window(layer, PITR, call.params.get("TableName", ""))


def _describe_table(layer: "FidelityLayer", call: Call) -> Answer | None:
    name = call.params.get("TableName", "")
    if _in_window(layer, DDB_NOT_FOUND, name):
        return 400, "ResourceNotFoundException", f"Requested resource not found: Table: {name} not found"
    return None


NAT_NOT_FOUND = "nat-gateway-not-found-after-create"


def _nat_created(layer: "FidelityLayer", call: Call) -> None:
    _window(layer, NAT_NOT_FOUND, ((call.parsed or {}).get("NatGateway") or {}).get("NatGatewayId", ""))


def _describe_nat(layer: "FidelityLayer", call: Call) -> Answer | None:
    for nat_id in call.params.get("NatGatewayIds") or []:
        if _in_window(layer, NAT_NOT_FOUND, nat_id):
            return 400, "NatGatewayNotFound", f"NAT gateway {nat_id} was not found"
    return None


# ----- IAM propagation: a new role is not assumable by EKS at once ------------

IAM_EKS = "iam-role-not-assumable-by-eks-yet"


def _role_created(layer: "FidelityLayer", call: Call) -> None:
    _window(layer, IAM_EKS, ((call.parsed or {}).get("Role") or {}).get("Arn", ""))


def _create_cluster(layer: "FidelityLayer", call: Call) -> Answer | None:
    arn = call.params.get("roleArn", "")
    if _in_window(layer, IAM_EKS, arn):
        return 400, "InvalidParameterException", (
            f"Role with arn: {arn}, could not be assumed because it does not exist or the trusted entity is not correct"
        )
    return None


# ----- slow enabling: PITR, and WAF seeing a new stage ------------------------

PITR = "pitr-being-enabled"


def _update_backups(layer: "FidelityLayer", call: Call) -> Answer | None:
    name = call.params.get("TableName", "")
    if _in_window(layer, PITR, name):
        return 400, "ContinuousBackupsUnavailableException", f"Backups are being enabled for the table: {name}. Please retry later"
    return None


WAF_STAGE = "waf-cannot-see-new-stage-yet"


def _stage_created(layer: "FidelityLayer", call: Call) -> None:
    key = f"/restapis/{call.params.get('restApiId')}/stages/{call.params.get('stageName')}"
    _window(layer, WAF_STAGE, key)
    layer.remember(f"{WAF_STAGE}:first:{key}", True)


def _associate_web_acl(layer: "FidelityLayer", call: Call) -> Answer | None:
    arn = call.params.get("ResourceArn", "")
    key = arn[arn.find("/restapis/"):] if "/restapis/" in arn else arn
    if not _in_window(layer, WAF_STAGE, key):
        return None
    if layer.recall(f"{WAF_STAGE}:first:{key}"):  # both codes are seen; the first answer names the item missing
        layer.remember(f"{WAF_STAGE}:first:{key}", False)
        return 400, "WAFNonexistentItemException", "AWS WAF couldn't perform the operation because your resource doesn't exist."
    return 400, "WAFUnavailableEntityException", (
        "AWS WAF couldn't retrieve the resource that you requested. Retry your request."
    )


# ----- API Gateway: writes on one REST API collide ---------------------------

APIGW_CONFLICT = "apigateway-concurrent-modification"
APIGW_FIRST_WRITE = "apigateway-conflict-on-first-write"
_CONFLICT = (409, "ConflictException", "Unable to complete operation due to concurrent modification. Please try again later.")
# What an API Gateway write modifies: a REST API, a usage plan, a domain name
# (target.SERIAL_WRITES queues the tool's own writes on the same ones).
APIGW_PARENTS = ("restApiId", "usagePlanId", "domainName")


def races(service: str, operation: str) -> bool:
    """Whether writes of this operation can race (known from the operation alone,
    so wire.py parses a request for its race_key only then)."""
    return service == "apigateway" and not operation.startswith("Get")


def race_key(call: Call) -> str | None:
    """The key under which API Gateway writes race: what the write modifies."""
    if not races(call.service, call.operation):
        return None
    return next((f"apigateway:{name}={call.params[name]}" for name in APIGW_PARENTS if call.params.get(name)), None)


def _apigw_raced(layer: "FidelityLayer", call: Call) -> Answer | None:
    """A write on an API that arrives while another write on it is in flight
    (queued or being answered) conflicts, as on AWS where both would be in
    progress at once; sequential writes never do (a client making one call
    after another, the aws CLI)."""
    key = race_key(call)
    if key and layer.raced(key):
        return _CONFLICT
    return None


_APIGW_FIRST_WRITES = {
    # operation -> the parameter naming what the write modifies
    "CreateResource": "restApiId",
    "CreateStage": "restApiId",
    "CreateUsagePlanKey": "usagePlanId",
    "CreateBasePathMapping": "domainName",
}


def _apigw_first_write(layer: "FidelityLayer", call: Call) -> Answer | None:
    """The first write of each kind on an API conflicts, whatever the timing:
    off by default (window 0); a test turns it on to take each create path's
    conflict handling for certain, where a real race may not happen."""
    key = f"{call.operation}:{call.params.get(_APIGW_FIRST_WRITES[call.operation], '')}"
    if layer.recall(f"{APIGW_FIRST_WRITE}:seen:{key}"):
        return None
    layer.remember(f"{APIGW_FIRST_WRITE}:seen:{key}")
    _window(layer, APIGW_FIRST_WRITE, key)
    return _CONFLICT if _in_window(layer, APIGW_FIRST_WRITE, key) else None


# ----- what EKS reports and moto omits ----------------------------------------


def _nodegroup_update_strategy(layer: "FidelityLayer", call: Call) -> None:
    ng = (call.parsed or {}).get("nodegroup")
    if isinstance(ng, dict):
        config = ng.setdefault("updateConfig", {"maxUnavailable": 1})
        config.setdefault("updateStrategy", "DEFAULT")


def _cluster_security_group(layer: "FidelityLayer", call: Call) -> None:
    cluster = (call.parsed or {}).get("cluster")
    if not isinstance(cluster, dict) or layer.helper_client is None:
        return
    vpc_config = cluster.setdefault("resourcesVpcConfig", {})
    if vpc_config.get("clusterSecurityGroupId"):
        return
    if not vpc_config.get("vpcId") and not vpc_config.get("subnetIds"):
        return  # an answer with no VPC (a stubbed test's): nothing to place the group in
    vpc_config["clusterSecurityGroupId"] = _ensure_cluster_group(layer, cluster["name"], vpc_config)


def _ensure_cluster_group(layer: "FidelityLayer", cluster: str, vpc_config: dict) -> str:
    """The group EKS makes in the cluster's VPC (eks-cluster-sg-NAME-...): made
    in moto by an uncounted client, found by name on later runs."""
    with layer.lock:
        known = layer.recall(f"cluster-sg:{cluster}")
        if known:
            return known
        ec2 = layer.helper_client("ec2")
        group_name = f"eks-cluster-sg-{cluster}-fidelity"
        groups = ec2.describe_security_groups(Filters=[{"Name": "group-name", "Values": [group_name]}])["SecurityGroups"]
        if groups:
            group_id = groups[0]["GroupId"]
        else:
            vpc_id = vpc_config.get("vpcId")
            if not vpc_id and vpc_config.get("subnetIds"):
                vpc_id = ec2.describe_subnets(SubnetIds=vpc_config["subnetIds"][:1])["Subnets"][0]["VpcId"]
            group_id = ec2.create_security_group(
                GroupName=group_name, VpcId=vpc_id,
                Description="EKS created security group applied to ENI that is attached to EKS Control Plane master nodes",
            )["GroupId"]
        layer.remember(f"cluster-sg:{cluster}", group_id)
        return group_id


# ----- idempotency tokens: the same token, the same (earlier) answer ----------

EKS_TOKENS = "eks-update-token-idempotency"


def _eks_update_answered(layer: "FidelityLayer", call: Call) -> None:
    token = call.params.get("clientRequestToken")
    if token:
        layer.remember(f"{EKS_TOKENS}:{call.operation}:{token}", call.parsed)


def _eks_update_again(layer: "FidelityLayer", call: Call) -> dict | None:
    """EKS returns the update a token already made, and changes nothing: a
    token reused for a new change is a silent no-op (moto ignores tokens)."""
    token = call.params.get("clientRequestToken")
    earlier = layer.recall(f"{EKS_TOKENS}:{call.operation}:{token}") if token else None
    return dict(earlier) if earlier else None


# ----- random server errors and dropped connections (seeded; on by default) ---


def _fault_draws(layer: "FidelityLayer", call: Call) -> tuple[float, float]:
    """Two numbers in [0, 1) for the n-th attempt of this operation (say the
    3rd CreateSubnet): a hash of the seed, the operation and n, not a shared
    random stream, so whether it fails does not depend on how concurrent
    calls of other operations interleave, and a run meets as many faults,
    on the same operations, every time (a failing test reproduces; a crash
    test's write count stays). Not the parameters: they carry the ids AWS
    (and moto) draw at random, and the update tokens new each run."""
    key = f"server-errors:{call.service}:{call.operation}"
    with layer.lock:
        nth = layer.memory.get(key, 0) + 1
        layer.memory[key] = nth
    digest = hashlib.sha256(f"{layer.seed}|{key}|{nth}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64, int.from_bytes(digest[8:16], "big") / 2**64


def _random_fault(layer: "FidelityLayer", call: Call) -> Answer | None:
    if layer.error_rate <= 0:
        return None
    draw, kind = _fault_draws(layer, call)
    if draw >= layer.error_rate:
        return None
    if kind < 0.25:  # botocore raises this when the server hangs up mid-answer
        raise ConnectionClosedError(endpoint_url=f"https://{call.service}.amazonaws.com (fidelity layer)")
    if kind < 0.6:
        return 503, "ServiceUnavailable", "Service Unavailable"
    return 500, "InternalError", "We encountered an internal error. Please try again."


def _ops(*names: str) -> frozenset[str]:
    return frozenset(names)


RULES: list[Rule] = [
    Rule(DDB_NOT_FOUND, "https://docs.aws.amazon.com/amazondynamodb/latest/APIReference/API_DescribeTable.html "
         "(right after CreateTable, DescribeTable may answer ResourceNotFoundException; botocore's TableExists waiter retries it)",
         "dynamodb", _ops("DescribeTable"), before=_describe_table),
    Rule("dynamodb-table-created", "(records the create: starts the NotFound and PITR windows)",
         "dynamodb", _ops("CreateTable"), after=_table_created),
    Rule(NAT_NOT_FOUND, "https://docs.aws.amazon.com/AWSEC2/latest/APIReference/query-api-troubleshooting.html#eventual-consistency "
         "(botocore's NatGatewayAvailable waiter retries NatGatewayNotFound)",
         "ec2", _ops("DescribeNatGateways"), before=_describe_nat),
    Rule("nat-gateway-created", "(records the create)", "ec2", _ops("CreateNatGateway"), after=_nat_created),
    Rule(IAM_EKS, "https://github.com/hashicorp/terraform-provider-aws/blob/main/internal/service/eks/cluster.go "
         "(CreateCluster retried ~2 min on InvalidParameterException 'could not be assumed': IAM propagation)",
         "eks", _ops("CreateCluster"), before=_create_cluster),
    Rule("iam-role-created", "(records the create)", "iam", _ops("CreateRole"), after=_role_created),
    Rule(PITR, "https://docs.aws.amazon.com/amazondynamodb/latest/APIReference/API_UpdateContinuousBackups.html "
         "(ContinuousBackupsUnavailableException; terraform-provider-aws waits up to 20 min)",
         "dynamodb", _ops("UpdateContinuousBackups"), before=_update_backups),
    Rule(WAF_STAGE, "https://docs.aws.amazon.com/waf/latest/APIReference/API_AssociateWebACL.html "
         "(WAFUnavailableEntityException: 'you might just need to wait a few minutes'; terraform-provider-aws retries "
         "WAFUnavailableEntityException and WAFNonexistentItemException for 5 min)",
         "wafv2", _ops("AssociateWebACL"), before=_associate_web_acl),
    Rule("apigateway-stage-created", "(records the create)", "apigateway", _ops("CreateStage"), after=_stage_created),
    Rule(APIGW_CONFLICT, "https://github.com/hashicorp/terraform-provider-aws/issues/9014 "
         "(ConflictException 'Unable to complete operation due to concurrent modification' on parallel writes to one API)",
         "apigateway", before=_apigw_raced),
    Rule(APIGW_FIRST_WRITE, "https://github.com/hashicorp/terraform-provider-aws/issues/9014 (the same answer, "
         "forced on the first write of each kind: tests widen its window from 0)",
         "apigateway", frozenset(_APIGW_FIRST_WRITES), before=_apigw_first_write),
    Rule("eks-nodegroup-update-strategy", "https://docs.aws.amazon.com/eks/latest/APIReference/API_NodegroupUpdateConfig.html "
         "(DescribeNodegroup reports updateConfig.updateStrategy, DEFAULT unless set)",
         "eks", _ops("CreateNodegroup", "DescribeNodegroup", "UpdateNodegroupConfig"), after=_nodegroup_update_strategy),
    Rule("eks-cluster-security-group", "https://docs.aws.amazon.com/eks/latest/userguide/sec-group-reqs.html "
         "(EKS creates a cluster security group and reports it in resourcesVpcConfig.clusterSecurityGroupId)",
         "eks", _ops("CreateCluster", "DescribeCluster"), after=_cluster_security_group),
    Rule(EKS_TOKENS, "https://docs.aws.amazon.com/eks/latest/APIReference/API_UpdateClusterConfig.html "
         "(clientRequestToken: 'a unique, case-sensitive identifier ... to ensure the idempotency of the request')",
         "eks", _ops("UpdateClusterConfig", "UpdateNodegroupConfig"), before=_eks_update_again, after=_eks_update_answered),
    Rule("apigateway-canary-deployment", canary.LINK + " (CreateDeployment with canarySettings: the stage's canary, "
         "its own deployment unchanged; moto ignores canary settings)",
         "apigateway", _ops("CreateDeployment"), before=canary.create_deployment),
    Rule("apigateway-canary-stage-update", canary.LINK + " (UpdateStage /canarySettings/...: percentTraffic, "
         "stageVariableOverrides, remove, promotion's copies; no other deployment while a canary is on)",
         "apigateway", _ops("UpdateStage"), before=canary.update_stage, after=canary.present_stage),
    Rule("apigateway-canary-reported", canary.LINK + " (GetStage and GetStages report canarySettings)",
         "apigateway", _ops("GetStage", "GetStages", "CreateStage"), after=canary.present_stage),
    Rule("server-errors", "https://docs.aws.amazon.com/general/latest/gr/api-retries.html "
         "(5xx and dropped connections happen; clients retry them)",
         "*", before=_random_fault),
]
