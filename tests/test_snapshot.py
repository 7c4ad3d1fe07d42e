"""The snapshot of moto's state (tests/snapshot.py) that the crash tests
restore instead of re-provisioning: a restored state is the state taken, and
nothing written after a restore reaches the snapshot or the next restore."""

from __future__ import annotations

import boto3
from moto import mock_aws

from . import snapshot
from .state import network_inventory
from .util import provision

REGION = "ap-northeast-2"


def _ours(ec2) -> list[str]:
    return sorted(t["Value"] for v in ec2.describe_vpcs()["Vpcs"] for t in v.get("Tags", []) if t["Key"] == "Name")


def test_a_restored_state_is_the_one_taken_and_later_writes_never_reach_it(cfg):
    with mock_aws():
        provision(cfg, ("network",))
        taken = network_inventory(REGION)
        snap = snapshot.take()
        ec2 = boto3.client("ec2", region_name=REGION)
        # Written after the snapshot, in the live state it was copied from.
        ec2.create_vpc(CidrBlock="10.99.0.0/16", TagSpecifications=[{"ResourceType": "vpc", "Tags": [{"Key": "Name", "Value": "after"}]}])
        assert network_inventory(REGION) != taken
    assert "ec2" in snap.services() and "iam" in snap.services() and "kms" in snap.services()

    for _ in range(2):  # each restore starts from the snapshot, not from what the last one became
        with mock_aws():
            snapshot.restore(snap)
            ec2 = boto3.client("ec2", region_name=REGION)
            assert "after" not in _ours(ec2)
            assert network_inventory(REGION) == taken
            # Written after a restore: a change to the restored objects
            # themselves (the VPC renamed), a new one, other services.
            vpc = next(v["VpcId"] for v in ec2.describe_vpcs()["Vpcs"] if v.get("Tags"))
            ec2.create_tags(Resources=[vpc], Tags=[{"Key": "Name", "Value": "renamed"}])
            ec2.create_vpc(CidrBlock="10.98.0.0/16")
            boto3.client("iam", region_name=REGION).create_role(RoleName="after-restore", AssumeRolePolicyDocument="{}")
            boto3.client("sns", region_name=REGION).create_topic(Name="after-restore")
            assert _ours(ec2) == ["renamed"] and network_inventory(REGION) != taken

    with mock_aws():
        snapshot.restore(snap)
        assert network_inventory(REGION) == taken
        assert boto3.client("sns", region_name=REGION).list_topics()["Topics"] == []  # a service the snapshot never used: empty


def test_a_restore_drops_everything_moto_held_before_it(cfg):
    with mock_aws():
        provision(cfg, ("monitoring",))
        snap = snapshot.take()
    with mock_aws():
        ec2 = boto3.client("ec2", region_name=REGION)
        ec2.create_vpc(CidrBlock="10.97.0.0/16", TagSpecifications=[{"ResourceType": "vpc", "Tags": [{"Key": "Name", "Value": "before"}]}])
        snapshot.restore(snap)
        assert _ours(ec2) == []  # EC2, not in the snapshot, is as a fresh moto has it
        topics = [t["TopicArn"].rsplit(":", 1)[-1] for t in boto3.client("sns", region_name=REGION).list_topics()["Topics"]]
        assert sorted(topics) == sorted(f"fablink-prod-alarms-{t}" for t in ("critical", "warning"))
