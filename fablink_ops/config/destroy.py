"""[destroy]: what `invoke destroy` keeps of a non-production environment's
data, and how long it waits for deletions. The whole section is optional:
by default every data store gets a final snapshot."""

from __future__ import annotations

from dataclasses import dataclass

from .checks import _positive, check


@dataclass(frozen=True)
class DestroyConfig:
    # Aurora: DeleteDBCluster with a FinalDBSnapshotIdentifier (kept by AWS
    # after the cluster is gone, billed as snapshot storage).
    aurora_final_snapshot: bool = True
    # DynamoDB: an on-demand backup (CreateBackup) of each table before
    # DeleteTable; on-demand backups outlive their table.
    dynamodb_final_backup: bool = True
    # Bound on each wait for a deletion (NAT gateways ~1 min, node groups
    # and EKS clusters ~5-10, Aurora instances ~10 in AWS).
    wait_minutes: float = check(_positive, default=30.0)
