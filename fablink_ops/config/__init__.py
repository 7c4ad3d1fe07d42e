"""config/prod.toml -> frozen, validated dataclasses.

The file is the desired state. Loading it never touches AWS, and every problem
becomes a ConfigError whose one line names the file and the key, so the CLI can
stop with exit code 2 before a single AWS call.

The loader is driven by the dataclasses: their fields are the allowed keys
(anything else is a typo and is refused), their type hints the allowed types,
and a field's ``check`` metadata a per-value validator. Checks that span
several values (overlapping subnets, AZs of the region, ...) live in each
section's ``_validate_<section>``, run in turn by ``_validate``.

One area a module; each section module holds its dataclasses and, next to
them, its checks and validator:

- checks.py: the per-value checks (``_pattern``, ``_cidr``, ``check``, ...) and
  ``_fail``, the one-line error;
- project.py: [project], [tags], [logging], [sla], [engine];
- network.py, eks.py, aurora.py, dynamodb.py, edge.py, monitoring.py: one
  section each;
- runbooks.py: [drill], [backup], [access], read by the runbooks;
- cost.py: [cost], the assumptions of the cost report;
- workload.py: [workload], the backend's Kubernetes objects;
- loader.py: the top-level ``Config``, ``load_config``, the generic builder and
  ``_validate``.

Everything is re-exported here: import from ``fablink_ops.config``.
"""

from __future__ import annotations

from .checks import KMS_ALIAS, REGION, check
from .project import (
    ACCOUNT_ID, DOMAIN_NAME, EKS_CLUSTER_NAME, NAME_PREFIX, TAG_KEY, TAG_VALUE, EngineConfig, LoggingConfig,
    ProjectConfig, SlaConfig,
)
from .network import SG_DESCRIPTION, IngressRule, NetworkConfig, SecurityGroupTier, Zone
from .eks import (
    DB_USER, EKS_ADDON_NAME, EKS_AMI_TYPES, EKS_LOG_TYPES, EKS_MIN_MINOR, K8S_LABEL_KEY, K8S_NAME, AddonConfig,
    EksConfig, IrsaConfig, NodegroupConfig,
)
from .aurora import (
    AURORA_PG_LOG_TYPES, PG_IDENTIFIER, PG_PARAMETER, PI_RETENTION_DAYS, RDS_IDENTIFIER, RESERVED_MASTER_USERNAMES,
    AuroraConfig, AuroraInstance, ClusterParameter, window_minutes,
)
from .dynamodb import (
    DYNAMODB_ATTRIBUTE, DYNAMODB_INDEX_NAME, DYNAMODB_MAX_GSIS, DYNAMODB_MAX_PROJECTED, DYNAMODB_TABLE_NAME,
    DYNAMODB_TYPES, DynamoDBConfig, DynamoIndex, DynamoTable, dynamodb_regions,
)
from .edge import (
    API_GW_RESOURCE_NAME, API_NAME, IAM_ROLE_NAME, LOG_GROUP_NAME, NLB_NAME, STAGE_NAME, WAF_NAME, ApiConfig,
    DomainConfig, EdgeConfig, HealthCheckConfig, RateLimitConfig, WafConfig,
)
from .monitoring import (
    ALARM_TOPICS, DASHBOARD_NAME, METRIC_NAMESPACE, RDS_EVENT_CATEGORIES, AlarmConfig, AlarmsConfig, MonitoringConfig, RdsEventsConfig,
    SubscriptionConfig,
)
from .runbooks import (
    ALARM_NAME, BACKUP_RUN_SUFFIX, DB_CLUSTER_ID, DB_INSTANCE_CLASS, DYNAMODB_MAX_CONCURRENT_RESTORES, SQL_DATABASE,
    SQL_TABLE, VAULT_LOCK_MODES, AccessConfig, BackupConfig, BackupPlanConfig, DrillConfig, PasswordPolicyMinimums, Suppression, SuppressionsFile,
)
from .cost import CostConfig
from .workload import LbControllerConfig, ProbesConfig, ResourcesConfig, SecurityConfig, WorkloadConfig, quantity
from .release import HttpCheck, ReleaseConfig
from .loader import DEFAULT_PATH, Config, _validate, load_config

__all__ = [
    "ACCOUNT_ID", "ALARM_NAME", "ALARM_TOPICS", "API_GW_RESOURCE_NAME", "API_NAME", "AURORA_PG_LOG_TYPES",
    "BACKUP_RUN_SUFFIX", "DASHBOARD_NAME", "DB_CLUSTER_ID", "DB_INSTANCE_CLASS", "DB_USER", "DEFAULT_PATH",
    "DOMAIN_NAME", "DYNAMODB_ATTRIBUTE", "DYNAMODB_INDEX_NAME", "DYNAMODB_MAX_CONCURRENT_RESTORES",
    "DYNAMODB_MAX_GSIS", "DYNAMODB_MAX_PROJECTED", "DYNAMODB_TABLE_NAME", "DYNAMODB_TYPES", "EKS_ADDON_NAME",
    "EKS_AMI_TYPES", "EKS_CLUSTER_NAME", "EKS_LOG_TYPES", "EKS_MIN_MINOR", "IAM_ROLE_NAME", "K8S_LABEL_KEY",
    "K8S_NAME", "KMS_ALIAS", "LOG_GROUP_NAME", "METRIC_NAMESPACE", "NAME_PREFIX", "NLB_NAME", "PG_IDENTIFIER",
    "PG_PARAMETER", "PI_RETENTION_DAYS", "RDS_IDENTIFIER", "REGION", "RESERVED_MASTER_USERNAMES", "SG_DESCRIPTION",
    "SQL_DATABASE", "SQL_TABLE", "STAGE_NAME", "TAG_KEY", "TAG_VALUE", "WAF_NAME", "AccessConfig", "AddonConfig",
    "AlarmConfig", "AlarmsConfig", "ApiConfig", "AuroraConfig", "AuroraInstance", "BackupConfig", "BackupPlanConfig", "ClusterParameter",
    "Config", "CostConfig", "DomainConfig", "DrillConfig", "DynamoDBConfig", "DynamoIndex", "DynamoTable", "EdgeConfig", "EksConfig",
    "EngineConfig", "HealthCheckConfig", "HttpCheck", "IngressRule", "IrsaConfig", "LoggingConfig", "MonitoringConfig",
    "NetworkConfig", "NodegroupConfig", "PasswordPolicyMinimums", "ProjectConfig", "RateLimitConfig",
    "RDS_EVENT_CATEGORIES", "RdsEventsConfig", "ReleaseConfig", "SecurityGroupTier", "SlaConfig", "SubscriptionConfig", "Suppression", "SuppressionsFile", "WafConfig", "Zone",
    "LbControllerConfig", "ProbesConfig", "ResourcesConfig", "SecurityConfig", "WorkloadConfig", "quantity",
    "check", "dynamodb_regions", "load_config", "window_minutes",
    # Not public, but tests run the cross-value checks on a modified Config.
    "_validate",
]
