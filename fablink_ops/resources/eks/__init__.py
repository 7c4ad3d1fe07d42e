"""The EKS stage: secrets key, IAM roles, control-plane log group, the
cluster, the node groups' launch template (the app tier's security group on
the nodes and pods), one managed node group per AZ, IRSA, and the add-ons.

Design doc: EKS cluster; Network Configuration; Security; Authentication and
authorization (IRSA); Logging (EKS cluster logging); Workload resources.
Follows the network stage's pattern: ``discover`` reads what exists in a few
batched calls, one small function per resource returns its Change, and the
Changes' ``run`` closures do the writes, reading ids from ``ctx.outputs`` at
run time (on an empty account the network is created in the same apply).

Modules: common (names, helpers, waits), discover, iam, cluster, nodegroups,
addons; the secrets key is resources/kms_key.py's, as the DynamoDB stage's.
"""

from __future__ import annotations

from ...engine import Change, Context
from .. import kms_key
from . import addons, cluster, iam, launch_template, nodegroups
from .common import NAME, Names
from .discover import discover

__all__ = ["NAME", "plan"]


def plan(ctx: Context) -> list[Change]:
    cfg = ctx.cfg
    names = Names(cfg)
    specs = iam.role_specs(ctx, names)
    found = discover(ctx, names, [s.name for s in specs])
    by_name = {s.name: s for s in specs}
    changes: list[Change | None] = [
        kms_key.change(ctx, names.key_spec(), found.key),
        iam.role(ctx, found, by_name[names.cluster_role]),
        iam.role(ctx, found, by_name[names.node_role]),
        cluster.log_group(ctx, names, found),
        cluster.cluster(ctx, names, found),
        cluster.cluster_version(ctx, names, found),
        iam.oidc_provider(ctx, names, found),
    ]
    changes += [iam.role(ctx, found, s) for s in specs if s.name not in (names.cluster_role, names.node_role)]
    after = cluster.version_after_run(ctx, found)
    template = launch_template.launch_template(ctx, names, found)
    changes.append(template)
    for zone in cfg.network.zones:
        changes.append(nodegroups.nodegroup(ctx, names, found, zone))
        upgrade = nodegroups.nodegroup_version(ctx, names, found, zone, after)
        changes.append(upgrade)
        changes.append(launch_template.rollout(ctx, names, found, zone, template, upgrade))
    changes += nodegroups.unmanaged(found)
    changes += [addons.addon(ctx, names, found, spec) for spec in cfg.eks.addons]
    return [c for c in changes if c is not None]

