"""Account audit controls: a CloudTrail trail over every region (logging,
log-file validation, KMS encryption), GuardDuty, AWS Config recording and
Security Hub in each reviewed region.

Design doc: Security review ("audit logging"). Severity by the damage the
absence does (ours):
- no logging multi-region trail: HIGH. Nothing records who called which API:
  an incident cannot be reconstructed, whatever else is in place.
- GuardDuty off: HIGH. Stolen keys, crypto-mining or exfiltration from the
  nodes go unnoticed; nothing else here watches for them.
- trail without log-file validation or a KMS key: MEDIUM. The record exists
  but can be altered undetected (validation) or read by anyone with
  s3:GetObject on the bucket (no KMS key: S3's own encryption only).
- Config not recording: MEDIUM. No history of what a resource looked like
  before a change: drift and its time are unknowable after the fact.
- Security Hub off: LOW. An aggregator: it adds posture checks and one place
  to look, but its detections come from the services above.
CIS AWS Foundations 3.1-3.7 and prowler's cloudtrail_multi_region_enabled,
cloudtrail_log_file_validation_enabled, cloudtrail_kms_encryption_enabled,
guardduty_is_enabled, config_recorder_all_regions_enabled,
securityhub_enabled hold the same controls.
"""

from __future__ import annotations

from typing import Iterator

from ..models import HIGH, LOW, MEDIUM, Inventory, Trail
from .base import Check, Hit, Settings


def _trails(inv: Inventory) -> list[Trail]:
    """Each trail once (every region lists a multi-region trail's shadow)."""
    seen: dict[str, Trail] = {}
    for t in inv.trails:
        seen.setdefault(t.arn, t)
    return sorted(seen.values(), key=lambda t: t.arn)


def multi_region_trail(inv: Inventory, s: Settings) -> Iterator[Hit]:
    # The trails and the services come from one collector: no services means
    # it could not read (its step failed), not that the account has no trail.
    if not inv.audit_services:
        return
    trails = _trails(inv)
    if any(t.multi_region and t.logging for t in trails):
        return
    if not trails:
        why = "the account has no CloudTrail trail"
    else:
        why = "no trail both covers every region and is logging (" + ", ".join(
            f"{t.name}: {'multi-region' if t.multi_region else 'single-region'}, {'logging' if t.logging else 'stopped'}" for t in trails) + ")"
    yield (s.account, f"{why}: API calls in this account leave no lasting record",
           "aws cloudtrail create-trail --name <name> --s3-bucket-name <bucket> --is-multi-region-trail --enable-log-file-validation "
           "--kms-key-id <key>; aws cloudtrail start-logging --name <name>")


def trail_log_file_validation(inv: Inventory, s: Settings) -> Iterator[Hit]:
    for t in _trails(inv):
        if not t.log_file_validation:
            yield (t.arn, f"CloudTrail trail {t.name} does not validate its log files: a log altered or deleted goes unnoticed",
                   f"aws cloudtrail update-trail --name {t.arn} --enable-log-file-validation --region {t.home_region}")


def trail_encryption(inv: Inventory, s: Settings) -> Iterator[Hit]:
    for t in _trails(inv):
        if not t.kms_key:
            yield (t.arn, f"CloudTrail trail {t.name} is not encrypted with a KMS key (S3's own encryption only)",
                   f"aws cloudtrail update-trail --name {t.arn} --kms-key-id <key whose policy allows cloudtrail.amazonaws.com> --region {t.home_region}")


def guardduty_enabled(inv: Inventory, s: Settings) -> Iterator[Hit]:
    for a in inv.audit_services:
        if not a.guardduty:
            yield (f"{s.account}@{a.region}", f"GuardDuty is not enabled in {a.region}: compromised credentials and instances go undetected",
                   f"aws guardduty create-detector --enable --region {a.region}")


def config_recording(inv: Inventory, s: Settings) -> Iterator[Hit]:
    for a in inv.audit_services:
        if not a.config_recording:
            yield (f"{s.account}@{a.region}", f"AWS Config is not recording in {a.region}: no history of how resources were configured",
                   f"aws configservice put-configuration-recorder ... && aws configservice start-configuration-recorder "
                   f"--configuration-recorder-name default --region {a.region}")


def security_hub_enabled(inv: Inventory, s: Settings) -> Iterator[Hit]:
    for a in inv.audit_services:
        if not a.security_hub:
            yield (f"{s.account}@{a.region}", f"Security Hub is not enabled in {a.region}",
                   f"aws securityhub enable-security-hub --region {a.region}")


CHECKS = (
    Check("cloudtrail.multi_region_trail", HIGH, "no logging multi-region CloudTrail trail", multi_region_trail),
    Check("cloudtrail.log_file_validation", MEDIUM, "trails without log-file validation", trail_log_file_validation),
    Check("cloudtrail.encryption", MEDIUM, "trails not encrypted with a KMS key", trail_encryption),
    Check("guardduty.enabled", HIGH, "regions without GuardDuty", guardduty_enabled),
    Check("config.recording", MEDIUM, "regions where AWS Config does not record", config_recording),
    Check("securityhub.enabled", LOW, "regions without Security Hub", security_hub_enabled),
)
