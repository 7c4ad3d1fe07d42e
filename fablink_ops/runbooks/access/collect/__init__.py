"""Collectors: read one AWS service (in one region) into the small models.

Each collector is a function ``(ctx, region) -> {inventory field: value}``
that only reads, paginates every list, and declares the IAM permissions it
uses next to it (cloud-custodian's habit; a test checks every call the review
makes is declared). ``collect`` runs them all at once on a thread pool: the
review's wall time is its slowest collector, not their sum. A collector that
fails (AccessDenied on one service, say) does not stop the others: its step
fails and the review ends ``aborted``, with what it did see in the evidence.
What a collector cannot look at on this target (moto lacks Access Analyzer and
the root user) is a Gap: a skipped step, and the checks needing it are listed
as not evaluated.
"""

from __future__ import annotations

from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Callable

from botocore.exceptions import BotoCoreError, ClientError

from ....engine import Context
from ....errors import OpsError
from ....report import FAILED_STEP, OK, SKIPPED, Report
from ....target import wrap_aws_error
from ..models import Gap, IamState, Inventory
from . import audit, backup, data, iam, logs, network
from .common import Piece


@dataclass(frozen=True)
class Collector:
    name: str
    regional: bool
    run: Callable[[Context, str], Piece]
    permissions: tuple[str, ...]


COLLECTORS: tuple[Collector, ...] = (
    Collector("iam", False, iam.collect, iam.PERMISSIONS),
    Collector("accessanalyzer", True, iam.collect_analyzers, iam.ANALYZER_PERMISSIONS),
    Collector("ec2", True, network.collect_ec2, network.EC2_PERMISSIONS),
    Collector("eks", True, network.collect_eks, network.EKS_PERMISSIONS),
    Collector("elbv2", True, network.collect_elbv2, network.ELBV2_PERMISSIONS),
    Collector("apigateway", True, network.collect_apigateway, network.APIGATEWAY_PERMISSIONS),
    Collector("rds", True, data.collect_rds, data.RDS_PERMISSIONS),
    Collector("dynamodb", True, data.collect_dynamodb, data.DYNAMODB_PERMISSIONS),
    Collector("kms", True, data.collect_kms, data.KMS_PERMISSIONS),
    Collector("sns", True, data.collect_sns, data.SNS_PERMISSIONS),
    Collector("logs", True, logs.collect, logs.PERMISSIONS),
    Collector("wafv2", True, logs.collect_waf, logs.WAF_PERMISSIONS),
    Collector("audit", True, audit.collect, audit.PERMISSIONS),
    Collector("backup", True, backup.collect, backup.PERMISSIONS),
)

# Every IAM action the review needs (live), besides sts:GetCallerIdentity
# (the guard and the evidence's operator). AWS's SecurityAudit managed policy
# grants all of them.
PERMISSIONS: tuple[str, ...] = tuple(sorted({p for c in COLLECTORS for p in c.permissions} | {"sts:GetCallerIdentity"}))


def collect(ctx: Context, report: Report, account: str, regions: tuple[str, ...], workers: int) -> tuple[Inventory, dict[str, str]]:
    """Run every collector (the global ones once, the regional ones per
    region) concurrently. Returns the inventory and {collector: error} for
    those that failed. Each collector's outcome is a step of the report,
    recorded here in the runbook's thread (the Report is not thread-safe)."""
    jobs = [(c, ctx.target.region) for c in COLLECTORS if not c.regional]
    jobs += [(c, region) for region in regions for c in COLLECTORS if c.regional]
    inventory = Inventory(account=account, regions=regions)
    failures: dict[str, str] = {}
    started = ctx.clock()
    pool = ThreadPoolExecutor(max_workers=max(1, workers), thread_name_prefix="collect")
    try:
        futures: list[tuple[Collector, str, Future[Piece]]] = [(c, r, pool.submit(c.run, ctx, r)) for c, r in jobs]
        for collector, region, future in futures:
            label = collector.name if not collector.regional else f"{collector.name} in {region}"
            try:
                piece = future.result()
            except (ClientError, BotoCoreError, OpsError) as exc:
                message = exc.message if isinstance(exc, OpsError) else _error_text(exc)
                failures[label] = message
                report.record(f"collect: {label}", FAILED_STEP, message, started)
                continue
            merge(inventory, piece)
            gaps = piece.get("gaps", [])
            if set(piece) == {"gaps"}:  # nothing this collector can read here (moto lacks the service)
                report.record(f"collect: {label}", SKIPPED, "; ".join(g.why for g in gaps), started)
                continue
            report.record(f"collect: {label}", OK, describe(piece), started)
            for gap in gaps:
                report.record(f"not seen: {gap.what}", SKIPPED, gap.why, started)
    except BaseException:
        # Ctrl-C or a bug: the reads still queued are not started.
        pool.shutdown(wait=False, cancel_futures=True)
        raise
    pool.shutdown()
    return inventory, failures


def _error_text(exc: BaseException) -> str:
    """AWS's error code and message (AccessDenied: ...), as wrap_aws_error words it, without a prefix."""
    return wrap_aws_error(exc, "").message.removeprefix(": ")


def merge(inventory: Inventory, piece: Piece) -> None:
    for key, value in piece.items():
        if key == "iam":
            inventory.iam = value
        elif key == "gaps":
            inventory.gaps.extend(value)
        else:
            getattr(inventory, key).extend(value)


_LABELS = {
    "security_groups": "security groups", "vpcs": "VPCs", "clusters": "EKS clusters", "load_balancers": "load balancers",
    "vpc_links": "VPC links", "api_stages": "API stages", "db_clusters": "DB clusters", "tables": "tables",
    "keys": "KMS keys", "topics": "topics", "log_groups": "log groups", "analyzers": "analyzer regions",
    "analyzer_findings": "active Access Analyzer findings", "trails": "CloudTrail trails",
    "audit_services": "audit service regions", "rds_event_subscriptions": "RDS event subscriptions",
    "backup_selections": "AWS Backup selections", "endpoints": "gateway endpoints", "backup_regions": "region(s) read",
}


def describe(piece: Piece) -> str:
    parts: list[str] = []
    for key, value in piece.items():
        if key == "iam":
            parts.append(_describe_iam(value))
        elif key == "gaps":
            continue  # each gap is a step of its own
        else:
            parts.append(f"{len(value)} {_LABELS.get(key, key)}")
    return ", ".join(parts) or "nothing to read here"


def _describe_iam(state: IamState) -> str:
    kinds = ("user", "group", "role")
    counts = ", ".join(f"{sum(1 for p in state.principals if p.kind == k)} {k}s" for k in kinds)
    when = f" of {state.report_generated:%Y-%m-%d %H:%M}Z" if state.report_generated else ""
    return f"{counts}, {len(state.keys)} access keys, credential report{when}"


__all__ = ["COLLECTORS", "PERMISSIONS", "Collector", "Gap", "collect"]
