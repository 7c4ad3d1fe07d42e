"""The Network Load Balancer, and per colour (blue, green) a target group and TCP listener.

Design doc: Network Load Balancer ("Type: network", "Scheme: internet-facing",
"Cross-Zone Load Balancing: Enabled", "Availability Zones: 3", "Target Groups:
Health check enabled"). Pods are registered into the target group (type ip) by
the AWS Load Balancer Controller's TargetGroupBinding, not by this tool.
Blue's target group and listener are the original ones; green's exist for
blue-green releases (invoke release): an NLB listener forwards to one target
group only (weighted forwarding is ALB-only), so the shift is at API Gateway.
"""

from __future__ import annotations

from botocore.exceptions import ClientError

from ... import tags as tagging
from ...engine import CREATE, REPLACE, WAIT, Change, Context, Diff, change_key, wait_for
from ...target import error_code
from .. import kit
from .common import COLOURS, EdgeNames, Found, Out, change, maybe_update, tags

# ELBv2 attribute keys: https://docs.aws.amazon.com/elasticloadbalancing/latest/network/network-load-balancers.html#load-balancer-attributes
CROSS_ZONE = "load_balancing.cross_zone.enabled"
DELETION_PROTECTION = "deletion_protection.enabled"


def discover(ctx: Context, names: EdgeNames, found: Found) -> None:
    """Five or six reads: the NLB, its attributes and listeners, each colour's target group, their tags."""
    elb = ctx.client("elbv2")
    found.nlb = _by_names(lambda: elb.describe_load_balancers(Names=[names.nlb])["LoadBalancers"], "LoadBalancerNotFound")
    arns = []
    for colour, tg in _target_groups(elb, names).items():
        found.target_groups[colour] = tg
        arns.append(tg["TargetGroupArn"])
        ctx.set_output(Out.tg_arn(colour), tg["TargetGroupArn"])
    if found.nlb:
        arn = found.nlb["LoadBalancerArn"]
        arns.append(arn)
        ctx.set_output(Out.NLB_ARN, arn)
        ctx.set_output(Out.NLB_DNS, found.nlb["DNSName"])
        found.nlb_attrs = {a["Key"]: a["Value"] for a in elb.describe_load_balancer_attributes(LoadBalancerArn=arn)["Attributes"]}
        found.listeners = elb.paginate("describe_listeners", "Listeners", LoadBalancerArn=arn)
        arns += [lst["ListenerArn"] for lst in (_our_listener(names, found, c) for c in COLOURS) if lst]
    if arns:
        for desc in elb.describe_tags(ResourceArns=arns)["TagDescriptions"]:
            found.elb_tags[desc["ResourceArn"]] = tagging.from_list(desc.get("Tags"))


def _target_groups(elb, names: EdgeNames) -> dict[str, dict]:
    """Both colours' target groups in one read; DescribeTargetGroups by names
    fails whole (TargetGroupNotFound) when one is missing: then one read each."""
    wanted = {names.target_group_of(c): c for c in COLOURS}
    try:
        return {wanted[tg["TargetGroupName"]]: tg for tg in elb.describe_target_groups(Names=list(wanted))["TargetGroups"]}
    except ClientError as exc:
        if error_code(exc) != "TargetGroupNotFound":
            raise
    found = {c: _by_names(lambda n=n: elb.describe_target_groups(Names=[n])["TargetGroups"], "TargetGroupNotFound") for n, c in wanted.items()}
    return {c: tg for c, tg in found.items() if tg}


def _our_listener(names: EdgeNames, found: Found, colour: str) -> dict | None:
    return next((lst for lst in found.listeners if lst.get("Port") == names.port_of(colour)), None)


def _by_names(call, not_found: str) -> dict | None:
    # Names are unique per region and account for load balancers and target
    # groups, so at most one answer; a missing name is an error code.
    try:
        items = call()
    except ClientError as exc:
        if error_code(exc) != not_found:
            raise
        return None
    return items[0] if items else None


def plan(ctx: Context, names: EdgeNames, found: Found) -> list[Change]:
    return ([_load_balancer(ctx, names, found)] + [_target_group(ctx, names, found, c) for c in COLOURS]
            + [_listener(ctx, names, found, c) for c in COLOURS])


# ----- the load balancer


def _desired_attrs(ctx: Context) -> dict[str, str]:
    edge = ctx.cfg.edge
    return {CROSS_ZONE: str(edge.nlb_cross_zone).lower(), DELETION_PROTECTION: str(edge.nlb_deletion_protected).lower()}


def _wait_active(ctx: Context, names: EdgeNames) -> str:
    elb = ctx.client("elbv2")
    arn = ctx.output(Out.NLB_ARN)

    def poll() -> tuple[str, str]:
        lb = elb.describe_load_balancers(LoadBalancerArns=[arn])["LoadBalancers"][0]
        return lb["State"]["Code"], lb["State"].get("Reason", "")

    # active_impaired: serving, some zone is impaired; not a reason to stop the build.
    wait_for(ctx, f"load balancer {names.nlb}", poll, {"active", "active_impaired"}, {"failed"}, ctx.cfg.edge.nlb_wait_minutes * 60)
    return arn


def _load_balancer(ctx: Context, names: EdgeNames, found: Found) -> Change:
    edge = ctx.cfg.edge
    subnet_names = names.subnets()
    needs = (*(change_key("subnet", s) for s in subnet_names), names.k_nlb_security_group)
    attrs = _desired_attrs(ctx)
    if found.nlb is None:
        diffs = [Diff("scheme", None, edge.nlb_scheme), Diff("subnets", None, subnet_names),
                 Diff("security groups", None, [names.nlb_security_group]), Diff("PrivateLink inbound rules", None, "off")]
        diffs += [Diff(k, None, v) for k, v in attrs.items()]
        return change("load-balancer", names.nlb, CREATE, diffs=diffs, needs=needs, run=lambda: _create_load_balancer(ctx, names, attrs))
    return _existing_load_balancer(ctx, names, found, attrs, needs)


def _set_attrs(ctx: Context, todo: dict[str, str]) -> None:
    ctx.client("elbv2").modify_load_balancer_attributes(
        LoadBalancerArn=ctx.output(Out.NLB_ARN), Attributes=[{"Key": k, "Value": v} for k, v in sorted(todo.items())]
    )


def _create_load_balancer(ctx: Context, names: EdgeNames, attrs: dict[str, str]) -> str:
    elb, name = ctx.client("elbv2"), names.nlb
    subnets = [ctx.output(f"subnet:{s}") for s in names.subnets()]
    try:
        created = elb.create_load_balancer(
            Name=name, Subnets=subnets, Scheme=ctx.cfg.edge.nlb_scheme, Type="network", IpAddressType="ipv4",
            SecurityGroups=[ctx.output(names.nlb_security_group_output)], Tags=tagging.to_list(tags(ctx.cfg, name)),
        )["LoadBalancers"][0]
    except ClientError as exc:
        # AWS answers an identical create with the existing NLB; moto
        # (and AWS, if settings differ) says the name is taken.
        if error_code(exc) != "DuplicateLoadBalancerName":
            raise
        created = elb.describe_load_balancers(Names=[name])["LoadBalancers"][0]
    ctx.set_output(Out.NLB_ARN, created["LoadBalancerArn"])
    ctx.set_output(Out.NLB_DNS, created["DNSName"])
    # Attributes and the PrivateLink setting cannot be given to CreateLoadBalancer.
    _set_attrs(ctx, attrs)
    _set_security_groups(ctx, names)
    return _wait_active(ctx, names)


def _set_security_groups(ctx: Context, names: EdgeNames) -> None:
    """The NLB's group, its inbound rules not applied to PrivateLink traffic:
    the VPC link (an endpoint service connection) passes, the internet does not.
    https://docs.aws.amazon.com/elasticloadbalancing/latest/network/load-balancer-security-groups.html"""
    ctx.client("elbv2").set_security_groups(
        LoadBalancerArn=ctx.output(Out.NLB_ARN), SecurityGroups=[ctx.output(names.nlb_security_group_output)],
        EnforceSecurityGroupInboundRulesOnPrivateLinkTraffic="off",
    )


def _security_group_drift(ctx: Context, names: EdgeNames, lb: dict) -> tuple[list[Diff], list[kit.Step]]:
    """Groups or the PrivateLink setting differing on an NLB that has groups.
    moto 5.2 does not report the PrivateLink setting: judged only when present."""
    current = sorted(lb.get("SecurityGroups") or [])
    wanted = ctx.outputs.get(names.nlb_security_group_output)
    enforce = lb.get("EnforceSecurityGroupInboundRulesOnPrivateLinkTraffic")
    diffs = []
    if wanted and current != [wanted]:
        diffs.append(Diff("security groups", current, [names.nlb_security_group]))
    if enforce not in (None, "off"):
        diffs.append(Diff("PrivateLink inbound rules", enforce, "off"))
    return diffs, ([lambda: _set_security_groups(ctx, names)] if diffs else [])


def _existing_load_balancer(ctx: Context, names: EdgeNames, found: Found, attrs: dict[str, str], needs: tuple[str, ...]) -> Change:
    elb, name, lb = ctx.client("elbv2"), names.nlb, found.nlb or {}
    subnet_names = names.subnets()
    arn = lb["LoadBalancerArn"]
    immutable = [
        Diff(a, cur, want)
        for a, cur, want in (("type", lb.get("Type"), "network"), ("scheme", lb.get("Scheme"), ctx.cfg.edge.nlb_scheme))
        if cur != want
    ]
    if immutable:
        return change(
            "load-balancer", name, REPLACE, diffs=immutable, resource_id=arn,
            note="a load balancer's type and scheme cannot change: build a new one and move the VPC link; nothing was changed",
        )
    if not lb.get("SecurityGroups"):
        # Issue 17 item 8: an NLB made without security groups can never get one.
        return change(
            "load-balancer", name, REPLACE, diffs=[Diff("security groups", None, [names.nlb_security_group])], resource_id=arn,
            note="an NLB takes security groups only at creation: to close the internet path, turn deletion protection off, "
                 "delete it and provision again (the listener and VPC link follow), or set edge.nlb_scheme = internal; nothing was changed",
        )
    diffs, steps = _security_group_drift(ctx, names, lb)
    current_subnets = sorted(z["SubnetId"] for z in lb.get("AvailabilityZones", []))
    wanted_subnets = [ctx.outputs.get(f"subnet:{s}") for s in subnet_names]
    if None not in wanted_subnets and current_subnets != sorted(wanted_subnets):  # type: ignore[type-var]
        diffs.append(Diff("subnets", current_subnets, subnet_names))
        # An NLB can gain subnets (zones); AWS refuses to remove one.
        steps.append(lambda: elb.set_subnets(LoadBalancerArn=arn, Subnets=[ctx.output(f"subnet:{s}") for s in subnet_names]))
    todo = {k: v for k, v in attrs.items() if found.nlb_attrs.get(k) != v}
    diffs += [Diff(k, found.nlb_attrs.get(k), v) for k, v in todo.items()]
    if todo:
        steps.append(lambda: _set_attrs(ctx, todo))
    tag_diffs, tag_steps = kit.tag_drift(found.elb_tags.get(arn, {}), tags(ctx.cfg, name),
                                         lambda missing: elb.add_tags(ResourceArns=[arn], Tags=tagging.to_list(missing)))
    diffs, steps = diffs + tag_diffs, steps + tag_steps
    state = lb.get("State", {}).get("Code")
    if state == "provisioning":
        return change(
            "load-balancer", name, WAIT, diffs=diffs, resource_id=arn, needs=needs, note="still being created by AWS",
            run=kit.sequence(*steps, lambda: _wait_active(ctx, names)),
        )
    if state == "failed":
        return change("load-balancer", name, REPLACE, resource_id=arn, note=f"AWS reports it failed: {lb['State'].get('Reason', 'no reason given')}; nothing was changed")
    return maybe_update("load-balancer", name, arn, diffs, steps, needs)


# ----- the target group


def _health_check(ctx: Context) -> dict:
    hc = ctx.cfg.edge.health_check
    return {
        "HealthCheckEnabled": True,
        "HealthCheckProtocol": hc.protocol,
        "HealthCheckPort": "traffic-port",
        "HealthCheckPath": hc.path,
        "HealthCheckIntervalSeconds": hc.interval_seconds,
        "HealthCheckTimeoutSeconds": hc.timeout_seconds,
        "HealthyThresholdCount": hc.healthy_threshold,
        "UnhealthyThresholdCount": hc.unhealthy_threshold,
        "Matcher": {"HttpCode": hc.matcher},
    }


def _create_target_group(ctx: Context, name: str, colour: str, health: dict) -> str:
    elb = ctx.client("elbv2")
    try:
        arn = elb.create_target_group(
            Name=name, Protocol="TCP", Port=ctx.cfg.edge.target_port, VpcId=ctx.output("vpc"), TargetType="ip",
            Tags=tagging.to_list(tags(ctx.cfg, name)), **health,
        )["TargetGroups"][0]["TargetGroupArn"]
    except ClientError as exc:
        if error_code(exc) != "DuplicateTargetGroupName":
            raise
        arn = elb.describe_target_groups(Names=[name])["TargetGroups"][0]["TargetGroupArn"]
    ctx.set_output(Out.tg_arn(colour), arn)
    return arn


def _target_group(ctx: Context, names: EdgeNames, found: Found, colour: str) -> Change:
    """A colour's target group (blue's is the original one, never replaced for green's sake)."""
    edge = ctx.cfg.edge
    elb = ctx.client("elbv2")
    name = names.target_group_of(colour)
    desired_tags = tags(ctx.cfg, name)
    health = _health_check(ctx)
    needs = (names.vpc_key,)
    tg = found.target_groups.get(colour)
    if tg is None:
        diffs = [Diff("target", None, f"ip, TCP {edge.target_port}"), Diff("health check", None, f"{health['HealthCheckProtocol']} {health['HealthCheckPath']}")]
        return change("target-group", name, CREATE, diffs=diffs, needs=needs, run=lambda: _create_target_group(ctx, name, colour, health))
    arn = tg["TargetGroupArn"]
    vpc_id = ctx.outputs.get("vpc")
    immutable = [
        Diff(a, cur, want)
        for a, cur, want in (
            ("protocol", tg.get("Protocol"), "TCP"),
            ("port", tg.get("Port"), edge.target_port),
            ("target type", tg.get("TargetType"), "ip"),
            ("vpc", tg.get("VpcId"), vpc_id or tg.get("VpcId")),
        )
        if cur != want
    ]
    if immutable:
        return change(
            "target-group", name, REPLACE, diffs=immutable, resource_id=arn,
            note="a target group's protocol, port, type and VPC cannot change; nothing was changed",
        )
    current = {k: tg.get(k) for k in health}
    drift = {k: v for k, v in health.items() if current[k] != v}
    diffs = [Diff(k, current[k], v) for k, v in drift.items()]
    steps = []
    if drift:
        steps.append(lambda: elb.modify_target_group(TargetGroupArn=arn, **health))
    tag_diffs, tag_steps = kit.tag_drift(found.elb_tags.get(arn, {}), desired_tags,
                                         lambda missing: elb.add_tags(ResourceArns=[arn], Tags=tagging.to_list(missing)))
    return maybe_update("target-group", name, arn, diffs + tag_diffs, steps + tag_steps, needs)


# ----- the listeners: one per colour, each forwarding to its colour's target group


def _listener(ctx: Context, names: EdgeNames, found: Found, colour: str) -> Change:
    elb = ctx.client("elbv2")
    name, port = names.listener_of(colour), names.port_of(colour)
    needs = (names.k_nlb, names.k_tg_of(colour))
    desired_tags = tags(ctx.cfg, name)

    def forward() -> list[dict]:
        return [{"Type": "forward", "TargetGroupArn": ctx.output(Out.tg_arn(colour))}]

    current = _our_listener(names, found, colour)
    if current is None:

        def create() -> str:
            try:
                return elb.create_listener(
                    LoadBalancerArn=ctx.output(Out.NLB_ARN), Protocol="TCP", Port=port, DefaultActions=forward(),
                    Tags=tagging.to_list(desired_tags),
                )["Listeners"][0]["ListenerArn"]
            except ClientError as exc:
                if error_code(exc) != "DuplicateListener":
                    raise
                return ""

        return change("listener", name, CREATE, diffs=[Diff("forward to", None, names.target_group_of(colour))], needs=needs, run=create)
    arn = current["ListenerArn"]
    diffs, steps = [], []
    targets = [a.get("TargetGroupArn") for a in current.get("DefaultActions", []) if a.get("Type") == "forward"]
    if current.get("Protocol") != "TCP" or targets != [ctx.outputs.get(Out.tg_arn(colour))]:
        diffs.append(Diff("forward to", f"{current.get('Protocol')} {targets}", f"TCP {names.target_group_of(colour)}"))
        steps.append(lambda: elb.modify_listener(ListenerArn=arn, Protocol="TCP", Port=port, DefaultActions=forward()))
    tag_diffs, tag_steps = kit.tag_drift(found.elb_tags.get(arn, {}), desired_tags,
                                         lambda missing: elb.add_tags(ResourceArns=[arn], Tags=tagging.to_list(missing)))
    return maybe_update("listener", name, arn, diffs + tag_diffs, steps + tag_steps, needs)
