"""The estimate: every line priced, and the total as the sum of the lines.

Each line's monthly cost is its quantity priced across its price's tiers,
rounded to the cent; the total is the sum of those rounded lines, so the
report's figures add up exactly as printed.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from ...config import Config
from .pricing import Price, Query, Source, resolve
from .quantities import Line


@dataclass(frozen=True)
class Priced:
    line: Line
    price: Price
    monthly_usd: float

    def to_json(self) -> dict[str, Any]:
        ln, p = self.line, self.price
        unit = line_cost(ln, p) / ln.quantity if (p.tiered or ln.discount_percent) and ln.quantity else p.unit_usd
        return {
            "group": ln.group, "item": ln.item, "quantity": round(ln.quantity, 4), "unit": ln.unit,
            "unit_usd": round(unit, 10), "price_unit": p.unit, "tiered": p.tiered, "monthly_usd": self.monthly_usd,
            "quantity_source": ln.source, "price": f"{p.query.what} (SKU {p.sku})",
            "resources": ", ".join(f"{n} {k}" for k, n in ln.resources),
        }


def price_book(source: Source, wanted: dict[str, Query], concurrency: int = 1) -> dict[str, Price]:
    """Every wanted price from the source: one GetProducts query each, ``concurrency`` at once."""
    with ThreadPoolExecutor(max_workers=max(1, concurrency), thread_name_prefix="price") as pool:
        futures = {key: pool.submit(resolve, source, q) for key, q in wanted.items()}
        return {key: f.result() for key, f in futures.items()}


def line_cost(line: Line, price: Price) -> float:
    return price.cost(line.quantity) * (1 - line.discount_percent / 100)


def price_lines(lines: list[Line], book: dict[str, Price]) -> list[Priced]:
    return [Priced(ln, book[ln.price_key], round(line_cost(ln, book[ln.price_key]), 2)) for ln in lines]


def total(priced: list[Priced]) -> float:
    return round(sum(p.monthly_usd for p in priced), 2)


def by_group(priced: list[Priced]) -> dict[str, float]:
    out: dict[str, float] = {}
    for p in priced:
        out[p.line.group] = round(out.get(p.line.group, 0.0) + p.monthly_usd, 2)
    return out


def node_range(cfg: Config, book: dict[str, Price]) -> dict[str, Any]:
    """The node groups' instances a month at their min, desired and max sizes (the HPA and the
    cluster autoscaler move between them); the estimate prices desired."""
    ng, hours = cfg.eks.nodegroups, cfg.cost.hours_per_month
    price = book[f"ec2:{ng.instance_types[0]}"]
    groups = len(cfg.network.zones)
    return {"instance_type": ng.instance_types[0], "groups": groups,
            **{f"{size}_usd": round(groups * getattr(ng, f"{size}_size") * price.unit_usd * hours, 2) for size in ("min", "desired", "max")}}
