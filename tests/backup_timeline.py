"""Modelled time for backup.verify.

moto restores a cluster or a table at once, reports its latest restorable
time as "now" (Aurora) or as the moment PITR was enabled (DynamoDB), and
deletes anything at any time. A run against it measures neither RPO nor RTO,
and never meets a temporary that cannot be deleted yet. This layer, botocore
event hooks installed on the Target, makes moto's answers look like AWS's on
the fake clock of tests/timeline.py:

- RestoreDBClusterToPointInTime: the cluster reports ``creating`` until
  ``cluster_at`` seconds after the request, then ``available``.
- CreateDBInstance: refused while the cluster is creating (as AWS does); the
  instance reports ``creating`` until ``instance_at`` seconds after its request.
- RestoreTableToPointInTime: the table reports CREATING until
  ``table_at[source]`` (or ``table_default``) seconds after the request; its
  RestoreSummary names the restore point (the source's latest restorable time).
- Deleting a cluster, instance or table that is still creating is refused with
  AWS's error (InvalidDBClusterStateFault, InvalidDBInstanceState,
  ResourceInUseException).
- Sources: the Aurora cluster's LatestRestorableTime and each table's
  LatestRestorableDateTime are the fake wall clock minus a known lag.

The fake wall clock is WALL plus the fake clock's seconds since ``t0`` (the
Report's anchor: the same arithmetic as fablink_ops.report.Report.moment).
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from typing import Any

from botocore.awsrequest import AWSResponse

from .timeline import WALL, FakeClock


def _request_params(params: dict) -> dict[str, Any]:
    """The API parameters of a before-call request dict (query or JSON protocol)."""
    body = params.get("body")
    if isinstance(body, dict):
        return body
    if isinstance(body, (bytes, str)) and body:
        return json.loads(body)
    return {}


def _error(code: str, message: str) -> tuple[AWSResponse, dict]:
    http = AWSResponse("https://modelled.invalid", 400, {}, None)
    return http, {"Error": {"Code": code, "Message": message}, "ResponseMetadata": {"HTTPStatusCode": 400}}


class RestoreModel:
    def __init__(
        self,
        clock: FakeClock,
        cluster_at: float = 600.0,
        instance_at: float = 420.0,
        table_default: float = 300.0,
        table_at: dict[str, float] | None = None,
        aurora_lag: float = 42.0,
        table_lag: float = 120.0,
        table_lags: dict[str, float] | None = None,
        wall: datetime = WALL,
    ):
        self.clock = clock
        self.t0 = clock.monotonic()
        self.wall = wall
        self.cluster_at = cluster_at
        self.instance_at = instance_at
        self.table_default = table_default
        self.table_at = table_at or {}
        self.aurora_lag = aurora_lag
        self.table_lag = table_lag
        self.table_lags = table_lags or {}
        self.clusters: dict[str, float] = {}  # temporary cluster -> request time
        self.instances: dict[str, float] = {}
        self.tables: dict[str, tuple[float, str]] = {}  # temporary table -> (request time, source)
        self.refused: list[str] = []  # deletes refused because still creating

    # ----- time

    def wall_now(self) -> datetime:
        return self.wall + timedelta(seconds=self.clock.monotonic() - self.t0)

    def _creating_cluster(self, name: str) -> bool:
        return name in self.clusters and self.clock.monotonic() - self.clusters[name] < self.cluster_at

    def _creating_instance(self, name: str) -> bool:
        return name in self.instances and self.clock.monotonic() - self.instances[name] < self.instance_at

    def _creating_table(self, name: str) -> bool:
        if name not in self.tables:
            return False
        at, source = self.tables[name]
        return self.clock.monotonic() - at < self.table_at.get(source, self.table_default)

    def lag(self, table: str) -> float:
        return self.table_lags.get(table, self.table_lag)

    # ----- hooks

    @property
    def hooks(self):
        return [
            ("after-call.rds.RestoreDBClusterToPointInTime", self._cluster_requested),
            ("before-call.rds.CreateDBInstance", self._refuse_instance_on_creating_cluster),
            ("after-call.rds.CreateDBInstance", self._instance_requested),
            ("after-call.rds.DescribeDBClusters", self._describe_clusters),
            ("after-call.rds.DescribeDBInstances", self._describe_instances),
            ("before-call.rds.DeleteDBCluster", self._refuse_cluster_delete),
            ("before-call.rds.DeleteDBInstance", self._refuse_instance_delete),
            ("after-call.dynamodb.RestoreTableToPointInTime", self._table_requested),
            ("after-call.dynamodb.DescribeTable", self._describe_table),
            ("before-call.dynamodb.DescribeContinuousBackups", self._remember_table),
            ("after-call.dynamodb.DescribeContinuousBackups", self._describe_backups),
            ("before-call.dynamodb.DeleteTable", self._refuse_table_delete),
        ]

    def _cluster_requested(self, parsed, **_):
        if "DBCluster" in parsed:
            self.clusters[parsed["DBCluster"]["DBClusterIdentifier"]] = self.clock.monotonic()
            parsed["DBCluster"]["Status"] = "creating"

    def _refuse_instance_on_creating_cluster(self, params, **_):
        cluster = _request_params(params).get("DBClusterIdentifier", "")
        if self._creating_cluster(cluster):
            return _error("InvalidDBClusterStateFault", f"DB cluster {cluster} is not in the available state")
        return None

    def _instance_requested(self, parsed, **_):
        if "DBInstance" in parsed and parsed["DBInstance"]["DBInstanceIdentifier"] not in self.instances:
            self.instances[parsed["DBInstance"]["DBInstanceIdentifier"]] = self.clock.monotonic()
            parsed["DBInstance"]["DBInstanceStatus"] = "creating"

    def _describe_clusters(self, parsed, **_):
        for c in parsed.get("DBClusters", []):
            name = c["DBClusterIdentifier"]
            if name in self.clusters:
                c["Status"] = "creating" if self._creating_cluster(name) else "available"
            else:
                c["LatestRestorableTime"] = self.wall_now() - timedelta(seconds=self.aurora_lag)

    def _describe_instances(self, parsed, **_):
        for i in parsed.get("DBInstances", []):
            if self._creating_instance(i["DBInstanceIdentifier"]):
                i["DBInstanceStatus"] = "creating"

    def _refuse_cluster_delete(self, params, **_):
        name = _request_params(params).get("DBClusterIdentifier", "")
        if self._creating_cluster(name):
            self.refused.append(name)
            return _error("InvalidDBClusterStateFault", f"DB cluster {name} is not in the available state")
        return None

    def _refuse_instance_delete(self, params, **_):
        name = _request_params(params).get("DBInstanceIdentifier", "")
        if self._creating_instance(name):
            self.refused.append(name)
            return _error("InvalidDBInstanceState", f"Instance {name} is not in available state")
        return None

    def _table_requested(self, parsed, params=None, **_):
        desc = parsed.get("TableDescription")
        if not desc:
            return
        source = desc.get("RestoreSummary", {}).get("SourceTableArn", "").rsplit("/", 1)[-1]
        self.tables[desc["TableName"]] = (self.clock.monotonic(), source)
        desc["TableStatus"] = "CREATING"
        summary = desc.setdefault("RestoreSummary", {})
        summary["RestoreDateTime"] = self.wall_now() - timedelta(seconds=self.lag(source))
        summary["RestoreInProgress"] = True

    def _describe_table(self, parsed, **_):
        table = parsed.get("Table")
        if table and self._creating_table(table["TableName"]):
            table["TableStatus"] = "CREATING"

    def _remember_table(self, params, context=None, **_):
        # DescribeContinuousBackups' answer does not name its table: keep the
        # request's in the call context (the same dict reaches after-call).
        if context is not None:
            context["backup_table"] = _request_params(params).get("TableName", "")
        return None

    def _describe_backups(self, parsed, context=None, **_):
        pitr = parsed.get("ContinuousBackupsDescription", {}).get("PointInTimeRecoveryDescription", {})
        if pitr.get("PointInTimeRecoveryStatus") == "ENABLED":
            table = (context or {}).get("backup_table", "")
            pitr["LatestRestorableDateTime"] = self.wall_now() - timedelta(seconds=self.lag(table))

    def _refuse_table_delete(self, params, **_):
        name = _request_params(params).get("TableName", "")
        if self._creating_table(name):
            self.refused.append(name)
            return _error("ResourceInUseException", f"Attempt to change a resource which is still in use: Table is being created: {name}")
        return None

