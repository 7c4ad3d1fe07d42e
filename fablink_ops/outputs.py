"""What the environment is, read from AWS (``invoke output``): ids and
endpoints per stage, and the operator steps still due.

It reads exactly what a plan reads (the stages' discovery records every id it
finds in ``ctx.outputs``), plus DescribeCluster for the EKS API endpoint. Read
only; a stage not built yet says so instead of inventing values.
"""

from __future__ import annotations

from typing import Any

from botocore.exceptions import ClientError

from .engine import Context
from .resources.monitoring.common import MonitoringNames


def _prefixed(outputs: dict[str, Any], prefix: str) -> dict[str, Any]:
    return {k[len(prefix):]: v for k, v in sorted(outputs.items()) if k.startswith(prefix)}


def _eks_endpoint(ctx: Context) -> str | None:
    try:
        return ctx.client("eks").describe_cluster(name=ctx.cfg.project.cluster_name)["cluster"].get("endpoint")
    except ClientError:
        return None


def document(ctx: Context, stages: list[str]) -> dict[str, Any]:
    """The environment's outputs per stage, from a plan's discovery."""
    o, cfg = ctx.outputs, ctx.cfg
    region = cfg.project.region
    doc: dict[str, Any] = {}
    if "network" in stages:
        doc["network"] = {
            "vpc": o.get("vpc"), "vpc_cidr": o.get("vpc_cidr"), "subnets": _prefixed(o, "subnet:"),
            "security_groups": _prefixed(o, "sg:"), "nat_gateways": _prefixed(o, "nat:"),
        }
    if "eks" in stages:
        built = "eks:cluster-arn" in o
        doc["eks"] = {
            "cluster": cfg.project.cluster_name, "arn": o.get("eks:cluster-arn"), "version": o.get("eks:cluster-version"),
            "endpoint": _eks_endpoint(ctx) if built else None, "oidc_issuer": o.get("eks:oidc-issuer"),
            "oidc_provider_arn": o.get("eks:oidc-provider-arn"),
            "roles": {k: v for k, v in _prefixed(o, "iam-role-arn:").items() if k.startswith(cfg.project.prefix)},
        }
    if "aurora" in stages:
        doc["aurora"] = {
            "cluster": cfg.aurora.cluster_identifier, "arn": o.get("aurora:cluster-arn"),
            "writer_endpoint": o.get("aurora:endpoint"), "reader_endpoint": o.get("aurora:reader-endpoint"),
        }
    if "dynamodb" in stages:
        doc["dynamodb"] = {"tables": _prefixed(o, "dynamodb-table-arn:")}
    if "edge" in stages:
        api, stage = o.get("edge:rest-api"), cfg.edge.api.stage_name
        doc["edge"] = {
            "nlb_dns": o.get("edge:nlb-dns"),
            "invoke_url": f"https://{api}.execute-api.{region}.amazonaws.com/{stage}" if api else None,
            "custom_domain": cfg.project.domain, "custom_domain_target": o.get("edge:domain-target"),
            "api_key_ids": _prefixed(o, "edge:api-key:"), "certificate_arn": o.get("edge:certificate-arn"),
            "web_acl_arn": o.get("edge:web-acl-arn"),
        }
    if "monitoring" in stages:
        names = MonitoringNames(cfg)
        doc["monitoring"] = {
            "alarm_topics": {t: names.topic_arn(t) for t in names.topics},
            "dashboard_url": f"https://{region}.console.aws.amazon.com/cloudwatch/home?region={region}"
                             f"#dashboards:name={cfg.monitoring.dashboard_name}",
        }
    if "workload" in stages:
        doc["workload"] = {
            "namespace": cfg.project.namespace, "roles": _prefixed(o, "workload:role-arn:"),
            "manifests": "invoke workload.manifests --out DIR",
        }
    return doc


def lines(doc: dict[str, Any]) -> list[str]:
    """The document for people: one ``stage.key: value`` line each; absent values say so."""
    out: list[str] = []

    def walk(value: Any, path: str) -> None:
        if isinstance(value, dict) and value:
            for k, v in value.items():
                walk(v, f"{path}.{k}" if path else str(k))
        else:
            out.append(f"{path}: {value if value not in (None, {}) else '(not built yet)'}")

    walk(doc, "")
    return out
