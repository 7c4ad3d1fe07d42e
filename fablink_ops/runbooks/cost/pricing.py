"""Prices: from the AWS Price List API (live) or the dated snapshot shipped
with the tool (sandbox: moto has no Pricing API). Both answer the same
question, pricing:GetProducts(ServiceCode, TERM_MATCH filters), in the same
shape (PriceList: JSON strings of product + terms), and one parser reads both.

- The Price List Query API has endpoints in us-east-1, ap-south-1 and
  eu-central-1 only (botocore's endpoint data; "Using the AWS Price List Query
  API", AWS Billing user guide), whatever region the prices are for: the
  region is a filter (regionCode), not the endpoint.
- Each query must match exactly one product: none means the filters are
  wrong for this region (said, with the filters), several means they are
  ambiguous, and the report refuses to guess between prices.
- Tiered prices (API Gateway requests, data transfer, logs) are kept as
  tiers: a month's quantity is priced across them as AWS bills it.
"""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from ...errors import USAGE, OpsError
from ...target import Target

PRICING_REGION = "us-east-1"  # one of the three Price List API endpoints
SNAPSHOT_DIR = Path(__file__).parent
ON_DEMAND_TERM = "JRTCKXETXF"  # AWS's offer term code for on-demand

# Usage types carry a region prefix (APN2-NatGateway-Hours), as in every Price
# List product's usagetype attribute and a Cost and Usage Report's usage type
# column. us-east-1 is left out on purpose: many of its usage types have no
# prefix at all.
USAGE_PREFIX = {
    "ap-northeast-1": "APN1-", "ap-northeast-2": "APN2-", "ap-northeast-3": "APN3-",
    "ap-southeast-1": "APS1-", "ap-southeast-2": "APS2-", "eu-central-1": "EUC1-",
    "us-east-2": "USE2-", "us-west-2": "USW2-",
}

# Reserved terms the levers compare: (LeaseContractLength, PurchaseOption),
# OfferingClass standard.
RESERVED = (("1yr", "No Upfront"), ("1yr", "All Upfront"), ("3yr", "All Upfront"))


@dataclass(frozen=True)
class Query:
    """One price: a GetProducts call and the unit its price must be in.

    ``checked``: whether the answer's unit must be ``unit`` (compared without
    case). Where the Price List's unit spelling could not be confirmed from
    public answers (AWS WAF), the answer's unit is taken as it is and shown.
    """

    key: str
    service: str
    filters: tuple[tuple[str, str], ...]
    unit: str
    what: str
    checked: bool = True

    def api_filters(self) -> list[dict[str, str]]:
        return [{"Type": "TERM_MATCH", "Field": f, "Value": v} for f, v in self.filters]


@dataclass(frozen=True)
class Tier:
    begin: float
    end: float | None  # None: no upper bound ("Inf")
    usd: float


@dataclass(frozen=True)
class Price:
    query: Query
    sku: str
    tiers: tuple[Tier, ...]
    unit: str
    description: str
    # (lease, purchase option) -> (upfront USD, hourly USD)
    reserved: dict[tuple[str, str], tuple[float, float]] = field(default_factory=dict)

    @property
    def unit_usd(self) -> float:
        """The first tier's price: what one unit costs at the start of the month."""
        return self.tiers[0].usd

    @property
    def tiered(self) -> bool:
        return len(self.tiers) > 1

    def cost(self, quantity: float) -> float:
        """A month's quantity priced across the tiers, as AWS bills it."""
        total = 0.0
        for tier in self.tiers:
            top = quantity if tier.end is None else min(quantity, tier.end)
            if top > tier.begin:
                total += (top - tier.begin) * tier.usd
        return total

    def reserved_hourly(self, lease: str, option: str) -> float:
        """A reservation's effective hourly price: upfront spread over the term, plus its hourly fee."""
        upfront, hourly = self.reserved[(lease, option)]
        hours = {"1yr": 8760, "3yr": 26280}[lease]
        return upfront / hours + hourly


class Source(Protocol):
    name: str
    date: str

    def get_products(self, query: Query) -> list[str]: ...


# --------------------------------------------------------------------------
# the two sources


class LiveSource:
    """pricing:GetProducts, paginated, through the target's metered, retrying client."""

    name = "AWS Price List API (pricing:GetProducts)"

    def __init__(self, target: Target):
        self.client = target.client("pricing", region=PRICING_REGION)
        self.date = ""  # the newest publicationDate among the answers
        self._lock = threading.Lock()  # queries run concurrently

    def get_products(self, query: Query) -> list[str]:
        items = self.client.paginate("get_products", "PriceList", ServiceCode=query.service, Filters=query.api_filters(),
                                     FormatVersion="aws_v1")
        dates = [json.loads(i).get("publicationDate", "") for i in items]
        with self._lock:
            self.date = max([self.date, *dates])
        return items


class SnapshotSource:
    """GetProducts answered from a file of earlier answers: the same
    PriceList strings, filtered the way TERM_MATCH filters (every field equal)."""

    def __init__(self, region: str, directory: Path = SNAPSHOT_DIR):
        path = directory / f"snapshot-{region}.json"
        if not path.exists():
            raise OpsError(f"cost.report: no price snapshot for {region} (the tool ships {', '.join(snapshot_regions(directory))}): "
                           "use --live for the Price List API", USAGE)
        doc = json.loads(path.read_text(encoding="utf-8"))
        self.metadata: dict[str, Any] = doc["metadata"]
        self.date = self.metadata["taken"]
        self.name = f"price snapshot {path.name}, {self.metadata['how']}"
        self.answers: dict[str, list[str]] = {svc: a["PriceList"] for svc, a in doc["answers"].items()}

    def get_products(self, query: Query) -> list[str]:
        out = []
        for item in self.answers.get(query.service, []):
            attributes = json.loads(item)["product"]["attributes"]
            if all(attributes.get(f) == v for f, v in query.filters):
                out.append(item)
        return out


def snapshot_regions(directory: Path = SNAPSHOT_DIR) -> list[str]:
    return sorted(p.stem.removeprefix("snapshot-") for p in directory.glob("snapshot-*.json"))


# --------------------------------------------------------------------------
# parsing one answer


def resolve(source: Source, query: Query) -> Price:
    """The one product a query matches, parsed. OpsError when none or several match."""
    items = source.get_products(query)
    shown = ", ".join(f"{f}={v}" for f, v in query.filters)
    if not items:
        raise OpsError(f"no price for {query.what}: {source.name} has no {query.service} product with {shown}")
    if len(items) > 1:
        skus = ", ".join(json.loads(i)["product"]["sku"] for i in items)
        raise OpsError(f"{len(items)} prices for {query.what} ({query.service}, {shown}): SKUs {skus}; refusing to guess")
    return parse(query, json.loads(items[0]))


def parse(query: Query, product: dict[str, Any]) -> Price:
    on_demand = list(product["terms"]["OnDemand"].values())
    if len(on_demand) != 1:
        raise OpsError(f"{query.what}: expected one on-demand term, found {len(on_demand)}")
    dimensions = list(on_demand[0]["priceDimensions"].values())
    tiers = tuple(sorted((Tier(float(d["beginRange"]), None if d["endRange"] == "Inf" else float(d["endRange"]),
                               float(d["pricePerUnit"]["USD"])) for d in dimensions), key=lambda t: t.begin))
    units = {d["unit"] for d in dimensions}
    if len(units) != 1 or (query.checked and units != {query.unit} and {u.lower() for u in units} != {query.unit.lower()}):
        raise OpsError(f"{query.what}: the price is per {', '.join(sorted(units))}, expected per {query.unit}")
    return Price(query, product["product"]["sku"], tiers, units.pop(), dimensions[0].get("description", ""),
                 _reserved(product["terms"].get("Reserved", {})))


def _reserved(terms: dict[str, Any]) -> dict[tuple[str, str], tuple[float, float]]:
    out: dict[tuple[str, str], tuple[float, float]] = {}
    for term in terms.values():
        attrs = term.get("termAttributes", {})
        if attrs.get("OfferingClass", "standard") != "standard":
            continue
        upfront = hourly = 0.0
        for d in term["priceDimensions"].values():
            usd = float(d["pricePerUnit"]["USD"])
            if d["unit"] == "Quantity":  # the upfront fee
                upfront += usd
            elif d["unit"] == "Hrs":
                hourly += usd
        out[(attrs.get("LeaseContractLength", ""), attrs.get("PurchaseOption", ""))] = (upfront, hourly)
    return out


def usage_prefix(region: str) -> str:
    try:
        return USAGE_PREFIX[region]
    except KeyError:
        raise OpsError(f"cost.report: the usage-type prefix of {region} is not known (known: {', '.join(USAGE_PREFIX)})", USAGE) from None
