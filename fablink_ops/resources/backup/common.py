"""Names and the discovery snapshot of the backup stage."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ...config import BackupPlanConfig, Config
from ...engine import Change, Diff
from .. import kit, kms_key
from ..kit import partition

NAME = "backup"
SELECTION = "fablink-data"  # ours: the one selection of the plan
RULE = "daily"
ROLE_ARN = "backup-role-arn"
PLAN_ID = "backup-plan-id"
INLINE_POLICY = "backup-fablink-data"



@dataclass(frozen=True)
class Names:
    cfg: Config

    @property
    def plan_cfg(self) -> BackupPlanConfig:
        return self.cfg.backup.plan

    @property
    def vault(self) -> str:
        return self.plan_cfg.vault_name

    @property
    def plan(self) -> str:
        return self.plan_cfg.plan_name

    @property
    def role(self) -> str:
        return self.plan_cfg.role_name

    @property
    def key_alias(self) -> str:
        return self.plan_cfg.kms_key_alias

    def resources(self) -> list[str]:
        """What the plan backs up: the Aurora cluster and the six tables, by ARN
        (a selection may name resources that do not exist yet)."""
        pr = self.cfg.project
        p = partition(pr.region)
        cluster = f"arn:{p}:rds:{pr.region}:{pr.account_id}:cluster:{self.cfg.backup.aurora_cluster}"
        tables = [f"arn:{p}:dynamodb:{pr.region}:{pr.account_id}:table/{t.name}" for t in self.cfg.dynamodb.tables]
        return [cluster, *tables]

    # change keys
    @property
    def k_key(self) -> str:
        return kms_key.change_key(self.key_alias, self.cfg.project.region, self.cfg.project.region)

    @property
    def k_role(self) -> str:
        return f"iam-role:{self.role}"

    @property
    def k_vault(self) -> str:
        return f"backup-vault:{self.vault}"

    @property
    def k_plan(self) -> str:
        return f"backup-plan:{self.plan}"


@dataclass
class Found:
    key: kms_key.FoundKey | None = None
    role: dict | None = None
    vault: dict | None = None  # ListBackupVaults' entry
    plan: dict | None = None  # GetBackupPlan's answer
    selection: dict | None = None  # GetBackupSelection's BackupSelection (live)
    selection_id: str = ""


def change(kind: str, name: str, action: str, **kwargs: Any) -> Change:
    return kit.change(NAME, kind, name, action, **kwargs)


def maybe_update(kind: str, name: str, resource_id: str, diffs: list[Diff], steps: list, needs: tuple[str, ...] = (), note: str = "") -> Change:
    return kit.maybe_update(NAME, kind, name, resource_id, diffs, steps, needs, note)


def tags(cfg: Config, name: str) -> dict[str, str]:
    return kit.desired_tags(cfg, NAME, name)
