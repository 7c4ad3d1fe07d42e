"""Values the config holds in more than one section, and the section that
owns each.

A runbook section names the Aurora cluster it works on (the drill, the backup
verification, the alarms) because each works on whatever carries that name,
without importing the stage; a copy that drifts from the owner would silently
point it at a cluster that does not exist. So every copy must equal its owner:
the loader refuses a difference with one line naming both keys (exit 2,
before any AWS call).

Other names shared between stages are derived, not copied: the monitoring
stage watches ``Config.dynamodb_tables`` and the edge/eks stages build on the
network's names (resources/network.py ``Names``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Callable

from .checks import _fail

if TYPE_CHECKING:
    from .loader import Config

Get = Callable[["Config"], Any]

# (owner key, how to read it, what it is, [(copy key, how to read it), ...])
COPIES: tuple[tuple[str, Get, str, tuple[tuple[str, Get], ...]], ...] = (
    ("aurora.cluster_identifier", lambda c: c.aurora.cluster_identifier, "the Aurora cluster", (
        ("monitoring.aurora_cluster", lambda c: c.monitoring.aurora_cluster),
        ("drill.aurora_cluster", lambda c: c.drill.aurora_cluster),
        ("backup.aurora_cluster", lambda c: c.backup.aurora_cluster),
    )),
    # The retention backup.verify checks the cluster for is the one the
    # aurora stage sets (design doc: "Backup Retention: 30 days").
    ("aurora.backup_retention_days", lambda c: c.aurora.backup_retention_days, "the Aurora backup retention", (
        ("backup.expected_retention_days", lambda c: c.backup.expected_retention_days),
    )),
    # The pods' readiness probe is what the NLB's health check asks (design
    # doc: Health checks and probes, "Readiness: /ready/").
    ("workload.probes.readiness_path", lambda c: c.workload.probes.readiness_path, "the readiness path", (
        ("edge.health_check.path", lambda c: c.edge.health_check.path),
    )),
    # The cost report prices the workload as the workload stage runs it.
    ("workload.min_replicas", lambda c: c.workload.min_replicas, "the minimum replicas", (
        ("cost.hpa_min_replicas", lambda c: c.cost.hpa_min_replicas),
    )),
    ("workload.max_replicas", lambda c: c.workload.max_replicas, "the maximum replicas", (
        ("cost.hpa_max_replicas", lambda c: c.cost.hpa_max_replicas),
    )),
    ("workload.pdb_min_available", lambda c: c.workload.pdb_min_available, "the PDB's minimum", (
        ("cost.pdb_min_available", lambda c: c.cost.pdb_min_available),
    )),
)


def _validate_copies(cfg: Config) -> None:
    for owner_key, owner, what, copies in COPIES:
        want = owner(cfg)
        for key, read in copies:
            got = read(cfg)
            if got != want:
                raise _fail(cfg.path, key, f"{got!r} differs from {owner_key} ({want!r}): both name {what}; set {key} to {want!r}")
