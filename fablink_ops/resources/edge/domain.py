"""The custom domain: ACM certificate, REGIONAL domain name, base path mapping.

Design doc: "Custom Domain: api.fablink.com", "SSL Certificate: AWS Certificate
Manager". The certificate is validated through DNS: the tool prints the CNAME
record the operator must create (the zone is not managed here), and in live
mode waits, within a budget, for ACM to issue it. The sandbox performs no DNS
validation and does not wait; the plan says so.

After the domain exists the operator also points api.fablink.com at the
domain's regional endpoint (a CNAME, or an alias record); the plan shows it.
"""

from __future__ import annotations

from typing import Any

from botocore.exceptions import ClientError

from ... import tags as tagging
from ...engine import CREATE, NOOP, REPLACE, WAIT, Change, Context, Diff, wait_for
from ...errors import OpsError
from ...target import error_code
from .. import kit, shared
from .common import EdgeNames, Found, Out, apigw_arn, change, maybe_update, tags

LIVE_CERT_STATUSES = ["PENDING_VALIDATION", "ISSUED"]
FAILED_CERT_STATUSES = {"FAILED", "VALIDATION_TIMED_OUT", "REVOKED", "EXPIRED", "INACTIVE"}
RECORD_WAIT_SECONDS = 120.0  # ACM fills in the validation record a few seconds after the request


def discover(ctx: Context, names: EdgeNames, found: Found) -> None:
    """The domain and its mappings; the certificates only while there is no
    available domain (and, while one is pending, its validation record)."""
    apigw, acm = ctx.client("apigateway"), ctx.client("acm")
    try:
        found.domain = apigw.get_domain_name(domainName=names.domain)
    except ClientError as exc:
        if error_code(exc) != "NotFoundException":
            raise
    if found.domain:
        found.mappings = _mappings(ctx, names)
        ctx.set_output(Out.DOMAIN_TARGET, found.domain.get("regionalDomainName", ""))
        in_use = found.domain.get("regionalCertificateArn")
        if in_use and found.domain.get("domainNameStatus", "AVAILABLE") == "AVAILABLE":
            # API Gateway serves a domain only with an issued certificate, and
            # ACM renews a DNS-validated one in place (same ARN): an available
            # domain's certificate needs no ACM read (two calls saved per plan).
            ctx.set_output(Out.CERTIFICATE_ARN, in_use)
            found.certificate = {"CertificateArn": in_use, "Status": "ISSUED"}
            return
    summaries = acm.paginate("list_certificates", "CertificateSummaryList", CertificateStatuses=LIVE_CERT_STATUSES)
    candidates = [c for c in summaries if c.get("DomainName") == names.domain]
    in_use = (found.domain or {}).get("regionalCertificateArn")
    chosen = next((c for c in candidates if c["CertificateArn"] == in_use), None)
    if chosen is None and candidates:
        if len(candidates) > 1:
            arns = " and ".join(c["CertificateArn"] for c in candidates[:2])
            raise OpsError(f"two certificates for {names.domain} are pending or issued: {arns}; delete the one not wanted, then re-run")
        chosen = candidates[0]
    if chosen:
        ctx.set_output(Out.CERTIFICATE_ARN, chosen["CertificateArn"])
        if chosen.get("Status") == "ISSUED":
            found.certificate = {"CertificateArn": chosen["CertificateArn"], "Status": "ISSUED"}
        else:  # the validation record is only in describe_certificate
            found.certificate = acm.describe_certificate(CertificateArn=chosen["CertificateArn"])["Certificate"]


def _mappings(ctx: Context, names: EdgeNames) -> list[dict]:
    try:
        return ctx.client("apigateway").paginate("get_base_path_mappings", "items", domainName=names.domain)
    except KeyError:
        # moto 5.2 gap: for a domain that has no mapping yet it raises
        # KeyError in-process instead of answering an empty list as AWS does.
        if ctx.target.is_live:
            raise
        return []
    except ClientError as exc:
        # ... and, as a server, answers HTTP 500 for the same case.
        if ctx.target.is_live or exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode") != 500:
            raise
        return []


def plan(ctx: Context, names: EdgeNames, found: Found) -> list[Change]:
    return [_certificate(ctx, names, found), _domain(ctx, names, found), _mapping(ctx, names, found)]


# ----- the certificate


def _record(cert: dict, domain: str) -> dict | None:
    for option in cert.get("DomainValidationOptions", []):
        if option.get("DomainName") == domain and option.get("ResourceRecord"):
            return option["ResourceRecord"]
    return None


def _record_text(record: dict) -> str:
    return f"{record['Name']} {record['Type']} {record['Value']}"


def _wait_issued(ctx: Context, names: EdgeNames) -> str:
    """Show the validation record, then (live) wait for ACM to issue."""
    acm = ctx.client("acm")
    arn = ctx.output(Out.CERTIFICATE_ARN)
    seen: dict = {}

    def poll_record() -> tuple[str, str]:
        cert = acm.describe_certificate(CertificateArn=arn)["Certificate"]
        seen["record"] = _record(cert, names.domain)
        return ("ready" if seen["record"] else "pending"), ""

    wait_for(ctx, f"the DNS validation record of {names.domain}", poll_record, {"ready"}, set(), RECORD_WAIT_SECONDS, interval=2.0)
    record = _record_text(seen["record"])
    ctx.operator_step(f"create the DNS record {record} (validates the certificate of {names.domain})")
    if not ctx.target.is_live:
        return f"{arn}; DNS record to create: {record} (sandbox: no DNS validation, not waited for)"

    def poll_status() -> tuple[str, str]:
        cert = acm.describe_certificate(CertificateArn=arn)["Certificate"]
        return cert["Status"], cert.get("FailureReason", "")

    budget = ctx.cfg.edge.domain.certificate_wait_minutes * 60
    try:
        wait_for(ctx, f"ACM certificate {names.domain} (create DNS record {record})", poll_status, {"ISSUED"}, FAILED_CERT_STATUSES, budget, interval=15.0)
    except OpsError as exc:
        raise OpsError(f"{exc.message}. Validation needs the DNS record {record}; create it, then re-run") from None
    return arn


def _certificate(ctx: Context, names: EdgeNames, found: Found) -> Change:
    acm = ctx.client("acm")
    domain = names.domain
    cert = found.certificate
    if cert is None:

        def create() -> str:
            arn = acm.request_certificate(
                DomainName=domain,
                ValidationMethod="DNS",
                # Same request within an hour (a resumed run): the same certificate.
                IdempotencyToken=kit.request_token("certificate", ctx.cfg.project.account_id, ctx.cfg.project.region, domain, alphanumeric=True),
                Tags=tagging.to_list(tags(ctx.cfg, domain)),
            )["CertificateArn"]
            ctx.set_output(Out.CERTIFICATE_ARN, arn)
            return _wait_issued(ctx, names)

        note = "DNS validation: the apply prints the CNAME record to create" + (
            "" if ctx.target.is_live else "; sandbox: no DNS validation happens and the certificate is not waited for")
        return change("certificate", domain, CREATE, diffs=[Diff("validation", None, "DNS")], run=create, note=note)
    arn = cert["CertificateArn"]
    want = tags(ctx.cfg, domain)
    current = shared.tags_of(ctx, arn, want, lambda: tagging.from_list(acm.list_tags_for_certificate(CertificateArn=arn).get("Tags")))
    diffs, steps = kit.tag_drift(current, want, lambda todo: acm.add_tags_to_certificate(CertificateArn=arn, Tags=tagging.to_list(todo)))
    if cert.get("Status") == "ISSUED":
        return maybe_update("certificate", domain, arn, diffs, steps)
    record = _record(cert, domain)
    shown = _record_text(record) if record else "(not yet published by ACM)"
    if record:
        ctx.operator_step(f"create the DNS record {shown} (validates the certificate of {domain})")
    if not ctx.target.is_live:
        return maybe_update("certificate", domain, arn, diffs, steps,
                            note=f"pending DNS validation: record {shown}; sandbox: no DNS validation, not waited for")

    def tag_then_wait() -> str:
        for step in steps:
            step()
        return _wait_issued(ctx, names)

    return change("certificate", domain, WAIT, diffs=diffs, resource_id=arn, run=tag_then_wait,
                  note=f"pending DNS validation: create the DNS record {shown}")


# ----- the domain name and its mapping to the stage


def _domain(ctx: Context, names: EdgeNames, found: Found) -> Change:
    apigw = ctx.client("apigateway")
    dom = ctx.cfg.edge.domain
    name = names.domain
    desired_tags = tags(ctx.cfg, name)
    current = found.domain
    if current is None:

        def create() -> str:
            try:
                created = apigw.create_domain_name(
                    domainName=name, regionalCertificateArn=ctx.output(Out.CERTIFICATE_ARN),
                    endpointConfiguration={"types": ["REGIONAL"]}, securityPolicy=dom.security_policy, tags=desired_tags,
                )
            except ClientError as exc:  # created by a run whose answer was lost
                if error_code(exc) not in ("ConflictException", "BadRequestException") or "exist" not in str(exc).lower():
                    raise
                created = apigw.get_domain_name(domainName=name)
            target = created.get("regionalDomainName", "")
            ctx.set_output(Out.DOMAIN_TARGET, target)
            pointer = f"point {name} at {target} (CNAME, or an alias to zone {created.get('regionalHostedZoneId', '?')})"
            ctx.operator_step(pointer)
            return pointer

        return change("domain-name", name, CREATE, diffs=[Diff("endpoint", None, "REGIONAL"), Diff("TLS", None, dom.security_policy)],
                      needs=(names.k_certificate,), run=create)
    types = (current.get("endpointConfiguration") or {}).get("types", [])
    target_note = f"point {name} at {current.get('regionalDomainName', '?')}"
    ctx.operator_step(f"{target_note} (CNAME, or an alias to zone {current.get('regionalHostedZoneId', '?')}), if not done yet")
    if types != ["REGIONAL"]:
        return change("domain-name", name, REPLACE, diffs=[Diff("endpoint", types, "REGIONAL")], resource_id=name,
                      note="an edge-optimized domain cannot become regional in place; nothing was changed")
    diffs, ops = [], []
    if current.get("securityPolicy") != dom.security_policy:
        diffs.append(Diff("TLS", current.get("securityPolicy"), dom.security_policy))
        ops.append({"op": "replace", "path": "/securityPolicy", "value": dom.security_policy})
    cert_arn = ctx.outputs.get(Out.CERTIFICATE_ARN)
    if cert_arn and current.get("regionalCertificateArn") != cert_arn:
        diffs.append(Diff("certificate", current.get("regionalCertificateArn"), cert_arn))
        ops.append({"op": "replace", "path": "/regionalCertificateArn", "value": cert_arn})
    steps = []
    if ops:
        steps.append(lambda: apigw.update_domain_name(domainName=name, patchOperations=ops))
    tag_diffs, tag_steps, gap = kit.tag_drift_or_gap(ctx, "domain names", current.get("tags") or {}, desired_tags, lambda todo: apigw.tag_resource(
        resourceArn=apigw_arn(ctx.cfg.project.region, f"/domainnames/{name}"), tags=todo))
    return maybe_update("domain-name", name, name, diffs + tag_diffs, steps + tag_steps, (names.k_certificate,), note=target_note, gap=gap)


def _mapping(ctx: Context, names: EdgeNames, found: Found) -> Change:
    apigw = ctx.client("apigateway")
    base = names.base_path
    name = f"{names.domain}/{base}"
    needs = (names.k_domain, names.k_stage)
    current = next((m for m in found.mappings if m.get("basePath") == base), None)
    if current is None:

        def create() -> str:
            kwargs = {"basePath": ctx.cfg.edge.domain.base_path} if ctx.cfg.edge.domain.base_path else {}
            try:
                apigw.create_base_path_mapping(domainName=names.domain, restApiId=ctx.output(Out.REST_API), stage=names.stage, **kwargs)
            except ClientError as exc:  # created by a run whose answer was lost? Only a read says so.
                if error_code(exc) != "ConflictException" or not _mapping_exists(apigw, names.domain, base):
                    raise
            return name

        return change("base-path-mapping", name, CREATE, diffs=[Diff("stage", None, f"{names.api}/{names.stage}")], needs=needs, run=create)
    api_id = ctx.outputs.get(Out.REST_API)
    ops = []
    if current.get("restApiId") != api_id:
        ops.append({"op": "replace", "path": "/restapiId", "value": api_id or ""})
    if current.get("stage") != names.stage:
        ops.append({"op": "replace", "path": "/stage", "value": names.stage})
    if not ops:
        return change("base-path-mapping", name, NOOP, resource_id=name, needs=needs)

    def repoint() -> None:
        live_ops = [dict(op, value=ctx.output(Out.REST_API)) if op["path"] == "/restapiId" else op for op in ops]
        apigw.update_base_path_mapping(domainName=names.domain, basePath=base, patchOperations=live_ops)

    return maybe_update("base-path-mapping", name, name, [Diff("stage", f"{current.get('restApiId')}/{current.get('stage')}", f"{names.api}/{names.stage}")],
                        [repoint], needs)


def _mapping_exists(apigw: Any, domain: str, base_path: str) -> bool:
    try:
        apigw.get_base_path_mapping(domainName=domain, basePath=base_path)
    except ClientError as exc:
        if error_code(exc) == "NotFoundException":
            return False
        raise
    return True
