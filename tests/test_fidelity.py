"""The fidelity layer makes moto answer as AWS does, and the tool copes with each answer.

Each test runs a stage through the layer's rule (on by default where moto
answers: the sandbox's server, and the tests' in-process moto, a fresh layer
per test: the ``fidelity`` fixture) and asserts the rule really answered, so
it would fail on code that does not handle that AWS behaviour.
tests/test_fidelity_server.py: the same layer in the sandbox's server, as any
client (the aws CLI) meets it.
"""

from __future__ import annotations

import itertools
import random
from collections import Counter

import pytest

from fablink_ops.errors import OpsError
from fablink_ops.fidelity import Call, FidelityLayer, enabled
from fablink_ops.fidelity.rules import (
    APIGW_CONFLICT, DDB_NOT_FOUND, IAM_EKS, NAT_NOT_FOUND, PITR, RULES, WINDOWS,
)
from fablink_ops.patience import EKS_ROLE_PROPAGATION, PITR_ENABLING, WAF_ASSOCIATION, retry_within
from fablink_ops.target import Target
from fablink_ops.engine import Context

from .conftest import FAST_RETRY, boto_session
from .util import provision

REGION = "ap-northeast-2"


class FakeClock:
    """ctx.clock and ctx.sleep: sleeping advances the clock, so a budget of minutes passes at once."""

    def __init__(self) -> None:
        self.now = 0.0

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += max(seconds, 0.001)


def _ctx_with(cfg, layer: FidelityLayer, windows: dict[str, int], clock: FakeClock | None = None) -> Context:
    target = Target("sandbox", REGION, boto_session(REGION), retry=FAST_RETRY)
    layer.windows.update(windows)
    clock = clock or FakeClock()
    return Context(cfg, target, clock=clock.clock, sleep=clock.sleep)


def test_every_rule_names_where_aws_documents_it():
    assert all(r.link for r in RULES)
    documented = [r for r in RULES if not r.link.startswith("(records")]
    assert all(r.link.startswith("https://") for r in documented), [r.name for r in documented]
    assert set(WINDOWS) <= {r.name for r in RULES}


def test_the_layer_is_on_by_default_and_off_by_switch(monkeypatch, aws, fidelity):
    """In moto, not in the tool's clients: a plain boto3 client meets it as
    the tool does; FABLINK_FIDELITY=off gives plain moto (debugging)."""
    assert FidelityLayer().on and enabled()

    def fresh_table_described(name: str) -> str:
        ddb = boto_session(REGION).client("dynamodb", region_name=REGION)
        ddb.create_table(TableName=name, BillingMode="PAY_PER_REQUEST", KeySchema=[{"AttributeName": "k", "KeyType": "HASH"}],
                         AttributeDefinitions=[{"AttributeName": "k", "AttributeType": "S"}])
        try:
            return ddb.describe_table(TableName=name)["Table"]["TableStatus"]
        except ddb.exceptions.ResourceNotFoundException:
            return "not found"

    assert fresh_table_described("on") == "not found" and fidelity.fired[DDB_NOT_FOUND] == 1
    monkeypatch.setenv("FABLINK_FIDELITY", "off")
    assert not enabled() and not FidelityLayer().on
    fidelity.configure({"FABLINK_FIDELITY": "off"})
    assert fresh_table_described("off") == "ACTIVE" and fidelity.fired[DDB_NOT_FOUND] == 1


def test_writes_racing_on_one_api_conflict_the_first_arrival_wins(aws, fidelity, no_random_faults):
    """Four writes on one REST API at once: all in flight together (moto held
    busy), the first to arrive is made, the three that raced it answer
    AWS's concurrent-modification conflict (sequential ones never do:
    tests/test_fidelity_server.py)."""
    import threading
    import time

    from botocore.config import Config
    from botocore.exceptions import ClientError

    from fablink_ops.fidelity import inprocess

    apigw = boto_session(REGION).client("apigateway", region_name=REGION, config=Config(retries={"total_max_attempts": 1}))
    api = apigw.create_rest_api(name="race")["id"]
    root = apigw.get_resources(restApiId=api)["items"][0]["id"]
    answers: list[str] = []

    def create(part: str) -> None:
        try:
            apigw.create_resource(restApiId=api, parentId=root, pathPart=part)
            answers.append("made")
        except ClientError as exc:
            answers.append(exc.response["Error"]["Code"])

    threads = [threading.Thread(target=create, args=(part,)) for part in "abcd"]
    with inprocess._LOCK:  # moto busy with something else: the four queue, in flight together
        for t in threads:
            t.start()
        deadline = time.monotonic() + 10
        while fidelity.in_flight(f"apigateway:restApiId={api}") < 4 and time.monotonic() < deadline:
            time.sleep(0.005)
    for t in threads:
        t.join()
    assert sorted(answers) == ["ConflictException"] * 3 + ["made"]
    assert fidelity.fired[APIGW_CONFLICT] == 3 and len(apigw.get_resources(restApiId=api)["items"]) == 2


def test_the_tools_own_writes_on_one_api_queue_and_never_race(aws, cfg, fidelity, no_random_faults):
    """The tool's parallel writes on one REST API wait for each other in the
    tool (target.SERIAL_WRITES): none is in flight at AWS beside another,
    so none meets the conflict above."""
    import threading
    import time

    from .conftest import make_target

    apigw = make_target(cfg).client("apigateway")
    api = apigw.create_rest_api(name="queued")["id"]
    root = apigw.get_resources(restApiId=api)["items"][0]["id"]
    threads = [threading.Thread(target=apigw.create_resource, kwargs=dict(restApiId=api, parentId=root, pathPart=p))
               for p in "abcd"]
    with apigw._target.serial_lock(f"restApiId={api}"):  # one write of the tool's own under way
        for t in threads:
            t.start()
        time.sleep(0.2)
        assert fidelity.in_flight(f"apigateway:restApiId={api}") == 0  # they wait in the tool, not at AWS
    for t in threads:
        t.join()
    assert fidelity.fired[APIGW_CONFLICT] == 0 and len(apigw.get_resources(restApiId=api)["items"]) == 5


# ----- items 3 and 8: DynamoDB NotFound after create, PITR enabling --------


def test_tables_are_waited_for_through_not_found_and_pitr_through_a_long_refusal(aws, cfg, fidelity):
    """DescribeTable answers NotFound right after CreateTable, and
    UpdateContinuousBackups is refused more times than the client's own
    retries (8) allow: only a budget in minutes gets through."""
    ctx = _ctx_with(cfg, fidelity, {DDB_NOT_FOUND: 1, PITR: 12})
    from fablink_ops.cli import plan_stages
    from fablink_ops.engine import apply

    apply(plan_stages(ctx, ["dynamodb"]), ctx, cfg.engine.concurrency)
    fired = fidelity.fired
    assert fired[DDB_NOT_FOUND] == len(cfg.dynamodb.tables)
    assert fired[PITR] == 12 * len(cfg.dynamodb.tables)
    ddb = boto_session(REGION).client("dynamodb", region_name=REGION)
    for table in cfg.dynamodb.tables:
        backups = ddb.describe_continuous_backups(TableName=table.name)["ContinuousBackupsDescription"]
        assert backups["PointInTimeRecoveryDescription"]["PointInTimeRecoveryStatus"] == "ENABLED"


def test_a_budget_ends_with_aws_error_not_forever(aws, cfg, fidelity):
    clock = FakeClock()
    ctx = _ctx_with(cfg, fidelity, {}, clock)
    calls = itertools.count()

    def refused():
        next(calls)
        from botocore.exceptions import ClientError

        raise ClientError({"Error": {"Code": "ContinuousBackupsUnavailableException", "Message": "later"}}, "UpdateContinuousBackups")

    with pytest.raises(Exception, match="ContinuousBackupsUnavailableException"):
        retry_within(ctx, PITR_ENABLING, refused)
    assert PITR_ENABLING.budget_seconds <= clock.now < PITR_ENABLING.budget_seconds + 31
    assert WAF_ASSOCIATION.budget_seconds == 300 and EKS_ROLE_PROPAGATION.budget_seconds == 120


# ----- item 4: NAT gateway NotFound after create -----------------------------


def test_nat_gateways_are_waited_for_through_not_found(aws, cfg, fidelity):
    provision(cfg, ("network",))
    assert fidelity.fired[NAT_NOT_FOUND] == len(cfg.network.zones)
    nats = boto_session(REGION).client("ec2", region_name=REGION).describe_nat_gateways()["NatGateways"]
    assert sorted(n["State"] for n in nats) == ["available"] * len(cfg.network.zones)


# ----- EKS: items 2, 7, 9 and the cluster security group ---------------------


@pytest.fixture
def eks_moto(monkeypatch):
    from .test_eks import _moto_env

    _moto_env(monkeypatch)


def test_eks_cluster_is_created_through_iam_propagation_and_its_security_group_reaches_the_nodes(aws, eks_moto, cfg, fidelity):
    from .test_eks import _bare_network

    network = _bare_network(cfg)
    target = Target("sandbox", REGION, boto_session(REGION), retry=FAST_RETRY)
    clock = FakeClock()
    ctx = Context(cfg, target, clock=clock.clock, sleep=clock.sleep)
    ctx.outputs.update(network)
    from fablink_ops.engine import apply
    from fablink_ops.resources import eks as eks_stage

    apply(eks_stage.plan(ctx), ctx, cfg.engine.concurrency)
    assert fidelity.fired[IAM_EKS] == WINDOWS[IAM_EKS]  # refused twice, then made
    cluster = boto_session(REGION).client("eks", region_name=REGION).describe_cluster(name=cfg.project.cluster_name)["cluster"]
    assert cluster["status"] == "ACTIVE"
    # The launch template lists EKS's cluster group, as on AWS (moto alone reports none).
    ec2 = boto_session(REGION).client("ec2", region_name=REGION)
    from fablink_ops.resources.eks.common import Names

    data = ec2.describe_launch_template_versions(LaunchTemplateName=Names(cfg).launch_template, Versions=["$Latest"])[
        "LaunchTemplateVersions"][0]["LaunchTemplateData"]
    cluster_sg = fidelity.recall(f"cluster-sg:{cfg.project.cluster_name}")
    assert cluster_sg and cluster_sg in data["SecurityGroupIds"] and len(data["SecurityGroupIds"]) == 2

    # A second run, its own Target (as every CLI run): nothing to do, although
    # DescribeNodegroup now reports updateConfig.updateStrategy (item 7).
    again = Context(cfg, Target("sandbox", REGION, boto_session(REGION), retry=FAST_RETRY), sleep=lambda s: None)
    again.outputs.update(network)
    changes = eks_stage.plan(again)
    assert [c.key for c in changes if c.action not in ("no change", "skipped")] == []


def test_a_role_never_assumable_fails_after_the_two_minute_budget(aws, eks_moto, cfg, fidelity):
    from .test_eks import _bare_network
    from fablink_ops.engine import apply
    from fablink_ops.resources import eks as eks_stage

    clock = FakeClock()
    ctx = _ctx_with(cfg, fidelity, {IAM_EKS: 10**6}, clock)
    ctx.outputs.update(_bare_network(cfg))
    with pytest.raises(OpsError, match="could not be assumed"):
        apply(eks_stage.plan(ctx), ctx, cfg.engine.concurrency)
    assert EKS_ROLE_PROPAGATION.budget_seconds <= clock.now < EKS_ROLE_PROPAGATION.budget_seconds + 60


def test_a_drift_that_comes_back_is_corrected_again_not_a_reused_token(aws, eks_moto, cfg):
    """AWS answers a clientRequestToken it has seen with the earlier update and
    changes nothing (the layer does the same): the update token of one run
    must not be the next run's (item 9)."""
    from .test_eks import _bare_network
    from fablink_ops.engine import apply
    from fablink_ops.resources import eks as eks_stage

    network = _bare_network(cfg)
    target = Target("sandbox", REGION, boto_session(REGION), retry=FAST_RETRY)  # the layer (moto's) remembers the tokens

    def run() -> list:
        ctx = Context(cfg, target, sleep=lambda s: None)
        ctx.outputs.update(network)
        changes = eks_stage.plan(ctx)
        apply(changes, ctx, cfg.engine.concurrency)
        return [c for c in changes if c.action == "update"]

    run()
    eks = boto_session(REGION).client("eks", region_name=REGION)
    name = cfg.project.cluster_name

    def drift() -> None:
        eks.update_cluster_config(name=name, logging={"clusterLogging": [{"types": ["audit"], "enabled": False}]})

    def audit_on() -> bool:
        entries = eks.describe_cluster(name=name)["cluster"]["logging"]["clusterLogging"]
        return any("audit" in e["types"] and e["enabled"] for e in entries)

    for _ in range(2):  # the same drift, twice: the second correction must happen too
        drift()
        assert not audit_on()
        assert [c.name for c in run()] == [name]
        assert audit_on()


def test_aws_creation_times_are_an_opt_in_part_of_the_layer(monkeypatch, aws, fidelity):
    """The benchmark's latency model (fidelity/latency.py) joins the layer when asked: off by default."""
    assert FidelityLayer().latency is None
    monkeypatch.setenv("FABLINK_FIDELITY_LATENCY", "60")
    assert FidelityLayer().latency.duration("nat-gateway") == 2.0
    fidelity.configure({"FABLINK_FIDELITY_LATENCY": "60", "FABLINK_FIDELITY_5XX": "0"})
    fidelity.windows[NAT_NOT_FOUND] = 0  # the status is the point here, not the NotFound before it
    ec2 = boto_session(REGION).client("ec2", region_name=REGION)
    subnet = ec2.create_subnet(VpcId=ec2.create_vpc(CidrBlock="10.9.0.0/16")["Vpc"]["VpcId"], CidrBlock="10.9.1.0/24")
    nat = ec2.create_nat_gateway(SubnetId=subnet["Subnet"]["SubnetId"], AllocationId=ec2.allocate_address(Domain="vpc")["AllocationId"])
    nat_id = nat["NatGateway"]["NatGatewayId"]
    state = ec2.describe_nat_gateways(NatGatewayIds=[nat_id])["NatGateways"][0]["State"]
    assert state == "pending"  # moto alone: available at once


def test_random_server_errors_and_dropped_connections_are_retried_to_the_same_state(aws, cfg, fidelity):
    """The seeded 5xx / dropped-connection rule (on by default at 1%), at 5%, on a
    network provision: the client's transient-error retries carry it through."""
    target = Target("sandbox", REGION, boto_session(REGION), retry=FAST_RETRY)
    fidelity.error_rate, fidelity.seed = 0.05, 7
    ctx = Context(cfg, target, sleep=lambda s: None)
    from fablink_ops.cli import plan_stages
    from fablink_ops.engine import apply

    apply(plan_stages(ctx, ["network"]), ctx, cfg.engine.concurrency)
    assert fidelity.fired["server-errors"] > 0
    again = Context(cfg, Target("sandbox", REGION, boto_session(REGION), retry=FAST_RETRY), sleep=lambda s: None)
    assert [c for c in plan_stages(again, ["network"]) if c.action != "no change"] == []


def test_server_errors_are_on_by_default_and_the_same_whatever_the_order_of_calls(monkeypatch):
    """Issue 14: a low rate by default, a switch, and faults that reproduce
    although concurrent calls interleave differently from run to run."""
    from fablink_ops.fidelity import DEFAULT_5XX_RATE
    from fablink_ops.fidelity.rules import _fault_draws

    assert FidelityLayer().error_rate == DEFAULT_5XX_RATE == 0.01
    monkeypatch.setenv("FABLINK_FIDELITY_5XX", "0")
    assert FidelityLayer().error_rate == 0
    calls = [Call("ec2", op, {"VpcId": f"vpc-{i}"}, None) for i in range(150) for op in ("CreateSubnet", "DescribeVpcs")]

    def failing(order, seed=14):
        layer, attempts, out = FidelityLayer(seed=seed, error_rate=0.05), Counter(), set()
        for call in order:
            attempts[call.operation] += 1
            if _fault_draws(layer, call)[0] < layer.error_rate:
                out.add((call.operation, attempts[call.operation]))
        return out

    first = failing(calls)
    shuffled = list(calls)
    random.Random(3).shuffle(shuffled)  # the other operation's calls come in between differently
    assert 0 < len(first) < 40 and failing(shuffled) == first
    assert failing(calls, seed=15) != first
