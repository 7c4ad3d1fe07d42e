"""[project], [tags], [logging], [sla] and [engine]: the environment's
identity, the tags every resource carries, and how the tool itself runs."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from .checks import KMS_ALIAS, REGION, _between, _fail, _one_of, _pattern, _positive, check

if TYPE_CHECKING:
    from .loader import Config


# Names AWS accepts. Kept to the strictest rule among the resources a name is
# used for, so a name that passes here is accepted everywhere we use it.
# https://docs.aws.amazon.com/vpc/latest/userguide/vpc-tagging.html (tags: 256)
# https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_iam-quotas.html (roles: 64)
NAME_PREFIX = _pattern(r"[a-z][a-z0-9-]*[a-z0-9]", 24, "name prefix (lowercase letters, digits, hyphens)")
TAG_VALUE = _pattern(r"[\w .:/=+\-@]*", 256, "tag value")
TAG_KEY = _pattern(r"[\w .:/=+\-@]+", 128, "tag key")
EKS_CLUSTER_NAME = _pattern(r"[0-9A-Za-z][A-Za-z0-9\-_]*", 100, "EKS cluster name")
DOMAIN_NAME = _pattern(r"(?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}", 253, "domain name")
ACCOUNT_ID = _pattern(r"\d{12}", 12, "AWS account id (12 digits)")


@dataclass(frozen=True)
class ProjectConfig:
    """Design doc: Environment overview."""

    name: str = check(NAME_PREFIX)
    environment: str = check(NAME_PREFIX)
    account_id: str = check(ACCOUNT_ID)
    region: str = check(REGION)
    namespace: str = check(NAME_PREFIX)
    domain: str = check(DOMAIN_NAME)
    cluster_name: str = check(EKS_CLUSTER_NAME)
    # Issue 18: `invoke destroy` refuses an environment marked production. A
    # file without the key counts as production: forgetting it never makes an
    # environment destroyable.
    production: bool = True

    @property
    def prefix(self) -> str:
        """The stem of every resource name: fablink-prod."""
        return f"{self.name}-{self.environment}"

    @property
    def environment_name(self) -> str:
        """What the operator types to confirm a live change."""
        return self.prefix


@dataclass(frozen=True)
class LoggingConfig:
    """Design doc: Logging and monitoring."""

    retention_days: int = check(
        _one_of(1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653)  # type: ignore[arg-type]
    )
    level: str = check(_one_of("DEBUG", "INFO", "WARNING", "ERROR"))
    format: str = check(_one_of("json", "text"))
    # Issue 17 item 3: every log group of the project is encrypted with this
    # customer managed key (the network stage makes it; its key policy lets
    # CloudWatch Logs use it for this environment's groups only).
    kms_key_alias: str = check(KMS_ALIAS)


@dataclass(frozen=True)
class SlaConfig:
    """Design doc: Performance targets."""

    availability_percent: float = check(_positive)
    p95_latency_ms: int = check(_positive)
    p99_latency_ms: int = check(_positive)
    peak_rps: int = check(_positive)
    error_rate_percent: float = check(_positive)


@dataclass(frozen=True)
class EngineConfig:
    """Ours: how the tool talks to AWS."""

    # More threads than the clients' connection pool (target.py,
    # max_pool_connections=32) only queue for a connection.
    concurrency: int = check(_between(1, 32))
    max_attempts: int = check(_between(1, 20))
    backoff_base_seconds: float = check(_positive)
    backoff_max_seconds: float = check(_positive)
    nat_gateway_wait_minutes: float = check(_positive)


def _validate_tags(cfg: Config) -> None:
    file = cfg.path
    for key, value in cfg.tags.items():
        if key.lower().startswith("aws:"):
            raise _fail(file, f"tags.{key}", "tag keys starting with 'aws:' are reserved by AWS")
        for text in (TAG_KEY(key), TAG_VALUE(value)):
            if text:
                raise _fail(file, f"tags.{key}", text)
