"""The run lock: one operator at a time per environment, held in AWS.

Every command that writes (provision, the runbooks that act: the failover
drill, backup.verify's restores, backup.cleanup) holds it while it writes, so
two operators (or two terminals) starting at the same instant cannot both
create a VPC: ``CreateVpc``, ``CreateSubnet``, ``AllocateAddress`` and
``CreateKey`` take no idempotency token, and two runs planning "create" at once
would each make one.

Why a DynamoDB conditional write, not an SSM parameter or a tag:
- ``PutItem`` with a ``ConditionExpression`` is an atomic compare-and-set on
  one item, documented as such ("conditional writes", DynamoDB developer
  guide, WorkingWithItems.html#WorkingWithItems.ConditionalUpdate), and reads
  with ``ConsistentRead`` see it at once. The same write takes over a stale
  lock atomically (``attribute_not_exists(LockID) OR Expires < :now``), renews
  the lease and releases only our own lock (``RunId = :me``). Terraform's S3
  backend locks the same way.
- An SSM ``PutParameter`` without ``Overwrite`` is an atomic create, but
  nothing in SSM is conditional after that: taking over a stale lock means
  delete-then-create, and two operators doing so at once can both win.
- Tags (the drill's former lock) are read-then-write: two drills starting in
  the same second could both hold it (issue 14, item 13).
moto evaluates condition expressions on PutItem/UpdateItem/DeleteItem, and the
sandbox's server handles one request at a time, so the sandbox is as atomic.

The lock is one item per environment in one table per account and region
(``fablink-ops-run-lock``, created on first use: on demand, so an idle table
costs nothing; deletion protection on). The item names its holder (user, host,
pid, and the STS identity in live mode), the command and a lease expiry. A
holder renews the lease every LEASE/4 from a background thread, so a killed run
(kill -9, a lost laptop) blocks the next one for at most the lease; a stale
lock is taken over, and the run says so. ``invoke unlock`` removes a lock whose
holder is known dead, after a typed confirmation.

Clocks: the expiry is the holder's wall clock; a second operator whose clock
is ahead by more than the lease could take over a live lock (NTP keeps hosts
within a second).
"""

from __future__ import annotations

import dataclasses
import getpass
import os
import socket
import threading
import time
import uuid
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any, Callable

from botocore.exceptions import BotoCoreError, ClientError

from . import tags as tagging
from .errors import AwsError, GuardError
from .target import Meter, Target, error_code, wrap_aws_error

TABLE = "fablink-ops-run-lock"
KEY = "LockID"
LEASE_SECONDS = 600.0  # 10 minutes: how long a killed run blocks the next one
TABLE_WAIT_SECONDS = 120.0  # CreateTable of a one-key on-demand table: seconds on AWS
TABLE_POLL_SECONDS = 1.0  # between DescribeTable polls while it is created (times the target's wait_scale)

Say = Callable[[str], None]


@dataclass(frozen=True)
class Holder:
    """Who holds (or held) the lock, as read from its item."""

    run_id: str
    who: str
    command: str
    acquired: str
    expires: float

    @classmethod
    def from_item(cls, item: dict[str, Any]) -> "Holder":
        return cls(
            run_id=item.get("RunId", {}).get("S", ""),
            who=item.get("Holder", {}).get("S", "unknown"),
            command=item.get("Command", {}).get("S", "unknown"),
            acquired=item.get("Acquired", {}).get("S", "unknown"),
            expires=float(item.get("Expires", {}).get("N", "0")),
        )

    def expired(self, now: float) -> bool:
        return self.expires < now

    def describe(self) -> str:
        return f"{self.who} running `{self.command}` since {self.acquired}, lease until {_iso(self.expires)}"


def _iso(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def holder_name(identity: str = "") -> str:
    """user@host pid N, and the STS identity when there is one (live)."""
    try:
        user = getpass.getuser()
    except (KeyError, OSError):  # no passwd entry (containers)
        user = f"uid {os.getuid()}"
    who = f"{user}@{socket.gethostname()} pid {os.getpid()}"
    return f"{who} ({identity})" if identity and identity != "sandbox" else who


# --------------------------------------------------------------------------
# the table


def ensure_table(target: Target, project: str, sleep: Callable[[float], None] = time.sleep) -> None:
    """The lock table exists and is ACTIVE. Two runs creating it at once is
    safe: CreateTable is atomic by name (the second gets ResourceInUseException)."""
    ddb = target.client("dynamodb")
    if _table_status(ddb) == "ACTIVE":
        return
    try:
        ddb.create_table(
            TableName=TABLE,
            AttributeDefinitions=[{"AttributeName": KEY, "AttributeType": "S"}],
            KeySchema=[{"AttributeName": KEY, "KeyType": "HASH"}],
            BillingMode="PAY_PER_REQUEST",
            DeletionProtectionEnabled=True,
            Tags=tagging.to_list({"ManagedBy": "fablink-ops", "Project": project, "Name": TABLE}),
        )
    except ClientError as exc:
        if error_code(exc) != "ResourceInUseException":
            raise
    deadline = time.monotonic() + TABLE_WAIT_SECONDS
    while _table_status(ddb) != "ACTIVE":
        if time.monotonic() > deadline:
            raise AwsError(f"the lock table {TABLE} is not ACTIVE after {TABLE_WAIT_SECONDS:.0f}s")
        sleep(TABLE_POLL_SECONDS * target.wait_scale)


def _table_status(ddb: Any) -> str | None:
    try:
        return ddb.describe_table(TableName=TABLE)["Table"].get("TableStatus")
    except ClientError as exc:
        if error_code(exc) == "ResourceNotFoundException":
            return None
        raise


def lock_target(target: Target) -> Target:
    """The same endpoint, credentials and hooks, with a meter of its own: the
    lock's calls are not changes to the environment, and a converged
    provision still reports zero writes."""
    return dataclasses.replace(target, meter=Meter(), _clients={}, _lock=threading.Lock())


def read(target: Target, environment: str) -> Holder | None:
    """The current lock of ``environment`` (expired or not), None when free.
    A missing table means no lock was ever taken here."""
    try:
        item = target.client("dynamodb").get_item(TableName=TABLE, Key={KEY: {"S": environment}}, ConsistentRead=True)
    except ClientError as exc:
        if error_code(exc) == "ResourceNotFoundException":
            return None
        raise
    return Holder.from_item(item["Item"]) if "Item" in item else None


# --------------------------------------------------------------------------
# holding it


class RunLock:
    """``with RunLock(...)``: acquire (or GuardError, exit 2), renew, release."""

    def __init__(self, target: Target, environment: str, project: str, command: str, identity: str = "",
                 lease: float = LEASE_SECONDS, say: Say = lambda text: None, clock: Callable[[], float] = time.time):
        self.target = target
        self.environment = environment
        self.project = project
        self.command = command
        self.who = holder_name(identity)
        self.lease = lease
        self.say = say
        self.clock = clock
        self.run_id = uuid.uuid4().hex
        self.lost: str | None = None
        self._stop = threading.Event()
        self._renewer: threading.Thread | None = None

    def __enter__(self) -> "RunLock":
        self.acquire()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.release()

    def acquire(self) -> None:
        ensure_table(self.target, self.project)
        now = self.clock()
        before = read(self.target, self.environment)
        item = {
            KEY: {"S": self.environment},
            "RunId": {"S": self.run_id},
            "Holder": {"S": self.who},
            "Command": {"S": self.command},
            "Acquired": {"S": _iso(now)},
            "Expires": {"N": f"{now + self.lease:.3f}"},
        }
        try:
            self.target.client("dynamodb").put_item(
                TableName=TABLE, Item=item,
                ConditionExpression=f"attribute_not_exists({KEY}) OR Expires < :now",
                ExpressionAttributeValues={":now": {"N": f"{now:.3f}"}},
            )
        except ClientError as exc:
            if error_code(exc) != "ConditionalCheckFailedException":
                raise
            self._refuse()
        if before is not None and before.run_id != self.run_id:
            self.say(f"lock: took over the stale lock of {before.describe()}")
        self._renewer = threading.Thread(target=self._renew_loop, name="run-lock", daemon=True)
        self._renewer.start()

    def _refuse(self) -> None:
        holder = read(self.target, self.environment)
        if holder is not None and holder.run_id == self.run_id:
            return  # our put went through and its answer was lost (a retried write)
        named = holder.describe() if holder else "another run (it has just released it)"
        raise GuardError(
            f"refusing: {self.environment} is locked by {named}; nothing was changed. "
            f"Wait for it, or if that run is dead: invoke unlock"
        )

    def _renew_loop(self) -> None:
        while not self._stop.wait(self.lease / 4):
            try:
                self.target.client("dynamodb").update_item(
                    TableName=TABLE, Key={KEY: {"S": self.environment}},
                    UpdateExpression="SET Expires = :e",
                    ConditionExpression="RunId = :me",
                    ExpressionAttributeValues={":e": {"N": f"{self.clock() + self.lease:.3f}"}, ":me": {"S": self.run_id}},
                )
            except (ClientError, BotoCoreError) as exc:
                # Taken over (we were frozen past the lease) or AWS unreachable:
                # say so once; the run goes on, as a killed run's writes would.
                if self.lost is None:
                    self.lost = wrap_aws_error(exc, "renewing the run lock").message
                    self.say(f"warning: {self.lost}")

    def release(self) -> None:
        """Delete our item, only if it is still ours. Never raises: the run's
        own result matters more; an unreleased lock expires with its lease."""
        self._stop.set()
        if self._renewer is not None:
            self._renewer.join(timeout=5)
        try:
            self.target.client("dynamodb").delete_item(
                TableName=TABLE, Key={KEY: {"S": self.environment}},
                ConditionExpression="RunId = :me", ExpressionAttributeValues={":me": {"S": self.run_id}},
            )
        except (ClientError, BotoCoreError) as exc:
            if error_code(exc) != "ConditionalCheckFailedException":
                self.say(f"warning: the run lock was not released ({wrap_aws_error(exc, 'release').message}); "
                         f"it expires by itself within {self.lease / 60:.0f} minutes")


def take(target: Target, project: Any, command: str, identity: str = "", say: Say = lambda text: None) -> RunLock:
    """Acquire the run lock of ``project`` (a ProjectConfig) for ``command``:
    the held lock, or GuardError (exit 2) naming its holder."""
    held = RunLock(lock_target(target), project.environment_name, project.name, command, identity=identity, say=say)
    held.acquire()
    return held


def unlock(target: Target, environment: str, confirm: Callable[[Holder], None]) -> Holder | None:
    """Remove the lock whatever its holder, after ``confirm(holder)`` (which
    raises to refuse). Only the lock that was shown is removed: if it changed
    in between, nothing is removed. Returns the removed holder, None if free."""
    holder = read(target, environment)
    if holder is None:
        return None
    confirm(holder)
    try:
        target.client("dynamodb").delete_item(
            TableName=TABLE, Key={KEY: {"S": environment}},
            ConditionExpression="RunId = :id", ExpressionAttributeValues={":id": {"S": holder.run_id}},
        )
    except ClientError as exc:
        if error_code(exc) == "ConditionalCheckFailedException":
            raise GuardError("refusing: the lock changed while you confirmed (another run took it); nothing was removed") from None
        raise
    return holder
