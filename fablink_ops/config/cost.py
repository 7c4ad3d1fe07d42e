"""[cost]: the assumptions behind `invoke cost.report` (fablink_ops/runbooks/cost/).

Everything the report multiplies a price by that the rest of the config does
not already say: traffic, data volumes, growth, the workload's replica range.
Each value's source is the comment beside it in config/prod.toml (the design
doc where it says, "ours" where it does not).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

from .checks import _fail, _positive, check

if TYPE_CHECKING:
    from .loader import Config


def _not_negative(value: int | float) -> str | None:
    # inf would make every figure of the report inf.
    return None if 0 <= value < math.inf else f"must be a finite number, 0 or more, got {value}"


def _percent(value: float) -> str | None:
    return None if 0 <= value <= 100 else f"must be a percentage from 0 to 100, got {value:g}"


@dataclass(frozen=True)
class CostConfig:
    """Design doc: "Cost optimisation: Reserved Instances; Spot Instances (for
    suitable workloads); resource-usage monitoring"; Capacity plan; SLA."""

    hours_per_month: float = check(_positive)
    # Load: the average as a share of [sla].peak_rps.
    average_load_percent_of_peak: float = check(_percent)
    response_kb: float = check(_not_negative)
    request_kb: float = check(_not_negative)
    # Per API request: DynamoDB request units, Aurora I/Os, log bytes.
    dynamodb_read_units_per_request: float = check(_not_negative)
    dynamodb_write_units_per_request: float = check(_not_negative)
    aurora_ios_per_request: float = check(_not_negative)
    access_log_bytes_per_request: float = check(_not_negative)
    execution_log_bytes_per_request: float = check(_not_negative)
    waf_log_bytes_per_request: float = check(_not_negative)
    xray_sampled_percent: float = check(_percent)
    # Data volumes per month.
    nat_processed_gb_per_month: float = check(_not_negative)
    flow_log_gb_per_month: float = check(_not_negative)
    eks_control_plane_log_gb_per_month: float = check(_not_negative)
    aurora_log_gb_per_month: float = check(_not_negative)
    log_stored_compression_ratio: float = check(_positive)
    kms_requests_per_month: float = check(_not_negative)
    # Storage.
    aurora_storage_start_gb: float = check(_not_negative)
    aurora_growth_gb_per_month: float = check(_not_negative)
    horizon_months: int = check(_not_negative)
    aurora_daily_change_percent: float = check(_percent)
    dynamodb_storage_gb: float = check(_not_negative)
    # The workload (design doc: Workload resources) and how it packs on nodes.
    hpa_min_replicas: int = check(_positive)
    hpa_max_replicas: int = check(_positive)
    pdb_min_available: int = check(_positive)
    pods_per_node: int = check(_positive)
    # Levers.
    spot_discount_percent: float = check(_percent)
    rightsize_below_percent: float = check(_percent)
    usage_days: int = check(_positive)


def _validate_cost(cfg: Config) -> None:
    file, c = cfg.path, cfg.cost
    if c.hpa_min_replicas > c.hpa_max_replicas:
        raise _fail(file, "cost.hpa_min_replicas", f"{c.hpa_min_replicas} exceeds cost.hpa_max_replicas ({c.hpa_max_replicas})")
    if c.pdb_min_available > c.hpa_min_replicas:
        raise _fail(file, "cost.pdb_min_available",
                    f"{c.pdb_min_available} exceeds cost.hpa_min_replicas ({c.hpa_min_replicas}): the PDB could never be met")
    if c.log_stored_compression_ratio > 1:
        raise _fail(file, "cost.log_stored_compression_ratio",
                    f"{c.log_stored_compression_ratio:g}: give the stored share of the ingested bytes, at most 1")
    if c.hours_per_month > 744:
        raise _fail(file, "cost.hours_per_month", f"{c.hours_per_month:g}: a month has at most 744 hours")
    # GetMetricData keeps 1-hour data for 455 days; the report reads hourly points.
    if c.usage_days > 455:
        raise _fail(file, "cost.usage_days", f"{c.usage_days}: CloudWatch keeps hourly data for 455 days")
