"""The Aurora cluster of this environment: instances, then the cluster with a
final snapshot, then its subnet and parameter groups, role, log group.

DeleteDBCluster refuses while the cluster has instances, so they go first
(each ~5-10 min in AWS, deleted together, waited for together). The final
snapshot's identifier derives from the cluster and its creation time: a
re-run after a crash finds the cluster *deleting* (and waits) or the snapshot
already made (and skips a second one). A cluster with deletion protection on
is a refusal of the whole destroy, before any delete. [destroy]
aurora_final_snapshot = false skips the snapshot.
"""

from __future__ import annotations

from typing import Any

from .. import tags as tagging
from ..engine import Context
from . import iam, kms, logs
from .common import Doomed, gone, owned, status_or_gone, wait_gone

STAGE = "aurora"
CLUSTER_GONE = ("DBClusterNotFoundFault",)
INSTANCE_GONE = ("DBInstanceNotFound", "DBInstanceNotFoundFault")


def find(ctx: Context) -> list[Doomed]:
    rds = ctx.client("rds")
    out: list[Doomed] = []
    clusters = [c for c in rds.paginate("describe_db_clusters", "DBClusters") if owned(ctx, tagging.from_list(c.get("TagList")))]
    for i in rds.paginate("describe_db_instances", "DBInstances"):
        if owned(ctx, tagging.from_list(i.get("TagList"))):
            out.append(_instance(ctx, i))
    out += [_cluster(ctx, c) for c in clusters]
    out += _groups(ctx, "db-subnet-group", rds.paginate("describe_db_subnet_groups", "DBSubnetGroups"),
                   "DBSubnetGroupName", "DBSubnetGroupArn", lambda n: rds.delete_db_subnet_group(DBSubnetGroupName=n),
                   ("DBSubnetGroupNotFoundFault",))
    out += _groups(ctx, "db-cluster-parameter-group", rds.paginate("describe_db_cluster_parameter_groups", "DBClusterParameterGroups"),
                   "DBClusterParameterGroupName", "DBClusterParameterGroupArn",
                   lambda n: rds.delete_db_cluster_parameter_group(DBClusterParameterGroupName=n), ("DBParameterGroupNotFound",))
    return out + iam.roles(ctx, STAGE, 3) + logs.log_groups(ctx, STAGE, 3) + kms.keys(ctx, STAGE, 3)


def final_snapshot_id(cluster: dict[str, Any]) -> str:
    """<cluster>-final-<its creation time>: the same on every run for this cluster."""
    return f"{cluster['DBClusterIdentifier']}-final-{cluster['ClusterCreateTime']:%Y%m%d%H%M%S}"


def _instance(ctx: Context, i: dict) -> Doomed:
    rds = ctx.client("rds")
    name = i["DBInstanceIdentifier"]

    def status() -> str:
        return rds.describe_db_instances(DBInstanceIdentifier=name)["DBInstances"][0]["DBInstanceStatus"]

    def delete() -> None:
        if i.get("DBInstanceStatus") != "deleting":
            gone(lambda: rds.delete_db_instance(DBInstanceIdentifier=name), *INSTANCE_GONE, "InvalidDBInstanceState")

    return Doomed(STAGE, "db-instance", name, i.get("DBInstanceArn", name), 0, delete,
                  wait=lambda: wait_gone(ctx, f"DB instance {name}", lambda: status_or_gone(status, *INSTANCE_GONE), {"failed"}))


def _cluster(ctx: Context, c: dict) -> Doomed:
    rds = ctx.client("rds")
    name = c["DBClusterIdentifier"]
    snapshot = final_snapshot_id(c) if ctx.cfg.destroy.aurora_final_snapshot else ""

    def status() -> str:
        return rds.describe_db_clusters(DBClusterIdentifier=name)["DBClusters"][0]["Status"]

    def delete() -> None:
        if c.get("Status") == "deleting":
            return  # a crashed run's delete is under way: the wait finishes it
        if snapshot and not _snapshot_exists(ctx, snapshot):
            args: dict[str, Any] = {"FinalDBSnapshotIdentifier": snapshot}
        else:
            args = {"SkipFinalSnapshot": True}  # none wanted, or a crashed run already made it
        gone(lambda: rds.delete_db_cluster(DBClusterIdentifier=name, **args), *CLUSTER_GONE)

    return Doomed(STAGE, "db-cluster", name, c["DBClusterArn"], 1, delete,
                  wait=lambda: wait_gone(ctx, f"Aurora cluster {name}", lambda: status_or_gone(status, *CLUSTER_GONE)),
                  data=f"final snapshot {snapshot}" if snapshot else "NO final snapshot ([destroy] aurora_final_snapshot = false): its data is lost",
                  protected="deletion protection" if c.get("DeletionProtection") else "")


def _snapshot_exists(ctx: Context, snapshot: str) -> bool:
    found = status_or_gone(lambda: ctx.client("rds").describe_db_cluster_snapshots(
        DBClusterSnapshotIdentifier=snapshot)["DBClusterSnapshots"][0]["Status"], "DBClusterSnapshotNotFoundFault")
    return found != "gone"


def _groups(ctx: Context, kind: str, items: list[dict], name_key: str, arn_key: str, delete, codes) -> list[Doomed]:
    """Subnet and parameter groups: their describes carry no tags; one
    ListTagsForResource each (AWS's default.* groups skipped)."""
    rds = ctx.client("rds")
    out = []
    for g in items:
        name = g[name_key]
        if name.startswith("default"):
            continue
        tags = tagging.from_list(rds.list_tags_for_resource(ResourceName=g[arn_key]).get("TagList"))
        if owned(ctx, tags):
            out.append(Doomed(STAGE, kind, name, g[arn_key], 2, lambda name=name: gone(lambda: delete(name), *codes) and None))
    return out
