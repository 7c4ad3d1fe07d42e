"""The EKS stage on moto: resulting state, re-apply, crash-resume, throttling,
in-place updates, replace-required drift, waits (fake clock), and the live-only
paths (add-ons, version upgrades) through botocore's Stubber."""

from __future__ import annotations

import dataclasses
import json
import math

import boto3
import pytest
from botocore.stub import ANY, Stubber

from fablink_ops.config import load_config
from fablink_ops.engine import CREATE, NOOP, REPLACE, SKIP, UNMANAGED, UPDATE, WAIT, Change, Context, apply
from fablink_ops.errors import AwsError, ConfigError, OpsError
from fablink_ops.resources import eks as eks_stage
from fablink_ops.resources.eks import addons, cluster, iam, nodegroups
from fablink_ops.resources.eks.common import Names, Out
from fablink_ops.resources.eks.discover import Found
from fablink_ops.resources.network import Names as NetworkNames
from fablink_ops.target import Client, Target

from .conftest import CONFIG, FAST_RETRY, make_ctx, make_target, own_moto
from .faults import CrashAtWrite, SimulatedCrash, Throttle, WriteCounter
from .state import client, dump, eks_inventory
from .util import edited_config, logs_key, plan, plan_refused, provision, provisioned

REGION = "ap-northeast-2"
ACCOUNT = "853963783084"
BOTH = ("network", "eks")


def aws_client(service: str):
    return client(service, REGION)


def _few_managed_policies() -> str:
    from moto.iam.aws_managed_policies import aws_managed_policies_data

    wanted = {arn.rsplit("/", 1)[-1] for arn in (*iam.CLUSTER_POLICIES, *iam.NODE_POLICIES)}
    wanted.update(arn.rsplit("/", 1)[-1] for a in load_config(CONFIG).eks.addons for arn in a.policy_arns)
    # the whole-design tests (monitoring, access review) also build the aurora
    # stage, whose monitoring role attaches this one
    wanted.add("AmazonRDSEnhancedMonitoringRole")
    return json.dumps({k: v for k, v in json.loads(aws_managed_policies_data).items() if k in wanted})


_POLICIES = _few_managed_policies()


_PARTITIONS_SESSION = boto3.Session()


def _moto_env(mp: pytest.MonkeyPatch) -> None:
    """Moto, as this stage needs it and fast enough to crash-test every write.

    - The roles attach AWS managed policies by ARN, which moto knows only when
      asked. It would load all ~1,300 for each of the 4 IAM backends a test
      builds (~1.3 s); only the ones this stage attaches are loaded.
    - EC2's default AMIs (~0.7 s) are never used here.
    - moto's EKS checks every role ARN's partition with a brand-new boto3
      Session, which parses botocore's endpoints file each time (~0.15 s per
      CreateCluster/CreateNodegroup); one session answers the same.
    """
    import moto.eks.utils
    import moto.iam.models

    mp.setenv("MOTO_IAM_LOAD_MANAGED_POLICIES", "true")
    mp.setattr(moto.iam.models, "aws_managed_policies_data", _POLICIES)
    mp.setenv("MOTO_EC2_LOAD_DEFAULT_AMIS", "false")
    mp.setattr(moto.eks.utils, "Session", lambda: _PARTITIONS_SESSION)


@pytest.fixture(autouse=True)
def _moto_for_eks(monkeypatch):
    _moto_env(monkeypatch)


def _serial(cfg):
    """One change at a time, so write k is the same write on every run."""
    return dataclasses.replace(cfg, engine=dataclasses.replace(cfg.engine, concurrency=1))


@pytest.fixture(scope="module")
def clean():
    """A clean provision, once, in its own moto (before any test's own):
    the writes of the eks stage in order, and the normalised inventory."""
    serial = _serial(load_config(CONFIG))
    with own_moto(_moto_env):
        counter = WriteCounter()
        _provision_eks(serial, _bare_network(serial), counter.hooks)
        return {"writes": counter.names, "state": dump(eks_inventory(REGION))}


def _bare_network(cfg) -> dict[str, str]:
    """What the eks stage takes from the network, and no more: the private
    subnets (tagged with their names) in a VPC, and the security group of the
    tier the nodes join. Returns the outputs the
    network stage would record. A full network provision would triple the
    time of the crash tests below."""
    ec2, names = aws_client("ec2"), Names(cfg)
    vpc = ec2.create_vpc(CidrBlock=cfg.network.vpc_cidr)["Vpc"]["VpcId"]
    outputs = {}
    for zone in cfg.network.zones:
        name = names.private_subnet(zone)
        outputs[f"subnet:{name}"] = ec2.create_subnet(
            VpcId=vpc, CidrBlock=zone.private_cidr, AvailabilityZone=zone.az,
            TagSpecifications=[{"ResourceType": "subnet", "Tags": [{"Key": "Name", "Value": name}]}],
        )["Subnet"]["SubnetId"]
    tier = cfg.eks.nodegroups.security_group_tier
    outputs[f"sg:{tier}"] = ec2.create_security_group(
        GroupName=NetworkNames(cfg).security_group(tier), Description="nodes", VpcId=vpc)["GroupId"]
    return {**outputs, **logs_key(cfg)}


def _provision_eks(cfg, network_outputs: dict, hooks=(), target: Target | None = None) -> Context:
    """plan + apply of the eks stage alone, given the network's outputs (as
    plan_stages records them, minus its re-plan of the whole network). A
    fresh Context (nothing remembered from an earlier run); the Target (its
    clients) may be reused, which saves botocore's per-client model setup."""
    ctx = Context(cfg, target or make_target(cfg, hooks), sleep=lambda s: None)
    ctx.outputs.update(network_outputs)
    apply(eks_stage.plan(ctx), ctx, cfg.engine.concurrency)
    return ctx


def changed(cfg, **sections):
    """cfg with fields of its eks section (or eks.nodegroups via nodegroups=dict) replaced."""
    eks = cfg.eks
    if "nodegroups" in sections:
        eks = dataclasses.replace(eks, nodegroups=dataclasses.replace(eks.nodegroups, **sections.pop("nodegroups")))
    return dataclasses.replace(cfg, eks=dataclasses.replace(eks, **sections))


def by_key(changes):
    return {c.key: c for c in changes if c.stage == "eks"}


def eks_changes(changes):
    return [c for c in changes if c.stage == "eks"]


# --------------------------------------------------------------------------
# the state after provisioning


def test_provision_builds_the_design(aws, cfg):
    writes: list[tuple[str, str]] = []

    create_cluster: dict = {}

    def record(model, params, **_):
        if model.name.startswith("Create"):
            writes.append((model.name, params.get("logGroupName") or params.get("name") or ""))
        if model.name == "CreateCluster":
            create_cluster.update(params)

    ctx, changes = provision(cfg, BOTH, hooks=[("before-parameter-build", record)])
    names = Names(cfg)
    eks = aws_client("eks")
    iam_client = aws_client("iam")
    kms = aws_client("kms")
    ec2 = aws_client("ec2")

    # KMS key: found by alias, rotation on, tagged with its intended alias
    alias = next(a for a in kms.list_aliases()["Aliases"] if a["AliasName"] == names.key_alias)
    key = kms.describe_key(KeyId=alias["TargetKeyId"])["KeyMetadata"]
    assert kms.get_key_rotation_status(KeyId=key["KeyId"])["KeyRotationEnabled"] is True
    key_tags = {t["TagKey"]: t["TagValue"] for t in kms.list_resource_tags(KeyId=key["KeyId"])["Tags"]}
    assert key_tags["Name"] == names.key_name and key_tags["Alias"] == names.key_alias and key_tags["ManagedBy"] == "fablink-ops"

    # roles by managed-policy ARN
    def attached(role):
        return {a["PolicyArn"] for a in iam_client.list_attached_role_policies(RoleName=role)["AttachedPolicies"]}

    assert attached(names.cluster_role) == {"arn:aws:iam::aws:policy/AmazonEKSClusterPolicy"}
    assert attached(names.node_role) == {
        "arn:aws:iam::aws:policy/AmazonEKSWorkerNodePolicy",
        "arn:aws:iam::aws:policy/AmazonEKS_CNI_Policy",
        "arn:aws:iam::aws:policy/AmazonEC2ContainerRegistryReadOnly",
    }
    secrets = iam_client.get_role_policy(RoleName=names.cluster_role, PolicyName=iam.SECRETS_POLICY)["PolicyDocument"]
    assert secrets["Statement"][0]["Resource"] == key["Arn"]

    # the log group, with our retention, created before the cluster
    group = aws_client("logs").describe_log_groups(logGroupNamePrefix=names.log_group)["logGroups"][0]
    assert group["logGroupName"] == "/aws/eks/fablink-cluster-prod/cluster" and group["retentionInDays"] == 90
    assert writes.index(("CreateLogGroup", names.log_group)) < writes.index(("CreateCluster", names.cluster))

    # the cluster: access entries and standard support asked for explicitly
    # (moto keeps neither, so the request is what is checked)
    assert create_cluster["accessConfig"] == {"authenticationMode": "API_AND_CONFIG_MAP", "bootstrapClusterCreatorAdminPermissions": True}
    assert create_cluster["upgradePolicy"] == {"supportType": "STANDARD"}
    c = eks.describe_cluster(name=names.cluster)["cluster"]
    private = {z.az: ctx.output(f"subnet:{names.private_subnet(z)}") for z in cfg.network.zones}
    assert c["version"] == cfg.eks.version
    assert sorted(c["resourcesVpcConfig"]["subnetIds"]) == sorted(private.values())
    assert c["resourcesVpcConfig"]["endpointPrivateAccess"] is True
    assert c["resourcesVpcConfig"]["endpointPublicAccess"] is False  # no admin CIDRs configured
    assert cluster.enabled_log_types(c) == ["api", "audit", "authenticator", "controllerManager", "scheduler"]
    assert c["kubernetesNetworkConfig"]["serviceIpv4Cidr"] == "172.20.0.0/16"
    assert c["encryptionConfig"] == [{"resources": ["secrets"], "provider": {"keyArn": key["Arn"]}}]
    assert c["roleArn"].endswith(f"role/{names.cluster_role}")
    assert c["tags"]["Stage"] == "eks" and c["tags"]["Name"] == names.cluster
    assert c["clientRequestToken"].startswith("fablink-")

    # one node group per AZ, each only in its AZ's private subnet
    assert sorted(eks.list_nodegroups(clusterName=names.cluster)["nodegroups"]) == sorted(names.nodegroup(z) for z in cfg.network.zones)
    for zone in cfg.network.zones:
        ng = eks.describe_nodegroup(clusterName=names.cluster, nodegroupName=names.nodegroup(zone))["nodegroup"]
        assert ng["subnets"] == [private[zone.az]]
        subnet = ec2.describe_subnets(SubnetIds=ng["subnets"])["Subnets"][0]
        assert subnet["AvailabilityZone"] == zone.az and not subnet["MapPublicIpOnLaunch"]
        assert ng["instanceTypes"] == ["m5.large", "m5.xlarge"]
        assert ng["scalingConfig"] == {"minSize": 1, "maxSize": 6, "desiredSize": 2}
        assert ng["labels"] == {"fablink.com/zone": zone.az, "fablink.com/workload": "backend"}
        assert ng["nodeRole"].endswith(f"role/{names.node_role}")
        assert ng["version"] == cfg.eks.version
        assert ng["tags"]["Name"] == names.nodegroup(zone)
        assert ng["launchTemplate"]["name"] == names.launch_template

    # the launch template: the app tier's security group on the nodes (and
    # so on the pods), the root volume, IMDSv2 only
    [version] = ec2.describe_launch_template_versions(LaunchTemplateName=names.launch_template, Versions=["$Latest"])["LaunchTemplateVersions"]
    assert all(aws_client("eks").describe_nodegroup(clusterName=names.cluster, nodegroupName=names.nodegroup(z))["nodegroup"]
               ["launchTemplate"]["version"] == str(version["VersionNumber"]) for z in cfg.network.zones)
    data = version["LaunchTemplateData"]
    app_sg = ec2.describe_security_groups(Filters=[{"Name": "group-name", "Values": ["fablink-prod-app"]}])["SecurityGroups"][0]
    # + the cluster's group, which moto alone does not report (the fidelity layer does, as EKS)
    assert sorted(data["SecurityGroupIds"]) == sorted([app_sg["GroupId"], ctx.output(Out.CLUSTER_SG)])
    assert data["BlockDeviceMappings"] == [{"DeviceName": "/dev/xvda", "Ebs": {
        "VolumeSize": 50, "VolumeType": "gp3", "Encrypted": True, "DeleteOnTermination": True}}]
    assert data["MetadataOptions"]["HttpTokens"] == "required"
    instance_tags = next(t for t in data["TagSpecifications"] if t["ResourceType"] == "instance")["Tags"]
    assert {"Key": "ManagedBy", "Value": "fablink-ops"} in instance_tags

    # IRSA
    issuer = c["identity"]["oidc"]["issuer"]
    host = issuer.removeprefix("https://")
    provider_arn = f"arn:aws:iam::{ACCOUNT}:oidc-provider/{host}"
    provider = iam_client.get_open_id_connect_provider(OpenIDConnectProviderArn=provider_arn)
    assert provider["ClientIDList"] == ["sts.amazonaws.com"]
    cw_role = names.addon_role(cfg.eks.addons[1])
    cw_trust = iam_client.get_role(RoleName=cw_role)["Role"]["AssumeRolePolicyDocument"]
    assert cw_trust["Statement"] == [{
        "Effect": "Allow",
        "Principal": {"Federated": provider_arn},
        "Action": "sts:AssumeRoleWithWebIdentity",
        "Condition": {"StringEquals": {
            f"{host}:sub": "system:serviceaccount:amazon-cloudwatch:cloudwatch-agent",
            f"{host}:aud": "sts.amazonaws.com",
        }},
    }]
    assert attached(cw_role) == {"arn:aws:iam::aws:policy/CloudWatchAgentServerPolicy"}

    # the add-ons: skipped in the sandbox, plainly
    skipped = [c for c in changes if c.kind == "eks-addon"]
    assert {c.name for c in skipped} == {"vpc-cni", "amazon-cloudwatch-observability"}
    assert all(c.action == SKIP and "sandbox" in c.note and "cannot emulate EKS add-ons" in c.note for c in skipped)

    # re-apply: nothing to do, zero writes
    again, second = provision(cfg, BOTH)
    assert again.target.meter.writes == 0
    assert {c.action for c in eks_changes(second)} == {NOOP, SKIP}


def test_workload_fits_with_one_az_lost(cfg):
    """The sizing arithmetic of config/prod.toml's [eks.nodegroups] comment."""
    pods_per_node = {"m5.large": 2, "m5.xlarge": 6}  # 500m CPU requests after ~450m of daemon sets
    ng, zones = cfg.eks.nodegroups, len(cfg.network.zones)
    worst = min(pods_per_node[t] for t in ng.instance_types)
    w = cfg.workload  # design doc: Workload resources
    max_replicas, min_replicas, pdb_min = w.max_replicas, w.min_replicas, w.pdb_min_available
    assert (zones - 1) * ng.max_size * worst >= max_replicas
    assert (zones - 1) * ng.min_size * worst >= max(min_replicas, pdb_min)
    assert math.ceil(max_replicas / worst) <= zones * ng.max_size


# --------------------------------------------------------------------------
# planning


def test_plans_on_an_empty_account_with_the_network(aws, cfg):
    ctx, changes = plan(cfg, BOTH)
    keys = {c.key for c in changes}
    ours = eks_changes(changes)
    assert {c.action for c in ours} == {CREATE, SKIP}
    assert ctx.target.meter.writes == 0
    for c in ours:
        for need in c.needs:
            if need.startswith(("subnet:", "route-table:")):
                assert need in keys, f"{c.key} needs {need}, which the network plan does not create"
    c = by_key(changes)["eks-cluster:fablink-cluster-prod"]
    assert {"subnet:fablink-prod-private-2a", "subnet:fablink-prod-private-2b", "subnet:fablink-prod-private-2d"} <= set(c.needs)
    assert "log-group:/aws/eks/fablink-cluster-prod/cluster" in c.needs
    ng = by_key(changes)["nodegroup:fablink-prod-nodes-2a"]
    assert "route-table:fablink-prod-private-2a" in ng.needs and "subnet:fablink-prod-private-2a" in ng.needs


def test_eks_alone_needs_the_network(aws, cfg):
    with pytest.raises(OpsError) as err:
        plan(cfg, ("eks",))
    assert err.value.exit_code == 2 and "needs network" in err.value.message


def test_no_op_plan_is_batched(aws, cfg):
    provisioned(cfg, BOTH)
    ctx = make_ctx(cfg)
    from fablink_ops.resources import network

    network.plan(ctx)  # records the subnet ids, as plan_stages does
    before = ctx.target.meter.reads
    changes = eks_stage.plan(ctx)
    assert {c.action for c in changes} == {NOOP, SKIP}
    assert ctx.target.meter.reads - before <= 14  # + 2 add-on reads live; see discover.py


# --------------------------------------------------------------------------
# crash-resume and throttling

EKS_WRITES = 22  # (the backend role moved to the workload stage) checked by test_crash_points_cover_every_write; 2 are CreateCluster refused while IAM propagates the role (fidelity layer)


def test_crash_points_cover_every_write(clean):
    assert len(clean["writes"]) == EKS_WRITES, clean["writes"]


@pytest.mark.parametrize("after", [False, True], ids=["before", "after"])
@pytest.mark.parametrize("k", range(1, EKS_WRITES + 1))
def test_crash_at_every_write_then_rerun_converges(clean, aws, cfg, k, after):
    serial = _serial(cfg)
    network = _bare_network(serial)
    crash = CrashAtWrite(k, after=after)  # fires once: its count never comes back to k
    target = make_target(serial, crash.hooks)
    with pytest.raises(SimulatedCrash):
        _provision_eks(serial, network, target=target)
    _provision_eks(serial, network, target=target)
    assert dump(eks_inventory(REGION)) == clean["state"], f"crash {'after' if after else 'before'} {crash.crashed_on}"
    writes = target.meter.writes
    _provision_eks(serial, network, target=target)
    assert target.meter.writes == writes


def test_throttling_everywhere_still_converges(clean, aws, cfg):
    throttle = Throttle(every=3)
    _provision_eks(cfg, _bare_network(cfg), throttle.hooks)
    assert throttle.throttled > 10
    assert dump(eks_inventory(REGION)) == clean["state"]


def test_key_left_without_alias_is_found_by_tag(aws, cfg):
    """A crash between CreateKey and CreateAlias: the re-run adopts that key."""
    names = Names(cfg)
    kms = aws_client("kms")
    spec = names.key_spec()  # created as the stage's CreateKey does, Alias tag included
    orphan = kms.create_key(Description=spec.description, KeyUsage="ENCRYPT_DECRYPT", KeySpec="SYMMETRIC_DEFAULT",
                            Tags=[{"TagKey": k, "TagValue": v} for k, v in spec.desired_tags().items()])
    orphan_id = orphan["KeyMetadata"]["KeyId"]
    _, changes = plan(cfg, BOTH)
    key_change = by_key(changes)[f"kms-key:{names.key_alias}"]
    assert key_change.action == UPDATE
    assert {d.attribute for d in key_change.diffs} == {"alias", "rotation"}
    provisioned(cfg, BOTH)
    logs = kms.describe_key(KeyId=cfg.logging.kms_key_alias)["KeyMetadata"]["KeyId"]  # the network's logs key (issue 17)
    ours = [k["KeyId"] for k in kms.list_keys()["Keys"] if kms.describe_key(KeyId=k["KeyId"])["KeyMetadata"]["KeyManager"] == "CUSTOMER"]
    assert sorted(ours) == sorted([orphan_id, logs])
    alias = next(a for a in kms.list_aliases()["Aliases"] if a["AliasName"] == names.key_alias)
    assert alias["TargetKeyId"] == orphan_id


def test_two_tagged_keys_without_alias_is_an_error_naming_both(aws, cfg):
    names = Names(cfg)
    kms = aws_client("kms")
    tags = [{"TagKey": k, "TagValue": v} for k, v in names.key_spec().desired_tags().items()]
    arns = [kms.create_key(KeyUsage="ENCRYPT_DECRYPT", Tags=tags)["KeyMetadata"]["Arn"] for _ in range(2)]
    with pytest.raises(OpsError) as err:
        plan(cfg, BOTH)
    assert arns[0] in err.value.message and arns[1] in err.value.message


# --------------------------------------------------------------------------
# waiting: a CREATING cluster found on re-run is waited for, not recreated


def _moto_cluster(name):
    from moto.eks.models import eks_backends

    return eks_backends[ACCOUNT][REGION].clusters[name]


def _moto_nodegroup(cluster, name):
    return _moto_cluster(cluster).nodegroups[name]


def test_creating_cluster_found_on_rerun_is_waited_for(clean, aws, cfg):
    names = Names(cfg)
    serial = _serial(cfg)
    provision(serial, ("network",))
    # the run dies right after CreateCluster, while AWS has the cluster CREATING
    # (the last CreateCluster: the earlier ones are refused while IAM propagates the role)
    crash = CrashAtWrite(len(clean["writes"]) - clean["writes"][::-1].index("CreateCluster"), after=True)
    with pytest.raises(SimulatedCrash):
        provision(serial, ("eks",), hooks=crash.hooks)
    assert crash.crashed_on == "CreateCluster"
    _moto_cluster(names.cluster).status = "CREATING"

    polls = []

    def sleep(seconds):
        polls.append(seconds)
        if len(polls) == 3:
            _moto_cluster(names.cluster).status = "ACTIVE"

    ctx, changes = provision(serial, ("eks",), sleep=sleep)
    assert by_key(changes)[f"eks-cluster:{names.cluster}"].action == WAIT
    assert ctx.target.meter.calls["eks:CreateCluster"] == 0
    assert len(polls) == 3
    # the node groups, which moto refuses on a cluster that is not ACTIVE, came after the wait
    assert len(aws_client("eks").list_nodegroups(clusterName=names.cluster)["nodegroups"]) == 3
    assert aws_client("eks").list_clusters()["clusters"] == [names.cluster]


class FakeClock:
    def __init__(self):
        self.now = 0.0
        self.sleeps: list[float] = []

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


def live_ctx(cfg, clock: FakeClock | None = None) -> tuple[Context, Stubber]:
    """A live-mode context whose EKS client answers from a Stubber."""
    target = Target("live", REGION, boto3.Session(region_name=REGION, aws_access_key_id="x", aws_secret_access_key="x"), retry=FAST_RETRY)
    raw = target._raw_client("eks")
    stub = Stubber(raw)
    target._clients["eks"] = Client(raw, target)
    clock = clock or FakeClock()
    return Context(cfg, target, clock=clock.clock, sleep=clock.sleep), stub


def _cluster_desc(status, version="1.34", health=None, **extra):
    desc = {"name": "fablink-cluster-prod", "arn": f"arn:aws:eks:{REGION}:{ACCOUNT}:cluster/fablink-cluster-prod",
            "status": status, "version": version, "identity": {"oidc": {"issuer": "https://oidc.eks.example/id/ABC"}}}
    if health:
        desc["health"] = {"issues": [{"code": "Ec2SubnetInvalidConfiguration", "message": health}]}
    desc.update(extra)
    return {"cluster": desc}


def test_cluster_wait_polls_until_active(cfg):
    clock = FakeClock()
    ctx, stub = live_ctx(cfg, clock)
    for status in ("CREATING", "CREATING", "CREATING", "ACTIVE"):
        stub.add_response("describe_cluster", _cluster_desc(status), {"name": "fablink-cluster-prod"})
    with stub:
        got = cluster.wait_active(ctx, "fablink-cluster-prod")
    stub.assert_no_pending_responses()
    assert got["status"] == "ACTIVE"
    assert clock.sleeps == [5.0, 7.5, 11.25]  # growing interval
    assert ctx.outputs[Out.OIDC_ISSUER] == "https://oidc.eks.example/id/ABC"


def test_cluster_wait_fails_fast_with_health_issues(cfg):
    clock = FakeClock()
    ctx, stub = live_ctx(cfg, clock)
    stub.add_response("describe_cluster", _cluster_desc("CREATING"), {"name": "fablink-cluster-prod"})
    stub.add_response("describe_cluster", _cluster_desc("FAILED", health="subnet-1 has no free addresses"), {"name": "fablink-cluster-prod"})
    with stub, pytest.raises(AwsError) as err:
        cluster.wait_active(ctx, "fablink-cluster-prod")
    assert "FAILED" in err.value.message and "subnet-1 has no free addresses" in err.value.message
    assert len(clock.sleeps) == 1


def test_cluster_wait_stops_at_its_budget(cfg):
    clock = FakeClock()
    ctx, stub = live_ctx(cfg, clock)
    for _ in range(200):
        stub.add_response("describe_cluster", _cluster_desc("CREATING"), {"name": "fablink-cluster-prod"})
    with stub, pytest.raises(AwsError) as err:
        cluster.wait_active(ctx, "fablink-cluster-prod")
    assert "still CREATING" in err.value.message and "budget 1800s" in err.value.message
    assert clock.now == pytest.approx(30 * 60)


def _ng_desc(status, health=None, version="1.34"):
    desc = {"nodegroupName": "fablink-prod-nodes-2a", "clusterName": "fablink-cluster-prod", "status": status, "version": version,
            "nodegroupArn": f"arn:aws:eks:{REGION}:{ACCOUNT}:nodegroup/fablink-cluster-prod/fablink-prod-nodes-2a/x"}
    if health:
        desc["health"] = {"issues": [{"code": "AsgInstanceLaunchFailures", "message": health, "resourceIds": ["eks-x"]}]}
    return {"nodegroup": desc}


def test_nodegroup_degraded_fails_fast(cfg):
    clock = FakeClock()
    ctx, stub = live_ctx(cfg, clock)
    params = {"clusterName": "fablink-cluster-prod", "nodegroupName": "fablink-prod-nodes-2a"}
    stub.add_response("describe_nodegroup", _ng_desc("CREATING"), params)
    stub.add_response("describe_nodegroup", _ng_desc("DEGRADED", "InsufficientInstanceCapacity"), params)
    with stub, pytest.raises(AwsError) as err:
        nodegroups.wait_active(ctx, Names(cfg), "fablink-prod-nodes-2a")
    assert "DEGRADED" in err.value.message and "InsufficientInstanceCapacity" in err.value.message
    assert clock.now == 5.0  # budget: 25 minutes, but no waiting past the failure


# --------------------------------------------------------------------------
# in-place updates and replace-required drift (moto)


def test_in_place_updates(aws, cfg):
    names = Names(cfg)
    provisioned(cfg, BOTH)
    eks = aws_client("eks")
    arn = eks.describe_cluster(name=names.cluster)["cluster"]["arn"]
    eks.untag_resource(resourceArn=arn, tagKeys=["Owner"])  # someone removed one of our tags
    new = changed(cfg, log_types=("api", "audit", "authenticator"),
                  nodegroups={"max_size": 8, "min_size": 2, "labels": {"fablink.com/workload": "backend", "tier": "app"}, "max_unavailable": 2})
    _, changes = plan(new, BOTH)
    c = by_key(changes)[f"eks-cluster:{names.cluster}"]
    assert c.action == UPDATE
    assert {d.attribute for d in c.diffs} == {"log types", "tag Owner"}
    ng = by_key(changes)["nodegroup:fablink-prod-nodes-2a"]
    assert ng.action == UPDATE
    assert {d.attribute for d in ng.diffs} == {"min/max size", "label tier", "max unavailable"}
    provision(new, BOTH)
    got = eks.describe_cluster(name=names.cluster)["cluster"]
    assert cluster.enabled_log_types(got) == ["api", "audit", "authenticator"]
    assert got["tags"]["Owner"] == "platform-team"
    for zone in cfg.network.zones:
        ngd = eks.describe_nodegroup(clusterName=names.cluster, nodegroupName=names.nodegroup(zone))["nodegroup"]
        assert ngd["scalingConfig"] == {"minSize": 2, "maxSize": 8, "desiredSize": 2}
        assert ngd["labels"]["tier"] == "app" and ngd["labels"]["fablink.com/zone"] == zone.az
        assert ngd["updateConfig"] == {"maxUnavailable": 2, "updateStrategy": "DEFAULT"}  # as EKS reports it (fidelity layer)
    again, changes = provision(new, BOTH)
    assert again.target.meter.writes == 0


def test_public_endpoint_restricted_to_admin_cidrs(aws, cfg):
    names = Names(cfg)
    admins = changed(cfg, admin_cidrs=("198.51.100.7/32", "203.0.113.0/28"))
    provision(admins, BOTH)
    vpc = aws_client("eks").describe_cluster(name=names.cluster)["cluster"]["resourcesVpcConfig"]
    assert vpc["endpointPublicAccess"] is True and vpc["endpointPrivateAccess"] is True
    assert vpc["publicAccessCidrs"] == ["198.51.100.7/32", "203.0.113.0/28"]
    # narrowing the list is an in-place endpoint-access update
    narrower = changed(cfg, admin_cidrs=("198.51.100.7/32",))
    _, changes = plan(narrower, BOTH)
    c = by_key(changes)[f"eks-cluster:{names.cluster}"]
    assert c.action == UPDATE and [d.attribute for d in c.diffs] == ["public access CIDRs"]
    provision(narrower, BOTH)
    vpc = aws_client("eks").describe_cluster(name=names.cluster)["cluster"]["resourcesVpcConfig"]
    assert vpc["publicAccessCidrs"] == ["198.51.100.7/32"] and vpc["endpointPublicAccess"] is True


def test_immutable_drift_is_replace_required_and_never_carried_out(aws, cfg):
    names = Names(cfg)
    provisioned(cfg, BOTH)
    moto_cluster = _moto_cluster(names.cluster)
    moto_cluster.resources_vpc_config["subnetIds"] = moto_cluster.resources_vpc_config["subnetIds"][:2]
    other = changed(cfg, service_cidr="172.21.0.0/16", nodegroups={"instance_types": ("m5.xlarge",)})
    ctx, changes = provision(other, BOTH)
    c = by_key(changes)[f"eks-cluster:{names.cluster}"]
    assert c.action == REPLACE and {d.attribute for d in c.diffs} == {"subnets", "service CIDR"}
    assert "nothing was changed" in c.note
    ng = by_key(changes)["nodegroup:fablink-prod-nodes-2a"]
    assert ng.action == REPLACE and [d.attribute for d in ng.diffs] == ["instance types"]
    assert ctx.target.meter.writes == 0


def test_unmanaged_nodegroup_is_shown_and_left_alone(aws, cfg):
    names = Names(cfg)
    ctx, _ = provision(cfg, BOTH)
    eks = aws_client("eks")
    eks.create_nodegroup(clusterName=names.cluster, nodegroupName="someone-elses", subnets=["subnet-x"],
                         nodeRole=ctx.output(Out.role_arn(names.node_role)))
    again, changes = provision(cfg, BOTH)
    assert by_key(changes)["nodegroup:someone-elses"].action == UNMANAGED
    assert again.target.meter.writes == 0


# --------------------------------------------------------------------------
# version upgrades


def test_version_upgrade_is_planned_one_minor_at_a_time_and_skipped_in_the_sandbox(aws, cfg):
    old = changed(cfg, version="1.32")
    provision(old, BOTH)
    _, changes = plan(cfg, BOTH)  # config says 1.34
    v = by_key(changes)["eks-version:fablink-cluster-prod"]
    assert v.action == SKIP and v.diffs[0].before == "1.32" and v.diffs[0].after == "1.33"
    ngv = by_key(changes)["nodegroup-version:fablink-prod-nodes-2a"]
    assert ngv.action == SKIP and (ngv.diffs[0].before, ngv.diffs[0].after) == ("1.32", "1.33")


def test_downgrade_is_refused(aws, cfg):
    provisioned(cfg, BOTH)
    _, changes = plan(changed(cfg, version="1.33"), BOTH)
    v = by_key(changes)["eks-version:fablink-cluster-prod"]
    assert v.action == REPLACE and "cannot be downgraded" in v.note and v.run is None


def test_live_upgrade_control_plane_first_then_node_group(cfg):
    names = Names(cfg)
    clock = FakeClock()
    ctx, stub = live_ctx(cfg, clock)
    found = Found(cluster=_cluster_desc("ACTIVE", version="1.32")["cluster"],
                  nodegroups={"fablink-prod-nodes-2a": _ng_desc("ACTIVE", version="1.32")["nodegroup"]})
    cv = cluster.cluster_version(ctx, names, found)
    assert cv.action == UPDATE and (cv.diffs[0].before, cv.diffs[0].after) == ("1.32", "1.33")
    assert "run again to go on to 1.34" in cv.note
    after = cluster.version_after_run(ctx, found)
    zone = cfg.network.zones[0]
    nv = nodegroups.nodegroup_version(ctx, names, found, zone, after)
    assert nv.action == UPDATE and (nv.diffs[0].before, nv.diffs[0].after) == ("1.32", "1.33")
    assert "eks-version:fablink-cluster-prod" in nv.needs  # the node group waits for the control plane

    stub.add_response("describe_cluster", _cluster_desc("ACTIVE", version="1.32"), {"name": names.cluster})
    stub.add_response("update_cluster_version", {"update": {"id": "u-1", "status": "InProgress"}},
                      {"name": names.cluster, "version": "1.33", "clientRequestToken": ANY})
    stub.add_response("describe_update", {"update": {"id": "u-1", "status": "InProgress"}}, {"name": names.cluster, "updateId": "u-1"})
    stub.add_response("describe_update", {"update": {"id": "u-1", "status": "Successful"}}, {"name": names.cluster, "updateId": "u-1"})
    ng_params = {"clusterName": names.cluster, "nodegroupName": "fablink-prod-nodes-2a"}
    stub.add_response("describe_nodegroup", _ng_desc("ACTIVE", version="1.32"), ng_params)
    stub.add_response("update_nodegroup_version", {"update": {"id": "u-2", "status": "InProgress"}},
                      {**ng_params, "version": "1.33", "clientRequestToken": ANY})
    stub.add_response("describe_update", {"update": {"id": "u-2", "status": "Successful"}},
                      {"name": names.cluster, "updateId": "u-2", "nodegroupName": "fablink-prod-nodes-2a"})
    with stub:
        apply([cv, nv], ctx, concurrency=4)
    stub.assert_no_pending_responses()
    assert ctx.outputs[Out.CLUSTER_VERSION] == "1.33"


def test_live_upgrade_failure_reports_aws_errors(cfg):
    names = Names(cfg)
    ctx, stub = live_ctx(cfg)
    found = Found(cluster=_cluster_desc("ACTIVE", version="1.33")["cluster"])
    cv = cluster.cluster_version(ctx, names, found)
    stub.add_response("describe_cluster", _cluster_desc("ACTIVE", version="1.33"), {"name": names.cluster})
    stub.add_response("update_cluster_version", {"update": {"id": "u-1", "status": "InProgress"}}, None)
    stub.add_response("describe_update", {"update": {"id": "u-1", "status": "Failed", "errors": [
        {"errorCode": "PodEvictionFailure", "errorMessage": "PDB blocks eviction"}]}}, None)
    with stub, pytest.raises(AwsError) as err:
        apply([cv], ctx, concurrency=1)
    assert "Failed" in err.value.message and "PodEvictionFailure: PDB blocks eviction" in err.value.message


# --------------------------------------------------------------------------
# add-ons: live only (moto has no add-on API), through the Stubber


def _addon_found(cfg, **addons_found):
    return Found(cluster=_cluster_desc("ACTIVE")["cluster"], addons=addons_found)


def test_live_addons_are_created_with_network_policy_and_irsa_and_waited_for(cfg):
    names = Names(cfg)
    clock = FakeClock()
    ctx, stub = live_ctx(cfg, clock)
    ctx.set_output(Out.CLUSTER_ARN, _cluster_desc("ACTIVE")["cluster"]["arn"])
    cw = cfg.eks.addons[1]
    cw_role_arn = f"arn:aws:iam::{ACCOUNT}:role/{names.addon_role(cw)}"
    ctx.set_output(Out.role_arn(names.addon_role(cw)), cw_role_arn)
    found = _addon_found(cfg)
    cni_change = addons.addon(ctx, names, found, cfg.eks.addons[0])
    cw_change = addons.addon(ctx, names, found, cw)
    assert cni_change.action == CREATE and cw_change.action == CREATE
    assert f"iam-role:{names.addon_role(cw)}" in cw_change.needs
    assert {f"nodegroup:{names.nodegroup(z)}" for z in cfg.network.zones} <= set(cni_change.needs)

    tags = {**cfg.base_tags("eks")}
    stub.add_response("create_addon", {"addon": {"addonName": "vpc-cni"}}, {
        "clusterName": names.cluster, "addonName": "vpc-cni", "resolveConflicts": "OVERWRITE",
        "configurationValues": '{"enableNetworkPolicy": "true"}', "tags": {**tags, "Name": "vpc-cni", addons.ALIGNED_TAG: "1.34"},
        "clientRequestToken": ANY,
    })
    stub.add_response("describe_addon", {"addon": {"addonName": "vpc-cni", "status": "CREATING", "addonArn": "arn:cni"}}, None)
    stub.add_response("describe_addon", {"addon": {"addonName": "vpc-cni", "status": "ACTIVE", "addonArn": "arn:cni"}}, None)
    stub.add_response("create_addon", {"addon": {"addonName": cw.name}}, {
        "clusterName": names.cluster, "addonName": cw.name, "resolveConflicts": "OVERWRITE",
        "serviceAccountRoleArn": cw_role_arn, "tags": {**tags, "Name": cw.name, addons.ALIGNED_TAG: "1.34"}, "clientRequestToken": ANY,
    })
    stub.add_response("describe_addon", {"addon": {"addonName": cw.name, "status": "ACTIVE", "addonArn": "arn:cw"}}, None)
    with stub:
        apply([cni_change, cw_change], ctx, concurrency=1)
    stub.assert_no_pending_responses()
    assert clock.sleeps == [5.0]


def test_live_addon_create_failure_fails_fast_with_health(cfg):
    names = Names(cfg)
    ctx, stub = live_ctx(cfg)
    ctx.set_output(Out.CLUSTER_ARN, "arn:aws:eks:x:1:cluster/c")
    change = addons.addon(ctx, names, _addon_found(cfg), cfg.eks.addons[0])
    stub.add_response("create_addon", {"addon": {"addonName": "vpc-cni"}}, None)
    stub.add_response("describe_addon", {"addon": {"addonName": "vpc-cni", "status": "CREATE_FAILED", "addonArn": "a",
                                                   "health": {"issues": [{"code": "ConfigurationConflict", "message": "aws-node exists"}]}}}, None)
    with stub, pytest.raises(AwsError) as err:
        apply([change], ctx, concurrency=1)
    assert "CREATE_FAILED" in err.value.message and "ConfigurationConflict: aws-node exists" in err.value.message


def test_live_addon_drift_is_updated_in_place(cfg):
    names = Names(cfg)
    ctx, stub = live_ctx(cfg)
    current = {"addonName": "vpc-cni", "status": "ACTIVE", "addonArn": "arn:cni", "addonVersion": "v1.19.0-eksbuild.1",
               "configurationValues": "", "tags": {**cfg.base_tags("eks"), "Name": "vpc-cni", addons.ALIGNED_TAG: "1.34"}}
    change = addons.addon(ctx, names, _addon_found(cfg, **{"vpc-cni": current}), cfg.eks.addons[0])
    assert change.action == UPDATE and [d.attribute for d in change.diffs] == ["configuration"]
    stub.add_response("update_addon", {"update": {"id": "u-3", "status": "InProgress"}}, {
        "clusterName": names.cluster, "addonName": "vpc-cni", "resolveConflicts": "OVERWRITE",
        "configurationValues": '{"enableNetworkPolicy": "true"}', "clientRequestToken": ANY,
    })
    stub.add_response("describe_update", {"update": {"id": "u-3", "status": "Successful"}},
                      {"name": names.cluster, "updateId": "u-3", "addonName": "vpc-cni"})
    with stub:
        apply([change], ctx, concurrency=1)
    stub.assert_no_pending_responses()
    converged = {**current, "configurationValues": '{"enableNetworkPolicy":"true"}'}
    assert addons.addon(ctx, names, _addon_found(cfg, **{"vpc-cni": converged}), cfg.eks.addons[0]).action == NOOP


def test_live_discovery_reads_addons_absent_as_absent(cfg):
    from fablink_ops.resources.eks.discover import _discover_addons

    names = Names(cfg)
    ctx, stub = live_ctx(cfg)
    stub.add_client_error("describe_addon", "ResourceNotFoundException", "No addon: vpc-cni found in cluster")
    stub.add_response("describe_addon", {"addon": {"addonName": "amazon-cloudwatch-observability", "status": "ACTIVE"}}, None)
    found = Found()
    with stub:
        _discover_addons(ctx, names, found)
    assert list(found.addons) == ["amazon-cloudwatch-observability"]


# --------------------------------------------------------------------------
# bad config: one line naming the key, exit 2, no AWS call


BAD = [
    ('version = "1.34"', 'version = "1.29"', "eks.version", "1.30 or newer"),
    ('version = "1.34"', 'version = "latest"', "eks.version", "not a Kubernetes minor version"),
    ("admin_cidrs = []", 'admin_cidrs = ["0.0.0.0/0"]', "eks.admin_cidrs[0]", "whole internet"),
    ("admin_cidrs = []", 'admin_cidrs = ["10.0.0.300/32"]', "eks.admin_cidrs[0]", "not a valid IPv4 CIDR"),
    ('instance_types = ["m5.large", "m5.xlarge"]', 'instance_types = ["m5.large", "t3.micro"]', "eks.nodegroups.instance_types[1]", "not allowed"),
    ("min_size = 1 ", "min_size = 0 ", "eks.nodegroups.min_size", "at least 1"),
    ("desired_size = 2", "desired_size = 9", "eks.nodegroups.desired_size", "between min_size"),
    ("max_unavailable = 1 ", "max_unavailable = 0 ", "eks.nodegroups.max_unavailable", "between 1 and max_size"),
    ('security_group_tier = "app"', 'security_group_tier = "web"', "eks.nodegroups.security_group_tier", "not a tier in network.security_groups"),
    ('service_cidr = "172.20.0.0/16"', 'service_cidr = "10.20.0.0/16"', "eks.service_cidr", "overlaps the VPC"),
    ('service_cidr = "172.20.0.0/16"', 'service_cidr = "100.64.0.0/16"', "eks.service_cidr", "/12 to /24"),
    ('log_types = ["api", "audit"', 'log_types = ["api", "kubelet"', "eks.log_types[1]", "not one of"),
    ('data_key_aliases = ["alias/{prefix}-aurora"]', 'data_key_aliases = ["alias/aws/rds"]', "eks.irsa.data_key_aliases[0]", "customer-managed"),
    ("cluster_wait_minutes = 30", "cluster_wait_minutes = 0", "eks.cluster_wait_minutes", "greater than 0"),
    ('ami_type = "AL2023_x86_64_STANDARD"', 'ami_type = "WINDOWS"', "eks.nodegroups.ami_type", "not one of"),
    ('service_account = "amazon-cloudwatch:cloudwatch-agent"', 'service_account = "cloudwatch-agent"', "eks.addons[1].service_account", "namespace:name"),
    ('name = "amazon-cloudwatch-observability"', 'name = "amazon-cloudwatch-observability-with-a-name-far-too-long"', "eks.addons[1].name", "IAM allows 64"),
    ('policy_arns = ["arn:aws:iam::aws:policy/CloudWatchAgentServerPolicy"]', 'policy_arns = ["CloudWatchAgentServerPolicy"]', "eks.addons[1].policy_arns[0]", "not an IAM policy ARN"),
    ('authentication_mode = "API_AND_CONFIG_MAP"', 'authentication_mode = "CONFIG_MAP"', "eks.authentication_mode", "not one of API_AND_CONFIG_MAP, API"),
    ('support_type = "STANDARD"', 'support_type = "standard"', "eks.support_type", "not one of STANDARD, EXTENDED"),
    ("admin_principal_arns = []", 'admin_principal_arns = ["fablink-admin"]', "eks.admin_principal_arns[0]", "not a valid IAM role or user ARN"),
]


@pytest.mark.parametrize("old,new,key,text", BAD, ids=[b[2] + ":" + b[1][:20] for b in BAD])
def test_bad_eks_config_is_one_line_naming_the_key(tmp_path, old, new, key, text):
    path = edited_config(tmp_path, old, new)
    with pytest.raises(ConfigError) as err:
        load_config(path)
    message = err.value.message
    assert "\n" not in message and f": {key}: " in message and text in message, message
    assert err.value.exit_code == 2


def test_bad_eks_config_through_the_cli_exits_2_before_any_aws_call(tmp_path, monkeypatch, capsys):
    path = edited_config(tmp_path, "min_size = 1 ", "min_size = 0 ")
    err = plan_refused(path, monkeypatch, capsys, stage="eks")
    assert err.count("\n") == 1 and "eks.nodegroups.min_size" in err


def test_config_defaults_follow_the_design(cfg):
    assert cfg.eks.minor >= 30
    assert cfg.eks.service_cidr == "172.20.0.0/16"
    assert set(cfg.eks.log_types) == {"api", "audit", "authenticator", "controllerManager", "scheduler"}
    assert cfg.eks.nodegroups.max_unavailable == 1 and cfg.eks.nodegroups.min_size >= 1
    assert cfg.eks.cluster_wait_minutes == 30 and cfg.eks.nodegroup_wait_minutes == 25
    assert {a.name for a in cfg.eks.addons} == {"vpc-cni", "amazon-cloudwatch-observability"}
    assert json.loads(json.dumps(cfg.eks.addons[0].configuration)) == {"enableNetworkPolicy": "true"}


# --------------------------------------------------------------------------
# the node groups' launch template: the app tier's security group on the nodes


def test_a_launch_template_change_makes_a_new_version_and_the_groups_follow(aws, cfg):
    names = Names(cfg)
    provisioned(cfg, BOTH)
    bigger = changed(cfg, nodegroups={"disk_size_gib": 80})
    ctx, changes = provision(bigger, BOTH)
    lt = by_key(changes)[f"launch-template:{names.launch_template}"]
    assert lt.action == UPDATE and [(d.attribute, d.before, d.after) for d in lt.diffs] == [
        ("root volume", "50 GiB gp3, encrypted=True", "80 GiB gp3, encrypted=True")]
    ec2 = aws_client("ec2")
    template = ec2.describe_launch_templates(LaunchTemplateNames=[names.launch_template])["LaunchTemplates"][0]
    assert (template["LatestVersionNumber"], template["DefaultVersionNumber"]) == (2, 2)
    # the node groups are not rebuilt: they roll to the new version (live; moto cannot)
    rolls = [c for c in changes if c.kind == "nodegroup-template"]
    assert len(rolls) == len(cfg.network.zones) and {c.action for c in rolls} == {SKIP}
    assert not [c for c in changes if c.kind == "nodegroup" and c.action != NOOP]
    # converged: the template is not versioned again
    again, changes = provision(bigger, BOTH)
    assert by_key(changes)[f"launch-template:{names.launch_template}"].action == NOOP and again.target.meter.writes == 0


def test_a_node_group_without_the_launch_template_is_replace_required(aws, cfg):
    """An older group (made with diskSize, without the template) cannot be
    given one in place: shown, never rebuilt by the tool."""
    names = Names(cfg)
    provisioned(cfg, BOTH)
    ng = _moto_nodegroup(names.cluster, names.nodegroup(cfg.network.zones[0]))
    ng.launch_template = None
    _, changes = plan(cfg, BOTH)
    c = by_key(changes)[f"nodegroup:{names.nodegroup(cfg.network.zones[0])}"]
    assert c.action == REPLACE and [(d.attribute, d.before) for d in c.diffs] == [("launch template", None)]


def _lt_found(cfg, sgs):
    return {"LaunchTemplateId": "lt-1", "VersionNumber": 3, "LaunchTemplateData": {
        "SecurityGroupIds": sgs,
        "BlockDeviceMappings": [{"DeviceName": "/dev/xvda", "Ebs": {"VolumeSize": cfg.eks.nodegroups.disk_size_gib,
                                                                    "VolumeType": "gp3", "Encrypted": True, "DeleteOnTermination": True}}],
        "MetadataOptions": {"HttpEndpoint": "enabled", "HttpTokens": "required", "HttpPutResponseHopLimit": 2},
        "TagSpecifications": [{"ResourceType": k, "Tags": [{"Key": t, "Value": v} for t, v in
                                                           eks_common_tags(cfg, Names(cfg).launch_template).items()]}
                              for k in ("instance", "volume")],
    }}


def eks_common_tags(cfg, name):
    from fablink_ops.resources.eks.common import desired_tags

    return desired_tags(cfg, name)


def test_live_launch_template_lists_the_cluster_group_and_refuses_to_go_without_it(cfg):
    from fablink_ops.resources.eks import launch_template as lt_mod

    names = Names(cfg)
    ctx, _ = live_ctx(cfg)
    ctx.set_output(Out.CLUSTER_ARN, _cluster_desc("ACTIVE")["cluster"]["arn"])
    ctx.set_output("sg:app", "sg-app")
    # the cluster exists but EKS reported no cluster group: the template is not made
    change = lt_mod.launch_template(ctx, names, Found())
    assert change.action == CREATE and "(the cluster's security group)" in change.diffs[0].after
    with pytest.raises(OpsError, match="no cluster security group"):
        change.run()
    # with it: both groups
    ctx.set_output(Out.CLUSTER_SG, "sg-cluster")
    ec2 = ctx.target._raw_client("ec2")
    ctx.target._clients["ec2"] = Client(ec2, ctx.target)
    with Stubber(ec2) as stub:
        stub.add_response("create_launch_template", {"LaunchTemplate": {"LaunchTemplateId": "lt-1", "LatestVersionNumber": 1}}, {
            "LaunchTemplateName": names.launch_template, "LaunchTemplateData": ANY, "ClientToken": ANY,
            "VersionDescription": "fablink-ops", "TagSpecifications": ANY})
        calls = []
        ec2.meta.events.register("provide-client-params.ec2.CreateLaunchTemplate", lambda params, **_: calls.append(params))
        lt_mod.launch_template(ctx, names, Found()).run()
    assert calls[0]["LaunchTemplateData"]["SecurityGroupIds"] == ["sg-app", "sg-cluster"]
    assert ctx.output(Out.LAUNCH_TEMPLATE) == {"id": "lt-1", "version": "1"}
    # an existing template without the cluster group is corrected
    found = Found(launch_template=_lt_found(cfg, ["sg-app"]))
    fix = lt_mod.launch_template(ctx, names, found)
    assert fix.action == UPDATE and [(d.before, d.after) for d in fix.diffs] == [(["sg-app"], ["sg-app", "sg-cluster"])]


def test_live_node_groups_roll_to_a_new_template_version(cfg):
    from fablink_ops.resources.eks import launch_template as lt_mod

    names = Names(cfg)
    zone = cfg.network.zones[0]
    clock = FakeClock()
    ctx, stub = live_ctx(cfg, clock)
    ctx.set_output("sg:app", "sg-app")
    ctx.set_output(Out.CLUSTER_SG, "sg-cluster")
    ng = {**_ng_desc("ACTIVE")["nodegroup"], "launchTemplate": {"name": names.launch_template, "id": "lt-1", "version": "2"}}
    found = Found(launch_template=_lt_found(cfg, ["sg-app", "sg-cluster"]), nodegroups={names.nodegroup(zone): ng})
    template = lt_mod.launch_template(ctx, names, found)  # version 3 is the latest and as wanted
    assert template.action == NOOP
    upgrade = Change("eks", "nodegroup-version", names.nodegroup(zone), UPDATE)
    # One EKS update of a group at a time: after the group's version upgrade
    # when the plan has one; a need on a change the plan lacks would be an error.
    assert upgrade.key in lt_mod.rollout(ctx, names, found, zone, template, upgrade).needs
    roll = lt_mod.rollout(ctx, names, found, zone, template)
    assert roll.action == UPDATE and (roll.diffs[0].before, roll.diffs[0].after) == ("2", "3")
    assert not [n for n in roll.needs if n.startswith("nodegroup-version:")]
    params = {"clusterName": names.cluster, "nodegroupName": names.nodegroup(zone)}
    stub.add_response("update_nodegroup_version", {"update": {"id": "u-3", "status": "InProgress"}},
                      {**params, "launchTemplate": {"id": "lt-1", "version": "3"}, "clientRequestToken": ANY})
    stub.add_response("describe_update", {"update": {"id": "u-3", "status": "Successful"}},
                      {"name": names.cluster, "updateId": "u-3", "nodegroupName": names.nodegroup(zone)})
    with stub:
        assert roll.run() == "3"
        stub.assert_no_pending_responses()
    # on the newest version already: nothing to do
    ng["launchTemplate"]["version"] = "3"
    assert lt_mod.rollout(ctx, names, found, zone, template) is None


# --------------------------------------------------------------------------
# access entries for the configured admins: live only (moto has no such API)


ADMIN = f"arn:aws:iam::{ACCOUNT}:role/fablink-admin"
OTHER_ADMIN = f"arn:aws:iam::{ACCOUNT}:user/ops"


def test_live_admins_get_access_entries_with_the_cluster_admin_policy(cfg):
    from fablink_ops.resources.eks import access_entries

    cfg = changed(cfg, admin_principal_arns=(ADMIN, OTHER_ADMIN))
    names = Names(cfg)
    ctx, stub = live_ctx(cfg)
    ctx.set_output(Out.CLUSTER_ARN, _cluster_desc("ACTIVE")["cluster"]["arn"])
    found = Found(cluster=_cluster_desc("ACTIVE")["cluster"])
    cluster_only = {"clusterName": names.cluster}
    stub.add_response("list_access_entries", {"accessEntries": [OTHER_ADMIN, f"arn:aws:iam::{ACCOUNT}:role/creator"]}, cluster_only)
    stub.add_response("list_associated_access_policies", {"clusterName": names.cluster, "principalArn": OTHER_ADMIN,
                      "associatedAccessPolicies": []}, {**cluster_only, "principalArn": OTHER_ADMIN})
    with stub:
        planned = access_entries.access_entries(ctx, names, found)
    assert [(c.name, c.action) for c in planned] == [(ADMIN, CREATE), (OTHER_ADMIN, UPDATE)]
    assert all(c.needs == ("eks-cluster:fablink-cluster-prod",) for c in planned)

    policy = {"policyArn": access_entries.ADMIN_POLICY, "accessScope": {"type": "cluster"}}
    stub.add_response("create_access_entry", {"accessEntry": {"principalArn": ADMIN}}, {
        **cluster_only, "principalArn": ADMIN, "type": "STANDARD", "tags": {**cfg.base_tags("eks"), "Name": "cluster-admin"},
        "clientRequestToken": ANY})
    stub.add_response("associate_access_policy", {"clusterName": names.cluster, "principalArn": ADMIN},
                      {**cluster_only, "principalArn": ADMIN, **policy})
    stub.add_response("associate_access_policy", {"clusterName": names.cluster, "principalArn": OTHER_ADMIN},
                      {**cluster_only, "principalArn": OTHER_ADMIN, **policy})
    with stub:
        apply(planned, ctx, concurrency=1)
    stub.assert_no_pending_responses()

    stub.add_response("list_access_entries", {"accessEntries": [ADMIN]}, cluster_only)
    stub.add_response("list_associated_access_policies", {"clusterName": names.cluster, "principalArn": ADMIN,
                      "associatedAccessPolicies": [{**policy, "associatedAt": "2026-01-01T00:00:00Z", "modifiedAt": "2026-01-01T00:00:00Z"}]},
                      {**cluster_only, "principalArn": ADMIN})
    with stub:
        again = access_entries.access_entries(ctx, names, found)[0]
    assert again.action == NOOP


def test_access_entries_are_skipped_in_the_sandbox_saying_so(aws, cfg):
    from fablink_ops.resources.eks import access_entries

    cfg = changed(cfg, admin_principal_arns=(ADMIN,))
    [entry] = access_entries.access_entries(make_ctx(cfg), Names(cfg), Found())
    assert entry.action == SKIP and "moto" in entry.note and "--live" in entry.note


def test_live_auth_mode_and_support_type_drift_is_updated_forward_only(cfg):
    names = Names(cfg)
    ctx, stub = live_ctx(cfg)
    desc = _cluster_desc("ACTIVE", accessConfig={"authenticationMode": "CONFIG_MAP"}, upgradePolicy={"supportType": "EXTENDED"})["cluster"]
    diffs, _ = cluster._updates(ctx, names, desc)
    mine = [(d.attribute, d.before, d.after) for d in diffs if d.attribute in ("authentication mode", "support type")]
    assert mine == [("authentication mode", "CONFIG_MAP", "API_AND_CONFIG_MAP"), ("support type", "EXTENDED", "STANDARD")]
    back = _cluster_desc("ACTIVE", accessConfig={"authenticationMode": "API"})["cluster"]
    assert ("authentication mode", "API", "API_AND_CONFIG_MAP") in [(d.attribute, d.before, d.after) for d in cluster._immutable(ctx, names, back)]


def test_live_unpinned_addons_follow_a_control_plane_upgrade_to_the_new_default(cfg):
    """After the control plane goes 1.33 -> 1.34, an add-on without a pinned
    version moves to AWS's default for 1.34 (never down), once: the tag
    records the version it was aligned to, so the next plan reads nothing."""
    names = Names(cfg)
    ctx, stub = live_ctx(cfg)
    ctx.set_output(Out.CLUSTER_ARN, _cluster_desc("ACTIVE")["cluster"]["arn"])
    spec = cfg.eks.addons[0]
    assert spec.version == ""  # the shipped config pins none
    current = {"addonName": "vpc-cni", "status": "ACTIVE", "addonArn": "arn:cni", "addonVersion": "v1.18.3-eksbuild.1",
               "configurationValues": '{"enableNetworkPolicy":"true"}',
               "tags": {**cfg.base_tags("eks"), "Name": "vpc-cni", addons.ALIGNED_TAG: "1.33"}}
    found = Found(cluster=_cluster_desc("ACTIVE", version="1.33")["cluster"], addons={"vpc-cni": current})
    versions = {"addons": [{"addonName": "vpc-cni", "addonVersions": [
        {"addonVersion": "v1.20.1-eksbuild.1", "compatibilities": [{"clusterVersion": "1.34", "defaultVersion": False}]},
        {"addonVersion": "v1.19.6-eksbuild.2", "compatibilities": [{"clusterVersion": "1.34", "defaultVersion": True}]},
    ]}]}
    stub.add_response("describe_addon_versions", versions, {"addonName": "vpc-cni", "kubernetesVersion": "1.34"})
    with stub:
        planned = addons.addon(ctx, names, found, spec)
    assert planned.action == UPDATE
    assert ("version", "v1.18.3-eksbuild.1", "v1.19.6-eksbuild.2 (AWS's default for 1.34)") in [
        (d.attribute, d.before, d.after) for d in planned.diffs]
    assert "eks-version:fablink-cluster-prod" in planned.needs  # after the control plane's upgrade
    stub.add_response("update_addon", {"update": {"id": "u-9", "status": "InProgress"}}, {
        "clusterName": names.cluster, "addonName": "vpc-cni", "resolveConflicts": "OVERWRITE", "addonVersion": "v1.19.6-eksbuild.2",
        "configurationValues": '{"enableNetworkPolicy": "true"}', "clientRequestToken": ANY})
    stub.add_response("describe_update", {"update": {"id": "u-9", "status": "Successful"}}, None)
    stub.add_response("tag_resource", {}, {"resourceArn": "arn:cni", "tags": {addons.ALIGNED_TAG: "1.34"}})
    with stub:
        apply([planned], ctx, concurrency=1)
    stub.assert_no_pending_responses()

    aligned = {**current, "addonVersion": "v1.19.6-eksbuild.2", "tags": {**current["tags"], addons.ALIGNED_TAG: "1.34"}}
    converged = Found(cluster=_cluster_desc("ACTIVE", version="1.34")["cluster"], addons={"vpc-cni": aligned})
    assert addons.addon(ctx, names, converged, spec).action == NOOP  # no DescribeAddonVersions: nothing stubbed


# --------------------------------------------------------------------------
# node group tags: moto's TagResource answers NotFound for node groups (it
# tags clusters only), so the sandbox skips them and says so; live tags them


def _ng_in_config(cfg, tags: dict) -> dict:
    """A node group as DescribeNodegroup answers, matching the config but for its tags."""
    names, zone, ng = Names(cfg), cfg.network.zones[0], cfg.eks.nodegroups
    return {**_ng_desc("ACTIVE")["nodegroup"], "subnets": [names.private_subnet(zone)], "instanceTypes": list(ng.instance_types),
            "amiType": ng.ami_type, "capacityType": ng.capacity_type, "launchTemplate": {"name": names.launch_template},
            "scalingConfig": {"minSize": ng.min_size, "maxSize": ng.max_size, "desiredSize": ng.desired_size},
            "labels": nodegroups.labels(make_ctx(cfg), zone), "updateConfig": {"maxUnavailable": ng.max_unavailable}, "tags": tags}


@pytest.mark.parametrize("live", [False, True])
def test_node_group_tag_drift_is_skipped_in_the_sandbox_and_tagged_live(cfg, live):
    names, zone = Names(cfg), cfg.network.zones[0]
    want = eks_common_tags(cfg, names.nodegroup(zone))
    current = _ng_in_config(cfg, {k: v for k, v in want.items() if k != "Stage"})
    ctx, stub = live_ctx(cfg) if live else (make_ctx(cfg), None)
    change = nodegroups._existing_nodegroup(ctx, names, zone, current, needs=())
    assert [(d.attribute, d.before, d.after) for d in change.diffs] == [("tag Stage", None, "eks")]
    if not live:
        assert change.action == SKIP and change.run is None
        assert "tags skipped in the sandbox: moto's TagResource answers NotFound for node groups" in change.note
        return
    assert change.action == UPDATE and "skipped" not in change.note
    stub.add_response("tag_resource", {}, {"resourceArn": current["nodegroupArn"], "tags": {"Stage": "eks"}})
    with stub:
        change.run()
    stub.assert_no_pending_responses()


@pytest.mark.parametrize("environment", ["prod", "staging"])
def test_an_existing_oidc_provider_is_adopted_only_when_it_is_ours(aws, cfg, environment):
    """CreateOpenIDConnectProvider answers EntityAlreadyExists for our issuer:
    a lost answer of our own create is taken; another environment's is refused."""
    from fablink_ops.errors import GuardError
    from fablink_ops.resources.eks import iam as eks_iam

    names, issuer = Names(cfg), "https://oidc.eks.ap-northeast-2.amazonaws.com/id/ADOPT"
    tags = {**eks_common_tags(cfg, f"{names.cluster}-oidc"), "Environment": environment}
    arn = aws_client("iam").create_open_id_connect_provider(Url=issuer, ClientIDList=["sts.amazonaws.com"],
                                                           Tags=[{"Key": k, "Value": v} for k, v in tags.items()])["OpenIDConnectProviderArn"]
    ctx = make_ctx(cfg)
    ctx.set_output(Out.OIDC_ISSUER, issuer)
    ctx.set_output(Out.CLUSTER_ARN, f"arn:aws:eks:{REGION}:{ACCOUNT}:cluster/{names.cluster}")
    change = eks_iam.oidc_provider(ctx, names, Found())
    if environment == "prod":
        assert change.run() == arn and ctx.outputs[Out.OIDC_ARN] == arn
        return
    with pytest.raises(GuardError, match="Environment=staging"):
        change.run()
