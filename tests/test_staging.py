"""Staging, for real (issue 18): config/staging.toml is a short file laid over
prod.toml (``extends``), every name follows from the environment, and prod and
staging built side by side in one account leave each other untouched."""

from __future__ import annotations

import pytest

from fablink_ops import ownership
from fablink_ops.config import load_config
from fablink_ops.errors import ConfigError
from fablink_ops.resources import STAGE_NAMES

from .conftest import ROOT
from .state import network_inventory
from .test_eks import _moto_env
from .util import plan, provision

STAGING = ROOT / "config" / "staging.toml"
REGION = "ap-northeast-2"


def test_staging_is_short_and_every_name_follows_its_environment(cfg):
    staging = load_config(STAGING)
    assert len(STAGING.read_text().splitlines()) < 80
    assert (staging.project.environment, staging.project.production) == ("staging", False)
    assert staging.network.vpc_name == "fablink-staging-vpc" and staging.project.cluster_name == "fablink-cluster-staging"
    assert staging.aurora.cluster_identifier == staging.drill.aurora_cluster == staging.backup.aurora_cluster == "fablink-staging-aurora"
    assert [t.name for t in staging.dynamodb.tables] == [t.name.replace("-prod-", "-staging-") for t in cfg.dynamodb.tables]
    assert staging.edge.api.stage_name == "staging" and staging.edge.nlb_name == "fablink-staging-nlb"
    # smaller and cheaper: one NAT, one reader, short retention, no deletion protection
    assert staging.network.nat_gateways == "single" and len(staging.network.nat_zones) == 1
    assert len(staging.aurora.instances) == 2 and staging.aurora.instance_class == "db.t4g.medium"
    assert staging.logging.retention_days == 14
    assert not (staging.aurora.deletion_protection or staging.dynamodb.deletion_protection or staging.edge.nlb_deletion_protected)
    # what staging does not override is prod's
    assert staging.sla == cfg.sla and staging.eks.version == cfg.eks.version and staging.dynamodb.tables[0].indexes == cfg.dynamodb.tables[0].indexes


def test_every_name_in_prod_is_unchanged_by_the_placeholders(cfg):
    assert cfg.network.vpc_name == "fablink-prod-vpc" and cfg.project.namespace == "fablink-prod"
    assert cfg.edge.api.access_log_group == "/aws/apigateway/fablink-prod-api/access"
    assert cfg.aurora.kms_key_description.startswith("FabLink prod:")


@pytest.mark.parametrize("text,phrase", [
    ('extends = "prod.toml"\n[project]\nenvironment = "{stage}"\n', "project.environment: cannot itself hold a placeholder"),
    ('extends = "prod.toml"\n[network]\nvpc_name = "{prefx}-vpc"\n', "network.vpc_name: unknown placeholder {prefx}"),
    ('extends = "missing.toml"\n', "missing.toml: file not found"),
    ('extends = "self.toml"\n', "extends: self.toml extends this file again (a cycle)"),
])
def test_bad_layering_is_one_line_naming_the_key(tmp_path, text, phrase):
    (tmp_path / "prod.toml").write_text((ROOT / "config" / "prod.toml").read_text())
    path = tmp_path / "self.toml"
    path.write_text(text)
    with pytest.raises(ConfigError) as err:
        load_config(path)
    assert phrase in str(err.value) and "\n" not in str(err.value)


def test_prod_and_staging_side_by_side_touch_nothing_of_each_other(monkeypatch, aws, cfg):
    _moto_env(monkeypatch)
    staging = load_config(STAGING)
    stages = tuple(STAGE_NAMES)
    provision(cfg, stages=stages)
    prod_network = network_inventory(REGION)
    _, staging_plan = provision(staging, stages=stages)
    assert ownership.strangers(staging_plan) == []  # staging found nothing of prod's by its names
    for config in (cfg, staging):
        _, again = plan(config, stages=stages)
        # "unmanaged": API Gateway's account-wide logging role is the first
        # environment's; the second shows it and leaves it alone
        settled = {"no change", "skipped", "unmanaged"}
        assert {c.action for c in again} <= settled, [(c.key, c.action) for c in again if c.action not in settled]
        assert ownership.strangers(again) == []
    both = network_inventory(REGION)
    assert {v[0] for v in both["vpcs"]} >= {"fablink-prod-vpc", "fablink-staging-vpc"}
    # prod's network is exactly as it was; staging added its own, with one NAT gateway
    for key, items in prod_network.items():
        assert [i for i in both[key] if "staging" not in str(i)] == items, key
    assert [n for n in both["nats"] if "staging" in str(n)] and len([n for n in both["nats"] if "staging" in str(n)]) == 1
