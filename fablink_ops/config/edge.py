"""[edge]: the Network Load Balancer, API Gateway (stage, rate limit,
custom domain) and the WAF web ACL in front of it."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING

from .checks import _between, _fail, _one_of, _pattern, _positive, check

if TYPE_CHECKING:
    from .loader import Config


NLB_NAME = _pattern(r"[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?", 32, "load balancer name")
API_NAME = _pattern(r"[\w .\-]+", 1024, "API name")
STAGE_NAME = _pattern(r"[A-Za-z0-9_]+", 128, "API Gateway stage name")
LOG_GROUP_NAME = _pattern(r"[\w\-./#]+", 512, "log group name")
IAM_ROLE_NAME = _pattern(r"[\w+=,.@-]+", 64, "IAM role name")
API_GW_RESOURCE_NAME = _pattern(r"[\w .\-]+", 128, "API Gateway name")
WAF_NAME = _pattern(r"[\w\-]+", 128, "WAF web ACL name")


def _port(value: int) -> str | None:
    return None if 0 < value < 65536 else f"{value} is not a TCP port"


@dataclass(frozen=True)
class HealthCheckConfig:
    """Design doc: Health checks and probes. Limits are the NLB's:
    https://docs.aws.amazon.com/elasticloadbalancing/latest/network/target-group-health-checks.html"""

    protocol: str = check(_one_of("HTTP", "HTTPS"))
    path: str = check(_pattern(r"/[\w\-./~%]*", 1024, "health check path"))
    interval_seconds: int = check(_between(5, 300))
    timeout_seconds: int = check(_between(2, 120))
    unhealthy_threshold: int = check(_between(2, 10))
    healthy_threshold: int = check(_between(2, 10))
    matcher: str = check(_pattern(r"[2-4]\d\d(?:-[2-4]\d\d)?(?:,[2-4]\d\d)*", 64, "HTTP code matcher (200, 200-399, 200,202)"))


@dataclass(frozen=True)
class ApiConfig:
    """Design doc: API Gateway."""

    name: str = check(API_NAME)
    endpoint_type: str = check(_one_of("REGIONAL"))  # the WAF web ACL is REGIONAL too
    stage_name: str = check(STAGE_NAME)
    vpc_link_name: str = check(API_GW_RESOURCE_NAME)
    vpc_link_wait_minutes: float = check(_positive)
    access_log_group: str = check(LOG_GROUP_NAME)
    execution_log_level: str = check(_one_of("INFO", "ERROR", "OFF"))
    metrics_enabled: bool
    tracing_enabled: bool
    cloudwatch_role_name: str = check(IAM_ROLE_NAME)


@dataclass(frozen=True)
class RateLimitConfig:
    """Design doc: "Rate Limiting (1000 req/min)", "API key authentication"."""

    requests_per_minute: int = check(_positive)
    burst: int = check(_between(1, 5000))  # the account's default burst quota
    usage_plan_name: str = check(API_GW_RESOURCE_NAME)
    # Issue 17 item 10: usage-plan throttling applies per API key, so each
    # client gets its own key (named <api_key_prefix>-<client>) and its own
    # requests_per_minute; the whole API is limited by the stage's throttle.
    api_key_prefix: str = check(API_GW_RESOURCE_NAME)
    clients: tuple[str, ...] = check(lambda v: None if v and len(set(v)) == len(v) and all(re.fullmatch(r"[a-z0-9][a-z0-9-]{0,30}", c) for c in v)
                                     else f"{list(v)}: one or more distinct client names (lowercase letters, digits, hyphens)")

    @property
    def requests_per_second(self) -> float:
        """API Gateway throttles per second. Rounded down (4 decimals) so the
        configured per-minute figure is never exceeded: 1000/min -> 16.6666/s."""
        return int(self.requests_per_minute / 60 * 10_000) / 10_000

    def api_key_names(self) -> list[str]:
        return [f"{self.api_key_prefix}-{c}" for c in self.clients]


@dataclass(frozen=True)
class DomainConfig:
    """Design doc: "Custom Domain", "SSL Certificate: AWS Certificate Manager"."""

    security_policy: str = check(_one_of("TLS_1_0", "TLS_1_2"))
    base_path: str = check(lambda v: None if v == "" or re.fullmatch(r"[\w.\-]+", v) else f"{v!r} is not a base path (letters, digits, . _ -; empty for the root)")
    certificate_wait_minutes: float = check(_positive)


@dataclass(frozen=True)
class WafConfig:
    """Design doc: Security, "AWS WAF on API Gateway"."""

    name: str = check(WAF_NAME)
    managed_rule_groups: tuple[str, ...]
    # https://docs.aws.amazon.com/waf/latest/APIReference/API_RateBasedStatement.html
    rate_limit_per_ip: int = check(_between(10, 2_000_000_000))
    rate_window_seconds: int = check(_one_of(60, 120, 300, 600))  # type: ignore[arg-type]
    # Issue 17 item 4: WAF logs to CloudWatch Logs only into a group whose name
    # starts with aws-waf-logs- (AWS's rule), with these headers redacted.
    # https://docs.aws.amazon.com/waf/latest/developerguide/logging-cw-logs.html
    log_group: str = check(_pattern(r"aws-waf-logs-[\w\-_./#]+", 512, "WAF log group name (aws-waf-logs-...)"))
    redacted_headers: tuple[str, ...] = check(lambda v: None if all(re.fullmatch(r"[a-z0-9-]{1,64}", h) for h in v)
                                             else f"{list(v)}: header names in lowercase (letters, digits, hyphens)")


@dataclass(frozen=True)
class EdgeConfig:
    """Design doc: Network architecture (API Gateway, Network Load Balancer)."""

    nlb_name: str = check(NLB_NAME)
    nlb_scheme: str = check(_one_of("internet-facing", "internal"))
    nlb_cross_zone: bool
    nlb_deletion_protected: bool
    nlb_wait_minutes: float = check(_positive)
    nlb_security_group_tier: str
    target_group_name: str = check(NLB_NAME)
    target_port: int = check(_port)
    listener_port: int = check(_port)
    # Blue-green releases (invoke release): the green colour's own target group
    # and NLB listener; blue's are target_group_name and listener_port.
    green_target_group_name: str = check(NLB_NAME)
    green_listener_port: int = check(_port)
    health_check: HealthCheckConfig
    api: ApiConfig
    rate_limit: RateLimitConfig
    domain: DomainConfig
    waf: WafConfig


def _validate_edge(cfg: Config) -> None:
    file, edge = cfg.path, cfg.edge
    if edge.nlb_security_group_tier not in [t.tier for t in cfg.network.security_groups]:
        raise _fail(file, "edge.nlb_security_group_tier", f"{edge.nlb_security_group_tier!r} is not a tier in network.security_groups")
    hc = edge.health_check
    if hc.timeout_seconds >= hc.interval_seconds:
        raise _fail(file, "edge.health_check.timeout_seconds", f"{hc.timeout_seconds}s must be shorter than the interval ({hc.interval_seconds}s)")
    if edge.rate_limit.requests_per_second <= 0:
        raise _fail(file, "edge.rate_limit.requests_per_minute", f"{edge.rate_limit.requests_per_minute}/min is below the smallest rate API Gateway takes (0.0001/s)")
    # The NLB (target type ip) connects to the pods from its own VPC addresses:
    # some tier must admit the target port, or every health check fails.
    open_ports = {rule.port for tier in cfg.network.security_groups for rule in tier.ingress}
    if edge.target_port not in open_ports:
        raise _fail(file, "edge.target_port", f"{edge.target_port} is not admitted by any network.security_groups ingress rule")
    if edge.green_listener_port == edge.listener_port:
        raise _fail(file, "edge.green_listener_port", f"{edge.green_listener_port} is blue's edge.listener_port too: each colour needs its own listener")
    if edge.green_target_group_name == edge.target_group_name:
        raise _fail(file, "edge.green_target_group_name", f"{edge.green_target_group_name!r} is blue's edge.target_group_name too")
    groups = edge.waf.managed_rule_groups
    if not groups:
        raise _fail(file, "edge.waf.managed_rule_groups", "at least one managed rule group is required")
    for i, group in enumerate(groups):
        if not re.fullmatch(r"AWSManagedRules\w+", group):
            raise _fail(file, f"edge.waf.managed_rule_groups[{i}]", f"{group!r} is not an AWS managed rule group name (AWSManagedRules...)")
        if groups.count(group) > 1:
            raise _fail(file, f"edge.waf.managed_rule_groups[{i}]", f"{group} is listed twice")
