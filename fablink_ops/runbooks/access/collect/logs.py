"""CloudWatch Logs: every log group with its retention and key; WAF: every
regional web ACL with its logging configuration."""

from __future__ import annotations

from botocore.exceptions import ClientError

from ....engine import Context
from ....target import error_code
from ..models import LogGroup, WebAcl
from .common import Piece, each

PERMISSIONS = ("logs:DescribeLogGroups",)
WAF_PERMISSIONS = ("wafv2:ListWebACLs", "wafv2:GetLoggingConfiguration")


def collect(ctx: Context, region: str) -> Piece:
    logs = ctx.target.client("logs", region)
    return {
        "log_groups": [
            LogGroup(g["logGroupName"], g.get("logGroupArn") or g.get("arn", "").removesuffix(":*"), region, g.get("retentionInDays"),
                     g.get("kmsKeyId") or "")
            for g in logs.paginate("describe_log_groups", "logGroups")
        ]
    }


def collect_waf(ctx: Context, region: str) -> Piece:
    waf = ctx.target.client("wafv2", region)
    acls: list[dict] = []
    marker = None
    while True:  # wafv2 has no botocore paginator
        page = waf.list_web_acls(Scope="REGIONAL", Limit=100, **({"NextMarker": marker} if marker else {}))
        acls += page.get("WebACLs", [])
        marker = page.get("NextMarker")
        if not marker or not page.get("WebACLs"):
            break

    def read(acl: dict) -> WebAcl:
        try:
            conf = waf.get_logging_configuration(ResourceArn=acl["ARN"])["LoggingConfiguration"]
        except ClientError as exc:
            if error_code(exc) != "WAFNonexistentItemException":
                raise
            return WebAcl(acl["Name"], acl["ARN"], region, False)
        headers = tuple(sorted(f["SingleHeader"]["Name"].lower() for f in conf.get("RedactedFields") or [] if "SingleHeader" in f))
        return WebAcl(acl["Name"], acl["ARN"], region, True, tuple(conf.get("LogDestinationConfigs") or ()), headers)

    return {"web_acls": each(acls, read)}
