"""The Aurora stage: an Aurora PostgreSQL 15 cluster, encrypted, recoverable,
protected.

Design doc: Databases, "Aurora PostgreSQL cluster"; Security; "backup
strategy". What it builds, in dependency order:

- a customer managed KMS key (rotation on), found by its alias  (../kms_key.py)
- the Enhanced Monitoring IAM role, the CloudWatch log group(s) the cluster
  exports to (kept logging.retention_days), the DB subnet group over the
  network's private subnets, the cluster parameter group  (support.py)
- the cluster, in the network stage's db security group  (cluster.py)
- its instances: the writer, then the readers  (instances.py)

It follows the network stage's pattern: ``plan`` discovers with a few
describes (discover.py), then one function per resource returns a Change.
Nothing here deletes anything; immutable differences are replace-required
and never carried out.
"""

from __future__ import annotations

from ...engine import Change, Context
from .. import kms_key
from . import cluster as _cluster
from . import instances as _instances
from . import support as _support
from .common import NAME, Names
from .discover import discover

__all__ = ["NAME", "plan"]


def plan(ctx: Context) -> list[Change]:
    names = Names(ctx.cfg)
    found = discover(ctx, names)
    changes = [
        kms_key.change(ctx, names.key_spec(), found.key),  # type: ignore[arg-type]
        _support.monitoring_role(ctx, names, found),
        *(_support.log_group(ctx, names, found, t) for t in ctx.cfg.aurora.log_exports),
        _support.subnet_group(ctx, names, found),
        _support.parameter_group(ctx, names, found),
    ]
    changes.append(_cluster.cluster(ctx, names, found))
    changes += _instances.instances(ctx, names, found)
    return changes

