"""Plan (read only) and apply over a dependency graph.

A stage module turns the config plus what it finds in AWS into a list of
Changes. A Change says what would happen to one resource (create, update with
before -> after per attribute, replace-required, no change, wait for a
resource still being created) and carries a ``run`` callable that performs its
writes. Planning calls no write API; applying runs the ``run`` callables, each
as soon as the changes it ``needs`` are done, up to ``concurrency`` at once.

Resource ids travel through ``Context.outputs``: discovery records the ids of
what exists, a create records the id it made, and a dependent's ``run`` reads
them when it executes (so a subnet's run finds the VPC id a moment ago
created).
"""

from __future__ import annotations

import threading
import time
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from typing import Any, Callable, Protocol

from botocore.exceptions import BotoCoreError, ClientError

from .config import Config
from .errors import AwsError, OpsError, USAGE
from .target import Target, wrap_aws_error

CREATE = "create"
UPDATE = "update"
REPLACE = "replace-required"
NOOP = "no change"
WAIT = "wait"  # exists, still being created by AWS: apply waits for it
SKIP = "skipped"  # cannot be done on this target (e.g. a sandbox gap); said plainly
UNMANAGED = "unmanaged"  # exists, not in config: shown, left alone
BLOCKED = "blocked"  # needs a resource that must be replaced first: not attempted

PENDING_ACTIONS = (CREATE, UPDATE)  # what `plan --detailed-exitcode` counts as changes


@dataclass(frozen=True)
class Diff:
    attribute: str
    before: Any
    after: Any

    def to_json(self) -> dict[str, Any]:
        return {"attribute": self.attribute, "before": self.before, "after": self.after}


def change_key(kind: str, name: str) -> str:
    """The one spelling of a change's key ("kind:name"): what ``needs``
    lists and what stages' Names expose as ``k_*``."""
    return f"{kind}:{name}"


@dataclass
class Change:
    stage: str
    kind: str
    name: str
    action: str
    diffs: list[Diff] = field(default_factory=list)
    needs: tuple[str, ...] = ()
    run: Callable[[], str | None] | None = None
    note: str = ""
    resource_id: str = ""

    @property
    def key(self) -> str:
        return change_key(self.kind, self.name)

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "stage": self.stage,
            "kind": self.kind,
            "name": self.name,
            "action": self.action,
        }
        if self.resource_id:
            out["id"] = self.resource_id
        if self.diffs:
            out["diffs"] = [d.to_json() for d in self.diffs]
        if self.note:
            out["note"] = self.note
        return out


class Reporter(Protocol):
    """What the engine and stages tell the operator while they work."""

    def started(self, change: Change, after: list[str], alongside: list[str]) -> None: ...

    def applied(self, change: Change, detail: str | None) -> None: ...

    def info(self, text: str) -> None: ...

    def warn(self, text: str) -> None: ...

    def wait_started(self, what: str, budget_seconds: float) -> Any: ...

    def wait_progress(self, handle: Any, status: str, elapsed: float) -> None: ...

    def wait_finished(self, handle: Any, status: str, elapsed: float) -> None: ...


class SilentReporter:
    def started(self, change: Change, after: list[str], alongside: list[str]) -> None:
        pass

    def applied(self, change: Change, detail: str | None) -> None:
        pass

    def info(self, text: str) -> None:
        pass

    def warn(self, text: str) -> None:
        pass

    def wait_started(self, what: str, budget_seconds: float) -> Any:
        return what

    def wait_progress(self, handle: Any, status: str, elapsed: float) -> None:
        pass

    def wait_finished(self, handle: Any, status: str, elapsed: float) -> None:
        pass


@dataclass
class Context:
    cfg: Config
    target: Target
    reporter: Reporter = field(default_factory=SilentReporter)
    clock: Callable[[], float] = time.monotonic
    sleep: Callable[[float], None] = time.sleep
    outputs: dict[str, Any] = field(default_factory=dict)
    # Set on Ctrl-C: waits in worker threads stop at their next poll instead
    # of holding the process for the rest of their budget.
    cancel: threading.Event = field(default_factory=threading.Event)
    # Multiplies every wait's poll interval: the benchmark runs AWS's
    # durations scaled down, and scales the polling with them. None: the
    # target's own (target.wait_scale: 1 for AWS, less for the sandbox).
    poll_scale: float | None = None
    # Set once apply starts: from then on what was read may be stale, so
    # read_once reads afresh and shared.tags_of asks the resource itself.
    writing: bool = False
    # What only the operator can do (DNS records to create, ...): repeated at
    # the end of provision, never only buried mid-stream (issue 18).
    operator_steps: list[str] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)
    _reads: dict[Any, Any] = field(default_factory=dict, repr=False)
    _read_locks: dict[Any, threading.Lock] = field(default_factory=dict, repr=False)

    def __post_init__(self) -> None:
        if self.poll_scale is None:
            self.poll_scale = self.target.wait_scale

    def set_output(self, key: str, value: Any) -> None:
        with self._lock:
            self.outputs[key] = value

    def output(self, key: str) -> Any:
        with self._lock:
            if key not in self.outputs:
                raise OpsError(f"internal: {key} is not known yet (a dependency is missing from the plan)")
            return self.outputs[key]

    def client(self, service: str) -> Any:
        return self.target.client(service)

    def operator_step(self, text: str) -> None:
        """Record (once) and show something the operator must do by hand."""
        with self._lock:
            if text in self.operator_steps:
                return
            self.operator_steps.append(text)
        self.reporter.info(f"operator step: {text}")

    def read_once(self, key: Any, read: Callable[[], Any]) -> Any:
        """A discovery read shared by the stages of one plan (say, the
        account's KMS aliases, which three stages look through). Only for
        plan-time discovery: a run never trusts it after writing."""
        if self.writing:
            return read()
        with self._lock:
            if key in self._reads:
                return self._reads[key]
            key_lock = self._read_locks.setdefault(key, threading.Lock())
        with key_lock:  # stages planned concurrently: one of them reads, the others wait
            with self._lock:
                if key in self._reads:
                    return self._reads[key]
            value = read()
            with self._lock:
                self._reads[key] = value
            return value


def block_dependents(changes: list[Change]) -> list[Change]:
    """Mark every change that needs (directly or not) a replace-required one.

    Building into a resource that is wrong and will not be fixed (subnets
    into a VPC with the wrong CIDR, say) would fail or, worse, succeed in the
    wrong place. Such changes are shown as blocked and not attempted.
    """
    by_key = {c.key: c for c in changes}
    bad = {c.key for c in changes if c.action == REPLACE}
    grew = True
    while grew:
        grew = False
        for c in changes:
            if c.key in bad or c.action in (NOOP, UNMANAGED):
                continue
            culprit = next((n for n in c.needs if n in bad), None)
            if culprit:
                bad.add(c.key)
                c.action, c.run = BLOCKED, None
                root = by_key[culprit]
                c.note = f"waits for {root.kind} {root.name}" + (", which needs replacing" if root.action == REPLACE else ", blocked too")
                grew = True
    return changes


def has_changes(changes: list[Change]) -> bool:
    return any(c.action in PENDING_ACTIONS for c in changes)


# --------------------------------------------------------------------------
# apply


@dataclass
class Progress:
    """What an apply carried out, kept even when it stops on an error, so the
    summary tells the truth ("50 applied, 1 failed, 18 not started", never
    "0 of 69 applied")."""

    applied: list[tuple[Change, str | None]] = field(default_factory=list)
    failed: list[tuple[Change, str]] = field(default_factory=list)  # (change, error text)

    def not_started(self, changes: list[Change]) -> list[Change]:
        touched = {c.key for c, _ in self.applied} | {c.key for c, _ in self.failed}
        return [c for c in changes if c.run is not None and c.key not in touched]


def apply(
    changes: list[Change], ctx: Context, concurrency: int, progress: Progress | None = None
) -> list[tuple[Change, str | None]]:
    """Run every change that has a ``run``, along the ``needs`` graph.

    A change starts as soon as all it needs are done; needs that are not in
    the list already exist. On the first failure nothing new starts, the
    running ones finish, and the failure is raised as an OpsError; what was
    applied and what failed up to then is in ``progress`` (when given).
    """
    progress = progress if progress is not None else Progress()
    with ctx._lock:
        ctx.writing = True  # what was read before any write is stale from here on
        ctx._reads.clear()
    runnable = {c.key: c for c in changes if c.run is not None}
    keys = {c.key for c in changes}
    waiting_on = {k: {n for n in c.needs if n in keys and n in runnable} for k, c in runnable.items()}
    runnable_needs = {k: set(v) for k, v in waiting_on.items()}
    failure: BaseException | None = None
    failed_change: Change | None = None
    running: dict[Future[str | None], Change] = {}
    finished: set[str] = set()

    with ThreadPoolExecutor(max_workers=max(1, concurrency), thread_name_prefix="apply") as pool:
        try:
            while True:
                if failure is None:
                    # Never more submitted than can run: a queued change
                    # would still start after a failure elsewhere.
                    ready = [k for k, deps in waiting_on.items() if deps <= finished]
                    for key in ready[: max(0, concurrency - len(running))]:
                        change = runnable[key]
                        after = sorted(runnable_needs[key])
                        del waiting_on[key]
                        running[pool.submit(change.run)] = change  # type: ignore[arg-type]
                        ctx.reporter.started(change, after, [c.key for c in running.values() if c is not change])
                if not running:
                    break
                completed, _ = wait(list(running), timeout=0.5, return_when=FIRST_COMPLETED)
                for fut in completed:
                    change = running.pop(fut)
                    exc = _record(ctx, fut, change, progress, finished)
                    if exc is not None and failure is None:
                        failure, failed_change = exc, change
        except KeyboardInterrupt:
            ctx.cancel.set()
            for fut in running:
                fut.cancel()
            raise
    if failure is not None:
        assert failed_change is not None
        raise _as_ops_error(failure, f"{failed_change.action} {failed_change.kind} {failed_change.name}")
    if waiting_on:  # only when needs form a cycle: a programming error in a stage
        raise OpsError(f"internal: dependency cycle among {', '.join(sorted(waiting_on))}")
    return progress.applied


def _record(ctx: Context, fut: Future[str | None], change: Change, progress: Progress, finished: set[str]) -> BaseException | None:
    """One finished change into ``progress``: applied (and reported), or failed (its error returned)."""
    try:
        detail = fut.result()
    except BaseException as exc:  # noqa: BLE001 - recorded, re-raised by apply
        progress.failed.append((change, str(exc) or type(exc).__name__))
        return exc
    finished.add(change.key)
    detail = _operator_detail(detail)
    progress.applied.append((change, detail))
    ctx.reporter.applied(change, detail)
    return None


def _operator_detail(detail: object) -> str | None:
    """What a run returned, if it is the short text meant for the operator.
    A run that ends in a boto3 call may hand back its response (a dict with
    ResponseMetadata): that never reaches the console or --json."""
    return detail if isinstance(detail, str) and detail else None


def _as_ops_error(exc: BaseException, doing: str) -> BaseException:
    if isinstance(exc, OpsError):
        return exc
    if isinstance(exc, (ClientError, BotoCoreError)):
        return wrap_aws_error(exc, doing)
    return exc  # an unexpected bug or an injected crash: let it surface as it is


# --------------------------------------------------------------------------
# waiting


def wait_for(
    ctx: Context,
    what: str,
    poll: Callable[[], tuple[str, str]],
    done: set[str],
    failed: set[str],
    budget_seconds: float,
    interval: float = 5.0,
    max_interval: float = 15.0,
) -> str:
    """Poll until a done status, failing fast on a failed one or past the budget.

    ``poll`` returns (status, reason). The interval grows from ``interval`` to
    ``max_interval``: short at first (moto and quick resources), gentle on the
    API for the 10-minute ones. 15 s at most, so a wait overshoots the moment
    a resource is ready by 15 s at worst (describe calls are cheap; the
    critical path is what the operator waits for).
    """
    start = ctx.clock()
    handle = ctx.reporter.wait_started(what, budget_seconds)
    interval, max_interval = interval * ctx.poll_scale, max_interval * ctx.poll_scale
    delay = interval
    while True:
        if ctx.cancel.is_set():
            ctx.reporter.wait_finished(handle, "interrupted", ctx.clock() - start)
            raise OpsError(f"interrupted while waiting for {what}: run the same command again to keep waiting")
        status, reason = poll()
        elapsed = ctx.clock() - start
        if status in done:
            ctx.reporter.wait_finished(handle, status, elapsed)
            return status
        if status in failed:
            ctx.reporter.wait_finished(handle, status, elapsed)
            raise AwsError(f"{what} is {status}" + (f": {reason}" if reason else ""))
        if elapsed >= budget_seconds:
            ctx.reporter.wait_finished(handle, status, elapsed)
            raise AwsError(
                f"{what} is still {status} after {elapsed:.0f}s (budget {budget_seconds:.0f}s): "
                "run the same command again to keep waiting; nothing will be created twice"
            )
        ctx.reporter.wait_progress(handle, status, elapsed)
        ctx.sleep(min(delay, max(0.0, budget_seconds - elapsed)))
        delay = min(max_interval, delay * 1.5)


def usage_error(text: str) -> OpsError:
    return OpsError(text, USAGE)
