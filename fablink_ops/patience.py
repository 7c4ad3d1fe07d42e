"""Eventual consistency AWS documents in minutes: retried against a time budget.

The client's own retries (target.py) are a few attempts over under a minute:
right for throttling, too short for what AWS says takes minutes, and blind to
errors whose code alone does not say "wait" (EKS's InvalidParameterException
means a bad parameter, except with the message of a role IAM has not yet
propagated). Each ``Patience`` below names the errors (code, and a message
fragment where the code is generic), the budget mature tools use, and where
that is documented. ``retry_within`` calls until success, an error that is
not one of those, or the budget's end (then the last error is raised).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, TypeVar

from botocore.exceptions import ClientError

from .engine import Context
from .target import error_code

T = TypeVar("T")


@dataclass(frozen=True)
class Patience:
    what: str
    errors: tuple[tuple[str, str], ...]  # (code, message fragment; "" = any message)
    budget_seconds: float
    source: str  # why this budget

    def transient(self, exc: BaseException) -> bool:
        if not isinstance(exc, ClientError):
            return False
        code, message = error_code(exc), exc.response.get("Error", {}).get("Message", "")
        return any(code == c and fragment.lower() in message.lower() for c, fragment in self.errors)


# EKS CreateCluster with a role IAM has not propagated yet.
EKS_ROLE_PROPAGATION = Patience(
    "the EKS cluster role to propagate",
    (("InvalidParameterException", "could not be assumed"),),
    120.0,
    "terraform-provider-aws internal/service/eks/cluster.go: propagationTimeout (2 min) on these messages",
)

# UpdateContinuousBackups on a table created moments ago.
PITR_ENABLING = Patience(
    "point-in-time recovery to become available on the new table",
    (("ContinuousBackupsUnavailableException", ""),),
    20 * 60.0,
    "terraform-provider-aws internal/service/dynamodb/table.go: updates PITR with a 20 min create timeout",
)

# AssociateWebACL with a stage WAF does not see yet.
WAF_ASSOCIATION = Patience(
    "AWS WAF to see the new API stage",
    (("WAFUnavailableEntityException", ""), ("WAFNonexistentItemException", "")),
    5 * 60.0,
    "terraform-provider-aws internal/service/wafv2/web_acl_association.go: 5 min on both codes; "
    "AssociateWebACL's API reference ('you might just need to wait a few minutes')",
)


def retry_within(ctx: Context, patience: Patience, call: Callable[[], T], interval: float = 1.0) -> T:
    """``call()`` until it succeeds or fails otherwise than ``patience`` names, within its budget.

    The waits double from ``interval`` to 30 s (scaled by ``ctx.poll_scale`` as
    every wait is: short first, as the condition often clears in seconds),
    show as a wait to the operator, and stop on Ctrl-C.
    """
    start = ctx.clock()
    delay = interval * ctx.poll_scale
    handle: Any = None
    while True:
        try:
            result = call()
        except ClientError as exc:
            elapsed = ctx.clock() - start
            if not patience.transient(exc) or elapsed >= patience.budget_seconds or ctx.cancel.is_set():
                if handle is not None:
                    ctx.reporter.wait_finished(handle, "gave up", elapsed)
                raise
            if handle is None:
                handle = ctx.reporter.wait_started(f"{patience.what} ({error_code(exc)})", patience.budget_seconds)
            ctx.reporter.wait_progress(handle, error_code(exc), elapsed)
            ctx.sleep(min(delay, max(0.0, patience.budget_seconds - elapsed)))
            delay = min(30.0 * ctx.poll_scale, delay * 2)
            continue
        if handle is not None:
            ctx.reporter.wait_finished(handle, "done", ctx.clock() - start)
        return result


def tolerate_not_found(
    ctx: Context, poll: Callable[[], tuple[str, str]], codes: tuple[str, ...], grace_seconds: float = 120.0
) -> Callable[[], tuple[str, str]]:
    """A wait's ``poll`` that reads a just-created resource's NotFound as "not visible yet".

    Right after a create, AWS may answer a describe of the new id with NotFound
    for a few seconds (DynamoDB's DescribeTable documents it; botocore's
    TableExists and NatGatewayAvailable waiters retry it): polled again after
    1 s, 2 s, 4 s... (the wait's own interval is for slow resources). Bounded:
    NotFound for longer than ``grace_seconds`` since the first one is raised.
    """
    first: list[float] = []

    def wrapped() -> tuple[str, str]:
        delay = 1.0 * ctx.poll_scale
        while True:
            try:
                return poll()
            except ClientError as exc:
                if error_code(exc) not in codes:
                    raise
                if not first:
                    first.append(ctx.clock())
                if ctx.clock() - first[0] > grace_seconds or ctx.cancel.is_set():
                    raise
            ctx.sleep(delay)
            delay = min(delay * 2, 15.0 * ctx.poll_scale)

    return wrapped
