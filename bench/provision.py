"""Benchmark: provision the whole design against a moto server through the
latency model, and compare the wall time with the critical path.

The model is the sandbox's own: the server's fidelity layer, started with
FABLINK_FIDELITY_LATENCY=scale (fablink_ops/fidelity/latency.py), the same
the sandbox takes and tests/test_speed.py uses.

    python -m bench.provision [--scale 20] [--json]

It prints:
- the wall time of `provision` (plan + apply) of every implemented stage;
- the critical-path lower bound: the longest chain of modelled creation times
  along the plan's dependency graph (the same table the model uses);
- the straight-line sum: what a script creating one thing after another pays;
- their ratios; and the AWS calls of a no-op plan of the whole design.

Targets (issue 9): wall <= 1.10 x critical path; no-op plan <= 60 calls.
This is a benchmark, not a test: nothing here asserts on time.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from fablink_ops.fidelity.latency import LatencyModel  # noqa: E402
from fablink_ops.stages import plan_stages, select_stages  # noqa: E402
from fablink_ops.config import load_config  # noqa: E402
from fablink_ops.engine import CREATE, WAIT, Change, Context, apply  # noqa: E402
from fablink_ops.target import RetryPolicy, sandbox_target  # noqa: E402

# Which change kinds create which modelled slow resource.
KIND_MODEL = {
    "nat-gateway": "nat-gateway",
    "eks-cluster": "eks-cluster",
    "nodegroup": "eks-nodegroup",
    "db-cluster": "aurora-cluster",
    "db-instance": "aurora-instance",
    "db-instance-ready": "aurora-instance",  # the new writer's wait for "available"
    "load-balancer": "nlb",
    "vpc-link": "vpc-link",
    "dynamodb-table": "dynamodb-table",
}


# The reads AWS offers one resource at a time only (no list or batch form
# returns these attributes), so a no-op plan pays them per resource: per
# DynamoDB table DescribeTable, DescribeContinuousBackups (PITR) and
# DescribeTimeToLive; per KMS key DescribeKey and GetKeyRotationStatus; per
# node group DescribeNodegroup; per VPC attribute DescribeVpcAttribute; per
# SNS topic GetTopicAttributes; per key whose policy we set GetKeyPolicy.
# rds:ListTagsForResource is here only because
# moto's tag index lacks RDS subnet and parameter groups (AWS's has them).
PER_RESOURCE = {
    "dynamodb:DescribeTable", "dynamodb:DescribeContinuousBackups", "dynamodb:DescribeTimeToLive",
    "kms:DescribeKey", "kms:GetKeyRotationStatus", "eks:DescribeNodegroup", "ec2:DescribeVpcAttribute",
    "sns:GetTopicAttributes", "rds:ListTagsForResource", "kms:GetKeyPolicy",
}


def critical_path(changes: list[Change], weight: dict[str, float]) -> tuple[float, list[str]]:
    """Longest weighted path through the ``needs`` graph (a DAG)."""
    by_key = {c.key: c for c in changes}
    best: dict[str, tuple[float, list[str]]] = {}

    def longest(key: str) -> tuple[float, list[str]]:
        if key not in best:
            c = by_key[key]
            before = max((longest(n) for n in c.needs if n in by_key), default=(0.0, []), key=lambda x: x[0])
            best[key] = (before[0] + weight.get(key, 0.0), before[1] + [key])
        return best[key]

    return max((longest(k) for k in by_key), key=lambda x: x[0], default=(0.0, []))


def _start_moto(account: str, scale: float) -> tuple[subprocess.Popen, str]:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env.update(MOTO_ACCOUNT_ID=account, MOTO_EC2_LOAD_DEFAULT_AMIS="false", MOTO_IAM_LOAD_MANAGED_POLICIES="true",
               FABLINK_FIDELITY_LATENCY=f"{scale:g}")
    # The sandbox's server (requests one at a time: moto's backends are not
    # thread-safe), its fidelity layer modelling AWS's creation times.
    proc = subprocess.Popen([sys.executable, "-m", "fablink_ops.moto_server", "-H", "127.0.0.1", "-p", str(port)],
                            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while True:
        try:
            urllib.request.urlopen(f"{url}/moto-api/", timeout=0.5)
            return proc, url
        except OSError:
            if time.monotonic() > deadline:
                proc.terminate()
                raise SystemExit("moto server did not start")
            time.sleep(0.1)


# One cheap read per service the design uses. moto's server builds each
# service's backend on its first request (over a second for EC2); AWS has no
# such cost, so the benchmark pays it before timing, from another process so
# this one's botocore (its model loading is the tool's real cost) stays cold.
WARM_UP = """
import boto3, sys
url, region = sys.argv[1], sys.argv[2]
s = boto3.Session(aws_access_key_id="bench", aws_secret_access_key="bench", region_name=region)
for service, op, kwargs in [
    ("ec2", "describe_vpcs", {}), ("eks", "list_clusters", {}), ("rds", "describe_db_clusters", {}),
    ("dynamodb", "list_tables", {}), ("elbv2", "describe_load_balancers", {}), ("apigateway", "get_rest_apis", {}),
    ("logs", "describe_log_groups", {}), ("iam", "list_roles", {}), ("kms", "list_keys", {}), ("sns", "list_topics", {}),
    ("cloudwatch", "describe_alarms", {}), ("wafv2", "list_web_acls", {"Scope": "REGIONAL"}), ("acm", "list_certificates", {}),
    ("resourcegroupstaggingapi", "get_resources", {}), ("sts", "get_caller_identity", {}),
]:
    getattr(s.client(service, endpoint_url=url), op)(**kwargs)
"""


def _warm_moto(url: str, region: str) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    subprocess.run([sys.executable, "-c", WARM_UP, url, region], env=env, check=True)


def _server_status(url: str) -> dict:
    with urllib.request.urlopen(f"{url}/fablink-fidelity/", timeout=10) as resp:
        return json.loads(resp.read())


def run(scale: float, config: str) -> dict:
    cfg = load_config(config)
    proc, url = _start_moto(cfg.project.account_id, scale)
    os.environ["FABLINK_FIDELITY_LATENCY"] = f"{scale:g}"  # the tool's waits scale as the sandbox's would
    try:
        _warm_moto(url, cfg.project.region)
        stages = select_stages(None)
        model = LatencyModel(scale=scale)  # the server's table: for the critical path
        target = sandbox_target(url, cfg.project.region, RetryPolicy(8, 0.05, 1.0))
        ctx = Context(cfg, target, poll_scale=1 / scale)
        start = time.monotonic()
        changes = plan_stages(ctx, stages)
        planned = time.monotonic()
        apply(changes, ctx, cfg.engine.concurrency)
        wall = time.monotonic() - start

        weight = {c.key: model.duration(KIND_MODEL[c.kind]) for c in changes if c.kind in KIND_MODEL and c.action in (CREATE, WAIT)}
        for c in changes:
            if c.kind == "db-instance-ready":
                # The writer's creation ends once the cluster lists it as its
                # writer (at once, in moto); its 10 minutes are the wait's.
                weight[f"db-instance:{c.name}"] = 0.0
        path_seconds, path = critical_path(changes, weight)
        straight = sum(weight.values())  # each slow resource once

        noop_target = sandbox_target(url, cfg.project.region)
        noop_ctx = Context(cfg, noop_target)
        noop = plan_stages(noop_ctx, stages)
        pending = [c.key for c in noop if c.action in (CREATE, "update")]
        return {
            "machine": f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}",
            "stages": stages,
            "scale": scale,
            "resources": len(changes),
            "modelled_creations": _server_status(url).get("latency_created"),
            "plan_seconds": round(planned - start, 2),
            "wall_seconds": round(wall, 2),
            "critical_path_seconds": round(path_seconds, 2),
            "critical_path": [k for k in path if k in weight],
            "straight_line_seconds": round(straight, 2),
            "wall_over_critical_path": round(wall / path_seconds, 3) if path_seconds else None,
            "straight_line_over_wall": round(straight / wall, 2) if wall else None,
            "in_aws_minutes": {
                "critical_path": round(path_seconds * scale / 60, 1),
                "straight_line": round(straight * scale / 60, 1),
            },
            "apply_calls": target.meter.summary()["reads"] + target.meter.summary()["writes"],
            "noop_plan_calls": noop_target.meter.reads + noop_target.meter.writes,
            "noop_plan_per_resource_calls": sum(n for op, n in noop_target.meter.calls.items() if op in PER_RESOURCE),
            "noop_plan_repeated_types": sorted(op for op, n in noop_target.meter.calls.items() if n > 1 and op not in PER_RESOURCE),
            "noop_plan_by_operation": noop_target.meter.summary()["by_operation"],
            "noop_plan_pending": pending,
        }
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", type=float, default=20.0, help="AWS seconds per benchmark second (default 20)")
    parser.add_argument("--config", default=str(ROOT / "config" / "prod.toml"))
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    result = run(args.scale, args.config)
    if args.json:
        print(json.dumps(result, indent=2))
        return
    print(f"machine: {result['machine']}; stages: {', '.join(result['stages'])}; scale 1:{result['scale']:g}")
    print(f"wall time:            {result['wall_seconds']:8.2f} s  (plan {result['plan_seconds']:.2f} s)")
    print(f"critical path:        {result['critical_path_seconds']:8.2f} s  ({result['in_aws_minutes']['critical_path']} min in AWS): {' → '.join(result['critical_path'])}")
    print(f"straight-line sum:    {result['straight_line_seconds']:8.2f} s  ({result['in_aws_minutes']['straight_line']} min in AWS)")
    print(f"wall / critical path: {result['wall_over_critical_path']:8.3f}   (target <= 1.10)")
    print(f"straight line / wall: {result['straight_line_over_wall']:8.2f}x")
    print(f"no-op plan:           {result['noop_plan_calls']:8d} AWS calls (target <= 60); pending after apply: {len(result['noop_plan_pending'])}")
    per_resource = result["noop_plan_per_resource_calls"]
    print(f"  of which            {result['noop_plan_calls'] - per_resource:8d} one read per resource type (shared by the stages)")
    print(f"                      {per_resource:8d} per resource, where AWS has no list or batch read (see PER_RESOURCE)")
    if result["noop_plan_repeated_types"]:
        print(f"  read more than once: {', '.join(result['noop_plan_repeated_types'])}")


if __name__ == "__main__":
    main()
