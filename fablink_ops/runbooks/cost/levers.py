"""The design's cost levers as what-ifs: each the monthly cost of what it
touches now and with the lever, from the same prices the estimate used
(Reserved terms come from the same Price List products as the on-demand
prices). A lever that does not fit the environment says why, with its figures.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from ...config import Config
from .catalog import ARM_AMI, graviton_twin
from .pricing import RESERVED, Price


@dataclass(frozen=True)
class Lever:
    lever: str
    scope: str
    applies: bool
    current_usd: float
    with_lever_usd: float
    basis: str
    why: str

    @property
    def saving_usd(self) -> float:
        return round(self.current_usd - self.with_lever_usd, 2)

    def to_json(self) -> dict[str, Any]:
        return {"lever": self.lever, "scope": self.scope, "applies": self.applies, "current_usd": self.current_usd,
                "with_lever_usd": self.with_lever_usd, "saving_usd": self.saving_usd, "basis": self.basis, "why": self.why}


def usd(x: float) -> float:
    return round(x, 2)


def baseline_nodes(cfg: Config) -> int:
    """The nodes that always run: min_size per group, and at least enough for the PDB's floor."""
    groups = len(cfg.network.zones)
    floor = math.ceil(cfg.cost.pdb_min_available / cfg.cost.pods_per_node)
    return max(groups * cfg.eks.nodegroups.min_size, floor)


def what_ifs(cfg: Config, book: dict[str, Price]) -> list[Lever]:
    return [*reservations(cfg, book), spot(cfg, book), single_nat(cfg, book), *graviton(cfg, book)]


def reservations(cfg: Config, book: dict[str, Price]) -> list[Lever]:
    hours = cfg.cost.hours_per_month
    db = book[f"rds:{cfg.aurora.instance_class}"]
    n_db = len(cfg.aurora.instances)
    node = book[f"ec2:{cfg.eks.nodegroups.instance_types[0]}"]
    base = baseline_nodes(cfg)
    out = []
    for lease, option in RESERVED:
        term = f"{lease} {option}, standard"
        out.append(Lever(
            f"Reserved Instances {term}", f"Aurora: {n_db} x {cfg.aurora.instance_class}", True,
            usd(n_db * db.unit_usd * hours), usd(n_db * db.reserved_hourly(lease, option) * hours),
            f"on-demand ${db.unit_usd:g}/h vs ${db.reserved_hourly(lease, option):.4f}/h effective (upfront spread over the term), "
            f"SKU {db.sku}",
            "the writer and both readers run all month, every month: the design keeps all three"))
        out.append(Lever(
            f"Reserved Instances {term}", f"node baseline: {base} x {node.query.key[4:]}", cfg.eks.nodegroups.capacity_type == "ON_DEMAND",
            usd(base * node.unit_usd * hours), usd(base * node.reserved_hourly(lease, option) * hours),
            f"on-demand ${node.unit_usd:g}/h vs ${node.reserved_hourly(lease, option):.4f}/h effective, SKU {node.sku}",
            f"the steady baseline: min_size x {len(cfg.network.zones)} groups (and at least the PDB's {cfg.cost.pdb_min_available} "
            f"pods at {cfg.cost.pods_per_node} a node). An EC2 Instance Savings Plan of the same term is priced alike "
            "(Savings Plans rates are not in the Price List API)"))
    return out


def spot(cfg: Config, book: dict[str, Price]) -> Lever:
    c, ng, hours = cfg.cost, cfg.eks.nodegroups, cfg.cost.hours_per_month
    node = book[f"ec2:{ng.instance_types[0]}"]
    base = baseline_nodes(cfg)
    desired = ng.desired_size * len(cfg.network.zones)
    above = max(desired - base, 0)
    current = above * node.unit_usd * hours
    held = base * c.pods_per_node
    why = (f"Spot only above the PDB's floor: the PDB keeps {c.pdb_min_available} of the HPA's {c.hpa_min_replicas}-{c.hpa_max_replicas} "
           f"backend pods; the {base} on-demand baseline nodes hold {held} pods, so a 2-minute Spot interruption of any node above "
           f"them never takes the backend below its PDB. The other {above} of the {desired} desired nodes (and the HPA's scale-out "
           f"up to {ng.max_size * len(cfg.network.zones)}) can be Spot. Discount: [cost].spot_discount_percent "
           f"{c.spot_discount_percent:g}%, an assumption (Spot prices are not in the Price List API)")
    applies = held >= c.pdb_min_available and above > 0 and ng.capacity_type == "ON_DEMAND"
    if held < c.pdb_min_available:
        why = f"not safe: the {base} baseline nodes hold {held} pods, fewer than the PDB's {c.pdb_min_available}"
    if ng.capacity_type == "SPOT":
        why = (f"the node groups are already Spot, baseline included: one interruption wave can take the PDB's "
               f"{c.pdb_min_available} pods. Keep the {base} baseline nodes on-demand; only the capacity above them suits Spot")
    return Lever("Spot for the capacity above the PDB floor", f"{above} of {desired} nodes", applies, usd(current),
                 usd(current * (1 - c.spot_discount_percent / 100)), f"on-demand ${node.unit_usd:g}/h x {above} nodes x {hours:g} h", why)


def single_nat(cfg: Config, book: dict[str, Price]) -> Lever:
    c, n, hours = cfg.cost, len(cfg.network.zones), cfg.cost.hours_per_month
    nat, ip, cross = book["nat:hours"], book["ipv4:hours"], book["dt:inter-az"]
    current = n * (nat.unit_usd + ip.unit_usd) * hours
    # The other AZs' outbound traffic crosses to the one NAT: billed leaving one AZ and entering the other.
    crossing = c.nat_processed_gb_per_month * (n - 1) / n * 2
    with_one = (nat.unit_usd + ip.unit_usd) * hours + cross.cost(crossing)
    production = cfg.project.environment == "prod"
    why = ("not for production: one NAT gateway is one AZ's failure away from no outbound traffic in any AZ; the design "
           "puts one per AZ" if production else
           "non-production: an AZ outage there may take outbound traffic down for a while")
    return Lever("one NAT gateway instead of one per AZ", f"{n} NAT gateways and their Elastic IPs", not production, usd(current),
                 usd(with_one), f"${nat.unit_usd:g}/h + IPv4 ${ip.unit_usd:g}/h each; {crossing:g} GB cross-AZ at ${cross.unit_usd:g}/GB", why)


def graviton(cfg: Config, book: dict[str, Price]) -> list[Lever]:
    ng, hours = cfg.eks.nodegroups, cfg.cost.hours_per_month
    nodes = ng.desired_size * len(cfg.network.zones)
    x86 = ng.instance_types[0]
    twin = graviton_twin(x86)
    out = []
    if ng.ami_type not in ARM_AMI or twin is None:
        reason = (f"{ng.ami_type} has no arm64 counterpart" if ng.ami_type not in ARM_AMI else f"{x86} has no Graviton twin we know")
        cost = nodes * book[f"ec2:{x86}"].unit_usd * hours
        out.append(Lever("Graviton nodes", f"{nodes} x {x86}", False, usd(cost), usd(cost), "—", reason))
    else:
        a, b = book[f"ec2:{x86}"], book[f"ec2:{twin}"]
        out.append(Lever("Graviton nodes", f"{nodes} x {x86} -> {twin}", True, usd(nodes * a.unit_usd * hours), usd(nodes * b.unit_usd * hours),
                         f"${a.unit_usd:g}/h vs ${b.unit_usd:g}/h (SKUs {a.sku}, {b.sku})",
                         f"the AMI type allows it: {ng.ami_type} -> {ARM_AMI[ng.ami_type]}; the backend's images must be built for arm64 "
                         "(multi-arch) first, and instance_types changed in [eks.nodegroups]"))
    db_twin = graviton_twin(cfg.aurora.instance_class)
    if db_twin is None:
        n_db, cls = len(cfg.aurora.instances), cfg.aurora.instance_class
        cost = usd(n_db * book[f"rds:{cls}"].unit_usd * hours)
        family = cls.rsplit(".", 1)[0]
        why = f"{cls} is already Graviton" if family.endswith("g") else f"{cls} has no Graviton twin we know"
        out.append(Lever("Graviton Aurora instances", f"{n_db} x {cls}", False, cost, cost, "—", why))
        return out
    n_db = len(cfg.aurora.instances)
    a, b = book[f"rds:{cfg.aurora.instance_class}"], book[f"rds:{db_twin}"]
    out.append(Lever("Graviton Aurora instances", f"{n_db} x {cfg.aurora.instance_class} -> {db_twin}", True,
                     usd(n_db * a.unit_usd * hours), usd(n_db * b.unit_usd * hours), f"${a.unit_usd:g}/h vs ${b.unit_usd:g}/h",
                     "Aurora PostgreSQL 15 runs on Graviton classes; a class change restarts instances one at a time"))
    return out
