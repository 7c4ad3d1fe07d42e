"""The edge stage: API Gateway -> VPC link -> NLB -> the backend's target group.

Design doc: Network architecture (Traffic flow, API Gateway, Network Load
Balancer); Security ("AWS WAF on API Gateway"); Logging ("Retention: 90 days").

    nlb.py     the NLB (cross-zone, deletion protection), target group (ip,
               HTTP health checks from the probes), TCP listener
    api.py     VPC link (waits for AVAILABLE), REST API (REGIONAL), the root
               and {proxy+} ANY methods (API key, HTTP_PROXY via the link)
    stage.py   log groups, the account-level CloudWatch role, the prod stage
               and its deployment (a new one only when the definition changed)
    access.py  API key and usage plan (requests per minute / 60, burst)
    domain.py  ACM certificate (DNS validation), REGIONAL domain, base path
    waf.py     REGIONAL web ACL (managed groups + per-IP rate rule), association

Discovery is about sixteen batched reads on a converged account (a few more
while something is missing: the certificates, the web ACLs, all usage plans);
the log groups and the logging role come from reads the stages share
(resources/shared.py). Tag drift is corrected where a read answers with tags
(ELB in one call for all three, API Gateway objects inline, the role, the log
groups and the certificate through the shared tag index); the web ACL gets
its tags in the create call and they are not re-read.
"""

from __future__ import annotations

from ...engine import Change, Context
from .. import kit
from . import access, api, domain, nlb, stage, waf
from .common import NAME, EdgeNames, Found

__all__ = ["NAME", "plan"]


# Each part discovers into the one Found snapshot (in this order: later
# parts read what earlier ones found, such as the API's id).
PARTS = (nlb, api, stage, access, domain, waf)


def discover(ctx: Context, names: EdgeNames) -> Found:
    return kit.discover_parts(ctx, names, Found(), PARTS)


def plan(ctx: Context) -> list[Change]:
    names = EdgeNames(ctx.cfg)
    found = discover(ctx, names)
    changes = nlb.plan(ctx, names, found) + api.plan(ctx, names, found)
    changes += stage.plan(ctx, names, found, changes)
    changes += access.plan(ctx, names, found)
    changes += domain.plan(ctx, names, found)
    changes += waf.plan(ctx, names, found)
    return changes

