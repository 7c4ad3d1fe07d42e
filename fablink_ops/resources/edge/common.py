"""Names, change keys and the discovery snapshot shared by the edge modules."""

from __future__ import annotations

from dataclasses import dataclass, field

from ...config import Config
from ...engine import change_key
from ...errors import OpsError
from .. import kit
from ..network import Names as NetworkNames

NAME = "edge"

PROXY_PATH = "/{proxy+}"
ROOT_PATH = "/"
# The stage variable (and deployment description) that records which API
# definition is deployed: a new deployment only when it changes.
DEFINITION_VARIABLE = "fablinkOpsDefinition"
DEPLOYMENT_PREFIX = "fablink-ops definition "

# Blue-green (invoke release). The integrations send every request to
# http://${stageVariables.backendHost}/...: the NLB's DNS name and the live
# colour's listener port (each colour has its own listener and target group).
# liveColour names the colour; the release runbook switches both, and
# overrides both for canary traffic. These variables, and the image each
# colour runs, are the runbook's: provision sets them only where missing.
COLOURS = ("blue", "green")
COLOUR_VARIABLE = "liveColour"
ENDPOINT_VARIABLE = "backendHost"
IMAGE_VARIABLES = {"blue": "blueImage", "green": "greenImage"}


@dataclass(frozen=True)
class EdgeNames:
    cfg: Config

    @property
    def edge(self):
        return self.cfg.edge

    @property
    def nlb(self) -> str:
        return self.edge.nlb_name

    @property
    def target_group(self) -> str:
        return self.edge.target_group_name

    @property
    def listener(self) -> str:
        return self.listener_of("blue")

    def target_group_of(self, colour: str) -> str:
        return self.edge.green_target_group_name if colour == "green" else self.edge.target_group_name

    def port_of(self, colour: str) -> int:
        return self.edge.green_listener_port if colour == "green" else self.edge.listener_port

    def listener_of(self, colour: str) -> str:
        return f"{self.nlb}:{self.port_of(colour)}"

    @property
    def vpc_link(self) -> str:
        return self.edge.api.vpc_link_name

    @property
    def api(self) -> str:
        return self.edge.api.name

    @property
    def stage(self) -> str:
        return self.edge.api.stage_name

    @property
    def access_log_group(self) -> str:
        return self.edge.api.access_log_group

    def execution_log_group(self, api_id: str) -> str:
        # Named by API Gateway itself; we create it first so it gets a retention.
        # https://docs.aws.amazon.com/apigateway/latest/developerguide/set-up-logging.html
        return f"API-Gateway-Execution-Logs_{api_id}/{self.stage}"

    @property
    def role(self) -> str:
        return self.edge.api.cloudwatch_role_name

    @property
    def usage_plan(self) -> str:
        return self.edge.rate_limit.usage_plan_name

    @property
    def api_keys(self) -> list[str]:
        """One API key per client (issue 17 item 10)."""
        return self.edge.rate_limit.api_key_names()

    @property
    def domain(self) -> str:
        return self.cfg.project.domain

    @property
    def base_path(self) -> str:
        # API Gateway reports the empty (root) base path as "(none)".
        return self.edge.domain.base_path or "(none)"

    @property
    def waf(self) -> str:
        return self.edge.waf.name

    @property
    def waf_log_group(self) -> str:
        return self.edge.waf.log_group

    @property
    def subnet_tier(self) -> str:
        return "public" if self.edge.nlb_scheme == "internet-facing" else "private"

    def subnets(self) -> list[str]:
        net = NetworkNames(self.cfg)
        return [net.subnet(self.subnet_tier, z) for z in self.cfg.network.zones]

    @property
    def nlb_security_group(self) -> str:
        return NetworkNames(self.cfg).security_group(self.edge.nlb_security_group_tier)

    @property
    def nlb_security_group_output(self) -> str:
        # the network stage records each tier's group id under sg:<tier>
        return f"sg:{self.edge.nlb_security_group_tier}"

    @property
    def k_nlb_security_group(self) -> str:
        return change_key("security-group", self.nlb_security_group)

    @property
    def vpc_key(self) -> str:
        return change_key("vpc", NetworkNames(self.cfg).vpc)

    def stage_arn(self, region: str, api_id: str) -> str:
        return f"arn:aws:apigateway:{region}::/restapis/{api_id}/stages/{self.stage}"

    # change keys ("kind:name"), so dependents can name what they need
    @property
    def k_nlb(self) -> str:
        return change_key("load-balancer", self.nlb)

    @property
    def k_tg(self) -> str:
        return self.k_tg_of("blue")

    def k_tg_of(self, colour: str) -> str:
        return change_key("target-group", self.target_group_of(colour))

    @property
    def k_vpc_link(self) -> str:
        return change_key("vpc-link", self.vpc_link)

    @property
    def k_api(self) -> str:
        return change_key("rest-api", self.api)

    @property
    def k_proxy(self) -> str:
        return change_key("api-resource", PROXY_PATH)

    def k_method(self, path: str) -> str:
        return change_key("api-method", f"ANY {path}")

    @property
    def k_stage(self) -> str:
        return change_key("api-stage", self.stage)

    @property
    def k_access_logs(self) -> str:
        return change_key("log-group", self.access_log_group)

    @property
    def k_waf_log_group(self) -> str:
        return change_key("log-group", self.waf_log_group)

    @property
    def k_role(self) -> str:
        return change_key("iam-role", self.role)

    @property
    def k_account(self) -> str:
        return change_key("apigateway-account", "cloudwatch-role")

    def k_api_key(self, name: str) -> str:
        return change_key("api-key", name)

    @property
    def k_certificate(self) -> str:
        return change_key("certificate", self.domain)

    @property
    def k_domain(self) -> str:
        return change_key("domain-name", self.domain)

    @property
    def k_waf(self) -> str:
        return change_key("web-acl", self.waf)



class Out:
    """ctx.outputs keys this stage sets ("edge:<what>"), for its later changes' runs."""

    ACCESS_LOG_ARN = "edge:access-log-arn"
    API_KEY = "edge:api-key:"  # + the key's name
    APIGW_ROLE_ARN = "edge:apigw-role-arn"
    CERTIFICATE_ARN = "edge:certificate-arn"
    DOMAIN_TARGET = "edge:domain-target"
    NLB_ARN = "edge:nlb-arn"
    NLB_DNS = "edge:nlb-dns"
    REST_API = "edge:rest-api"
    REST_API_ROOT = "edge:rest-api-root"
    STAGE_ARN = "edge:stage-arn"
    STAGE_VARIABLES = "edge:stage-variables"  # the stage's variables as read: the live colour and each colour's image
    TG_ARN = "edge:tg-arn"  # blue's
    TG_GREEN_ARN = "edge:tg-arn-green"

    @staticmethod
    def tg_arn(colour: str) -> str:
        return Out.TG_GREEN_ARN if colour == "green" else Out.TG_ARN
    USAGE_PLAN = "edge:usage-plan"
    VPC_LINK = "edge:vpc-link"
    WEB_ACL_ARN = "edge:web-acl-arn"


@dataclass
class Found:
    """What discovery read; each module fills its part."""

    nlb: dict | None = None
    nlb_attrs: dict[str, str] = field(default_factory=dict)
    listeners: list[dict] = field(default_factory=list)
    target_groups: dict[str, dict] = field(default_factory=dict)  # by colour
    elb_tags: dict[str, dict[str, str]] = field(default_factory=dict)  # by ARN
    vpc_link: dict | None = None
    api: dict | None = None
    resources: list[dict] = field(default_factory=list)
    stage: dict | None = None
    account: dict = field(default_factory=dict)
    role: dict | None = None  # RoleDetail of the account-wide logging role
    role_policy: dict | None = None  # its inline policy; None: none yet
    log_groups: dict[str, dict] = field(default_factory=dict)
    api_keys: dict[str, dict] = field(default_factory=dict)  # by name
    usage_plan: dict | None = None
    usage_plan_key_ids: set[str] = field(default_factory=set)
    certificate: dict | None = None  # describe_certificate's Certificate
    domain: dict | None = None
    mappings: list[dict] = field(default_factory=list)
    web_acl: dict | None = None  # get_web_acl's WebACL
    web_acl_lock: str = ""
    waf_logging: dict | None = None  # get_logging_configuration's LoggingConfiguration


_KIT = kit.StageKit(NAME)
change, maybe_update, tags = _KIT.change, _KIT.maybe_update, _KIT.tags


def one_by_name(items: list[dict], name: str, kind: str, key: str = "id", name_key: str = "name") -> dict | None:
    """The one item called ``name``; two is an error naming both (find refuses to guess)."""
    matches = [i for i in items if i.get(name_key) == name]
    if len(matches) > 1:
        ids = " and ".join(str(m.get(key)) for m in matches[:2])
        raise OpsError(f"two {kind}s are named {name}: {ids}; remove one, then re-run")
    return matches[0] if matches else None


def apigw_arn(region: str, path: str) -> str:
    """The ARN API Gateway's tag_resource takes: arn:aws:apigateway:REGION::/restapis/ID ..."""
    return f"arn:aws:apigateway:{region}::{path}"
