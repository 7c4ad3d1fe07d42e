"""Row counts over SQL: the tables of [backup].row_count_tables counted in the
source cluster and in the restored one (live, ``--row-counts``).

Credentials: the source's managed master secret (Secrets Manager, the
cluster's MasterUserSecret). The restored cluster holds the same users and
passwords as the source at the restore point, so the same secret logs in,
unless it was rotated since (then the restored side fails to authenticate,
and the step says so).

The driver is psycopg 3, optional (``pip install 'fablink-ops[sql]'``): when
it is not installed the step is skipped and says why. So is it when the
endpoints do not accept connections from this host (run from inside the VPC,
with the app tier's security group). The source keeps changing after the
restore point: up to [backup].count_tolerance_percent of the source's rows
may differ.
"""

from __future__ import annotations

import json
import math
from typing import Any, Callable

from ...engine import Context
from ...report import FAILED_STEP, OK, SKIPPED
from .aurora import Verification
from .checks import AuroraSource

Connect = Callable[..., Any]  # psycopg.connect's signature (keyword arguments)
CONNECT_TIMEOUT_SECONDS = 10


def _quoted(table: str) -> str:
    # Names are validated in config (lower-case identifiers, optional schema):
    # quoting keeps a name that is also a keyword ("user", "order") working.
    return ".".join(f'"{part}"' for part in table.split("."))


def _driver() -> Connect | None:
    try:
        import psycopg  # type: ignore[import-not-found]
    except ImportError:
        return None
    return psycopg.connect


def row_counts(ctx: Context, src: AuroraSource, restored_host: str, restored_port: int, connect: Connect | None = None) -> Verification:
    cfg = ctx.cfg.backup
    tables = cfg.row_count_tables
    if not tables:
        return Verification(True, "no tables configured ([backup].row_count_tables)", status=SKIPPED)
    connect = connect or _driver()
    if connect is None:
        return Verification(True, "psycopg is not installed (pip install 'fablink-ops[sql]'): row counts not compared", status=SKIPPED)
    if not src.secret_arn:
        return Verification(True, f"{src.id} has no managed master secret (ManageMasterUserPassword): no credentials to count rows with",
                            status=SKIPPED)
    secret = json.loads(ctx.client("secretsmanager").get_secret_value(SecretId=src.secret_arn)["SecretString"])
    counts: dict[str, dict[str, int]] = {}
    for side, host, port in (("source", src.endpoint, src.port), ("restored", restored_host, restored_port)):
        try:
            conn = connect(host=host, port=port, dbname=cfg.sql_database, user=secret["username"], password=secret["password"],
                           sslmode="require", connect_timeout=CONNECT_TIMEOUT_SECONDS)
        except Exception as exc:  # noqa: BLE001 - any driver error means "cannot count from here"; said in the step
            return Verification(True, f"cannot connect to the {side} cluster {host}:{port} from this host "
                                f"({type(exc).__name__}: {str(exc).strip().splitlines()[0] if str(exc).strip() else 'no detail'}); "
                                "run from inside the VPC with the app tier's security group", status=SKIPPED)
        try:
            counts[side] = {}
            with conn.cursor() as cur:
                for table in tables:
                    cur.execute(f"SELECT count(*) FROM {_quoted(table)}")
                    counts[side][table] = int(cur.fetchone()[0])
        except Exception as exc:  # noqa: BLE001 - a missing table or a permission: the step fails with it
            return Verification(False, f"counting on the {side} cluster failed: {type(exc).__name__}: {exc}", status=FAILED_STEP)
        finally:
            conn.close()
    tolerance = cfg.count_tolerance_percent
    wrong = []
    for table in tables:
        source, restored = counts["source"][table], counts["restored"][table]
        allowed = math.floor(source * tolerance / 100)
        if abs(source - restored) > allowed:
            wrong.append(f"{table}: {restored} restored vs {source} in the source ({allowed} allowed)")
    shown = ", ".join(f"{t} {counts['restored'][t]}/{counts['source'][t]}" for t in tables)
    facts = {"tables": {t: {"source": counts["source"][t], "restored": counts["restored"][t]} for t in tables}}
    if wrong:
        return Verification(False, "row counts differ: " + "; ".join(wrong), facts, status=FAILED_STEP)
    return Verification(True, f"row counts restored/source within {tolerance:g}%: {shown}", facts, status=OK)
