"""The access review's check ids, in the order it reports them.

A leaf list, so [access].suppressions can be validated while the config is
loaded (exit 2, before any AWS call) without config/ importing the runbook.
The review's catalogue (runbooks/access/checks) must define exactly these:
tests/test_access_checks.py compares the two.
"""

from __future__ import annotations

ACCESS_CHECK_IDS: tuple[str, ...] = (
    # iam
    "iam.root_access_keys", "iam.root_mfa", "iam.root_recent_use", "iam.console_mfa", "iam.access_key_age",
    "iam.unused_access_key", "iam.unused_password", "iam.admin_access", "iam.privilege_escalation",
    "iam.trust_any_principal", "iam.service_role_confused_deputy", "iam.trust_cross_account", "iam.irsa_trust_scope", "iam.password_policy",
    "accessanalyzer.external_access", "accessanalyzer.enabled",
    # network
    "ec2.sg_open_to_internet", "ec2.sg_database_port", "ec2.default_security_group", "ec2.endpoint_policy", "eks.public_endpoint",
    "elbv2.internet_facing_nlb",
    # data
    "rds.encryption", "rds.iam_auth", "rds.deletion_protection", "rds.backup_retention", "rds.event_subscription",
    "backup.plan_coverage", "dynamodb.pitr",
    "dynamodb.deletion_protection", "dynamodb.customer_key", "kms.rotation", "sns.encryption",
    # logging
    "eks.control_plane_logging", "ec2.vpc_flow_logs", "apigateway.access_logs", "logs.retention",
    "logs.kms_encryption", "wafv2.logging",
    # account audit controls
    "cloudtrail.multi_region_trail", "cloudtrail.log_file_validation", "cloudtrail.encryption", "guardduty.enabled",
    "config.recording", "securityhub.enabled",
)
