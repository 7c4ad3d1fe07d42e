"""Account-level audit controls, per reviewed region: CloudTrail trails (with
their logging status), GuardDuty detectors, AWS Config recorders, Security Hub.

Design doc: Security review ("audit logging"). Each is one or two reads; an
account that never turned a service on answers with an empty list (GuardDuty,
Config) or an InvalidAccessException (Security Hub), never a failure.
"""

from __future__ import annotations

from botocore.exceptions import ClientError

from ....engine import Context
from ....target import error_code
from ..models import AuditServices, Trail
from .common import Piece, each

PERMISSIONS = (
    "cloudtrail:DescribeTrails", "cloudtrail:GetTrailStatus",
    "guardduty:ListDetectors", "guardduty:GetDetector",
    "config:DescribeConfigurationRecorderStatus",
    "securityhub:DescribeHub",
)

# Security Hub's answer when the account (in this region) never enabled it.
# https://docs.aws.amazon.com/securityhub/1.0/APIReference/API_DescribeHub.html
HUB_ABSENT = ("InvalidAccessException", "ResourceNotFoundException")


def collect(ctx: Context, region: str) -> Piece:
    return {"trails": _trails(ctx, region), "audit_services": [_services(ctx, region)]}


def _trails(ctx: Context, region: str) -> list[Trail]:
    """Every trail this region sees, shadow copies of other regions'
    multi-region trails included (the checks count each ARN once)."""
    ct = ctx.target.client("cloudtrail", region)
    listed = ct.describe_trails(includeShadowTrails=True).get("trailList", [])

    def read(t: dict) -> Trail:
        # A trail that exists but was stopped records nothing: its status decides.
        status = ct.get_trail_status(Name=t["TrailARN"])
        return Trail(
            name=t["Name"], arn=t["TrailARN"], home_region=t.get("HomeRegion", region),
            multi_region=bool(t.get("IsMultiRegionTrail")), log_file_validation=bool(t.get("LogFileValidationEnabled")),
            kms_key=t.get("KmsKeyId", ""), logging=bool(status.get("IsLogging")),
        )

    return each(listed, read)


def _services(ctx: Context, region: str) -> AuditServices:
    gd = ctx.target.client("guardduty", region)
    detectors = gd.paginate("list_detectors", "DetectorIds")
    guardduty = any(gd.get_detector(DetectorId=d).get("Status") == "ENABLED" for d in detectors)
    recorders = ctx.target.client("config", region).describe_configuration_recorder_status().get("ConfigurationRecordersStatus", [])
    recording = any(r.get("recording") for r in recorders)
    try:
        ctx.target.client("securityhub", region).describe_hub()
        hub = True
    except ClientError as exc:
        if error_code(exc) not in HUB_ABSENT:
            raise
        hub = False
    return AuditServices(region=region, guardduty=guardduty, config_recording=recording, security_hub=hub)
