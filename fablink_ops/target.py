"""Where AWS calls go (sandbox or live), how they are counted and retried.

A Target hands out clients. Every client it builds:
- counts each API call it makes (reads vs writes, by service and operation)
  through a botocore ``before-call`` hook, so paginators and waiters count too;
- has botocore's own retries switched off: the retry policy is ours (tenacity,
  below), so it is bounded, jittered and only for what is retryable;
- carries any extra event hooks a test installs (fault injection).

The sandbox never reaches real AWS: its clients get an explicit loopback
endpoint, fixed dummy credentials, and a botocore session that reads no
profile, config file or credentials file, whatever the environment holds.
"""

from __future__ import annotations

import os
import re
import threading
import uuid
from collections import Counter
from dataclasses import dataclass, field
from typing import Any, Callable, TypeVar

import boto3
import botocore.session
from botocore.config import Config as BotoConfig
from botocore.exceptions import (ClientError, ConnectTimeoutError, EndpointConnectionError, HTTPClientError, NoCredentialsError,
                                 NoRegionError, ProxyConnectionError)
from tenacity import retry_if_exception, stop_after_attempt, wait_random_exponential
from tenacity import Retrying

from . import adopt
from .errors import AwsError, GuardError
from .fidelity import latency_scale
from .fidelity.rules import APIGW_PARENTS
from .validate import RequestValidator

# Operation-name prefixes that only read. Anything else counts as a write.
READ_PREFIXES = ("Describe", "List", "Get", "Lookup", "Search", "Scan", "Query", "BatchGet", "Head", "Select")

# --------------------------------------------------------------------------
# What is retried. One table per reason, each with its source; ``classify``
# says which reason an error falls under, ``_retryable`` decides by it.
#
# THROTTLING: the request was refused, not carried out: retried for reads and
# writes. botocore/retries/standard.py (ThrottledRetryableChecker), amazon.aws
# module_utils/retries.py, the EC2 API docs:
# https://docs.aws.amazon.com/AWSEC2/latest/APIReference/query-api-troubleshooting.html
THROTTLING_CODES = frozenset(
    {
        "Throttling",
        "ThrottlingException",
        "ThrottledException",
        "RequestThrottledException",
        "RequestThrottled",
        "RequestLimitExceeded",
        "EC2ThrottledException",
        "TooManyRequestsException",
        "SlowDown",
        "PriorRequestNotComplete",
        "ProvisionedThroughputExceededException",
        "RequestLimitExceededException",
        "BandwidthLimitExceeded",
    }
)
# TRANSIENT: a server-side failure (HTTP 500/502/503/504 whatever the code, or
# one of these codes). The request may or may not have been carried out:
# retried for reads; for writes see ``Client`` (read before retry). Codes:
# botocore/retries/standard.py (TransientRetryableChecker), botocore/data/
# _retry.json ("general": 500/502/503/504), and each service's error shapes:
# EC2 Unavailable/InternalError, IAM ServiceFailure, EKS ServerException and
# ServiceUnavailableException, API Gateway ServiceUnavailableException,
# DynamoDB InternalServerError, KMS KMSInternalException, WAFv2
# WAFInternalErrorException, ACM/others InternalFailure/InternalServiceFault.
TRANSIENT_STATUS = frozenset({500, 502, 503, 504})
TRANSIENT_CODES = frozenset(
    {
        "RequestTimeout",
        "RequestTimeoutException",
        "ServiceUnavailable",
        "ServiceUnavailableException",
        "Unavailable",
        "InternalError",
        "InternalFailure",
        "InternalServerError",
        "InternalServerErrorException",
        "InternalServiceError",
        "InternalServiceErrorException",
        "InternalServiceFault",
        "ServiceFailure",
        "ServerException",
        "KMSInternalException",
        "WAFInternalErrorException",
    }
)
# Transport errors: the answer never came (connection reset or closed, read
# timeout): the request may have been carried out, as for TRANSIENT.
AMBIGUOUS_TRANSPORT = (HTTPClientError,)  # ReadTimeoutError, ConnectionClosedError
# The connection was never made: the request did not reach AWS, a retry is safe.
NOT_SENT_TRANSPORT = (EndpointConnectionError, ConnectTimeoutError, ProxyConnectionError)

THROTTLED, TRANSIENT, NOT_SENT, EVENTUAL = "throttled", "transient", "not-sent", "eventual"

# Retried on writes only: a write that names an id we just created may arrive
# before that id is visible everywhere. On a read the same code is an answer.
EVENTUAL_CONSISTENCY_CODES = frozenset(
    {
        "InvalidVpcID.NotFound",
        "InvalidSubnetID.NotFound",
        "InvalidInternetGatewayID.NotFound",
        "InvalidRouteTableID.NotFound",
        "InvalidAllocationID.NotFound",
        "InvalidNatGatewayID.NotFound",
        "InvalidGroup.NotFound",
        "InvalidVpcEndpointId.NotFound",
        "InvalidParameterValueException",  # e.g. an IAM role not yet assumable by a service
        "NoSuchEntity",
        # DynamoDB answers UpdateContinuousBackups on a table ACTIVE for only
        # moments with "backups are being enabled, retry later".
        "ContinuousBackupsUnavailableException",
        # AWS WAF cannot see a just-created API Gateway stage yet ("you might
        # just need to wait a few minutes"): AssociateWebACL's documentation.
        "WAFUnavailableEntityException",
    }
)

# Eventual consistency that AWS reports with a generic error code: only the
# message tells it from a real error, so only that message is retried (on
# writes). (code, message fragment)
EVENTUAL_CONSISTENCY_MESSAGES = (
    # RDS, given an Enhanced Monitoring role created seconds ago that IAM has
    # not propagated yet: "IAM role ARN value is invalid or does not include
    # the required permissions for: ENHANCED_MONITORING".
    ("InvalidParameterValue", "IAM role ARN value is invalid"),
    # API Gateway, two writes on one REST API at once: "Unable to complete
    # operation due to concurrent modification. Please try again later."
    # Any other ConflictException is an answer (say, "already exists").
    ("ConflictException", "concurrent modification"),
)

T = TypeVar("T")

# API Gateway carries out one modification of a REST API (or usage plan, or
# custom domain) at a time, and answers a write that races another with
# ConflictException "concurrent modification" (terraform-provider-aws #9014;
# the sandbox's fidelity layer does the same). The tool's own writes on one
# of them queue behind each other (Target.serial_lock), so it never races
# itself; the conflict's retry stays for writes of others (the console, a
# second operator). service -> the parameters naming what a write modifies.
SERIAL_WRITES: dict[str, tuple[str, ...]] = {"apigateway": APIGW_PARENTS}


# Operations that do not start with a read prefix yet change no resource or
# setting: AWS computes a report from what exists (IAM GenerateCredentialReport
# and GenerateServiceLastAccessedDetails start such a job). Counted as reads,
# so a read-only runbook (access.review) shows zero writes.
READ_OPERATIONS = frozenset({"GenerateCredentialReport", "GenerateServiceLastAccessedDetails"})


def is_write(operation: str) -> bool:
    return not operation.startswith(READ_PREFIXES) and operation not in READ_OPERATIONS


def error_code(exc: BaseException) -> str:
    if isinstance(exc, ClientError):
        return exc.response.get("Error", {}).get("Code", "")
    return ""


def none_if(codes: tuple[str, ...], call: Callable[[], T]) -> T | None:
    """``call()``, or None when AWS answers one of ``codes`` (a "not found"
    code for a read, an "already exists" code for a create whose earlier
    answer was lost); any other error is raised."""
    try:
        return call()
    except ClientError as exc:
        if error_code(exc) not in codes:
            raise
        return None


class Meter:
    """Counts API calls, thread-safe. Keys are 'service:Operation'."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.calls: Counter[str] = Counter()

    def record(self, service: str, operation: str) -> None:
        with self._lock:
            self.calls[f"{service}:{operation}"] += 1

    @property
    def reads(self) -> int:
        return sum(n for k, n in self.calls.items() if not is_write(k.split(":", 1)[1]))

    @property
    def writes(self) -> int:
        return sum(n for k, n in self.calls.items() if is_write(k.split(":", 1)[1]))

    def summary(self) -> dict[str, Any]:
        return {"reads": self.reads, "writes": self.writes, "by_operation": dict(sorted(self.calls.items()))}


@dataclass(frozen=True)
class RetryPolicy:
    max_attempts: int = 8
    base_seconds: float = 0.5
    max_seconds: float = 20.0


Hook = tuple[str, Callable[..., Any]]  # (botocore event name, handler)


@dataclass
class Target:
    """A place AWS calls go: the sandbox or a live account."""

    mode: str  # "sandbox" | "live"
    region: str
    session: boto3.Session
    endpoint_url: str | None = None  # the sandbox's; None for live (the SDK decides)
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    meter: Meter = field(default_factory=Meter)
    hooks: list[Hook] = field(default_factory=list)
    # The model constraints botocore skips (pattern, enum, max): checked on
    # every request, sandbox and live alike, since AWS checks them (validate.py).
    validator: RequestValidator | None = field(default_factory=RequestValidator)
    # Multiplies AWS's wait times (poll intervals, retry backoff) on this
    # target: 1 for AWS. The sandbox's server gets SANDBOX_WAIT_SCALE
    # (sandbox_target), see there.
    wait_scale: float = 1.0
    _clients: dict[str, Any] = field(default_factory=dict, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)
    _serial: dict[str, threading.Lock] = field(default_factory=dict, repr=False)

    def serial_lock(self, key: str) -> threading.Lock:
        """The lock the writes on ``key`` (see SERIAL_WRITES) take in turn."""
        with self._lock:
            return self._serial.setdefault(key, threading.Lock())

    @property
    def is_live(self) -> bool:
        return self.mode == "live"

    def client(self, service: str, region: str | None = None) -> "Client":
        """A shared, metered, retrying client (botocore clients are thread-safe).

        ``region`` is for the few resources that live in another region than
        the target's (a global table's replica keys); the same endpoint,
        credentials, meter and hooks apply.
        """
        region = region or self.region
        key = service if region == self.region else f"{service}@{region}"
        with self._lock:
            if key not in self._clients:
                self._clients[key] = Client(self._raw_client(service, region), self)
            return self._clients[key]

    def _raw_client(self, service: str, region: str | None = None, connect_timeout: float = 10,
                    read_timeout: float = 60) -> Any:
        cfg = BotoConfig(
            region_name=region or self.region,
            retries={"total_max_attempts": 1, "mode": "standard"},
            max_pool_connections=32,
            connect_timeout=connect_timeout,
            read_timeout=read_timeout,
        )
        kwargs: dict[str, Any] = {"config": cfg}
        if self.endpoint_url:
            kwargs["endpoint_url"] = self.endpoint_url
        try:
            raw = self.session.client(service, **kwargs)
        except NoRegionError:
            raise GuardError("no AWS region: set AWS_REGION") from None
        events = raw.meta.events
        service_name = raw.meta.service_model.service_name
        events.register(
            f"before-call.{raw.meta.service_model.service_id.hyphenize()}.*",
            lambda model, **_: self.meter.record(service_name, model.name),
        )
        if self.validator is not None:
            # Last: after botocore's own parameter handlers (Route 53 id
            # prefixes, idempotency tokens), so what is checked is what is sent.
            events.register_last("before-parameter-build", self.validator)
        for event, handler in self.hooks:
            events.register(event, handler)
        return raw

    def account_id(self) -> str:
        return self.client("sts").get_caller_identity()["Account"]


class Client:
    """A boto3 client whose calls are retried by our policy.

    ``client.describe_vpcs(...)`` works as on boto3; ``client.paginate(op,
    key, **kw)`` returns every item of a paginated list, retrying the pages.
    """

    def __init__(self, raw: Any, target: Target):
        self.raw = raw
        self._target = target

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self.raw, name)
        if not callable(attr) or name.startswith(("get_paginator", "get_waiter", "can_paginate")):
            return attr
        operation = self.raw.meta.method_to_api_mapping.get(name)
        if operation is None:
            return attr

        def call(*args: Any, **kwargs: Any) -> Any:
            if not is_write(operation):
                return self._target_retrying(False)(attr, *args, **kwargs)
            return self._write(operation, attr, args, self._with_token(operation, kwargs))

        return call

    def _write(self, operation: str, attr: Callable[..., Any], args: tuple, kwargs: dict[str, Any]) -> Any:
        """A write, retried by our policy, queued behind the tool's other
        writes on the same API Gateway API (SERIAL_WRITES)."""
        parents = SERIAL_WRITES.get(self.raw.meta.service_model.service_name, ())
        parent = next((f"{name}={kwargs[name]}" for name in parents if kwargs.get(name)), None)
        if parent is None:
            return self._write_retried(operation, attr, args, kwargs)
        with self._target.serial_lock(parent):
            return self._write_retried(operation, attr, args, kwargs)

    def _write_retried(self, operation: str, attr: Callable[..., Any], args: tuple, kwargs: dict[str, Any]) -> Any:
        """After a failure that may have been carried out (TRANSIENT), a
        token-less create first looks for what it made (adopt.FINDERS) and
        returns that instead of creating again."""
        finder = adopt.FINDERS.get((self.raw.meta.service_model.service_name, operation))
        ambiguous = False

        def attempt() -> Any:
            nonlocal ambiguous
            if ambiguous and finder is not None:
                found = finder(self, kwargs)
                if found is not None:
                    return found
            try:
                return attr(*args, **kwargs)
            except Exception as exc:
                ambiguous = ambiguous or classify(exc) == TRANSIENT
                raise

        return self._target_retrying(True)(attempt)

    def _with_token(self, operation: str, kwargs: dict[str, Any]) -> dict[str, Any]:
        """One idempotency token for every attempt of a call. botocore fills a
        missing token member with a fresh uuid per call, so each of our retries
        would carry a new one and AWS would carry out each: a duplicate."""
        shape = self.raw.meta.service_model.operation_model(operation).input_shape
        if shape is None:
            return kwargs
        missing = [name for name, member in shape.members.items()
                   if member.metadata.get("idempotencyToken") and name not in kwargs]
        return {**kwargs, **{name: str(uuid.uuid4()) for name in missing}} if missing else kwargs

    def paginate(self, method: str, result_key: str, **kwargs: Any) -> list[Any]:
        def collect() -> list[Any]:
            items: list[Any] = []
            for page in self.raw.get_paginator(method).paginate(**kwargs):
                items.extend(page.get(result_key, []))
            return items

        return self._target_retrying(write=False)(collect)

    def _target_retrying(self, write: bool) -> Retrying:
        policy = self._target.retry
        return Retrying(
            stop=stop_after_attempt(policy.max_attempts),
            wait=wait_random_exponential(multiplier=policy.base_seconds * self._target.wait_scale,
                                         max=policy.max_seconds * self._target.wait_scale),
            retry=retry_if_exception(lambda exc: _retryable(exc, write)),
            reraise=True,
        )


def classify(exc: BaseException) -> str | None:
    """Why ``exc`` may be retried (THROTTLED, TRANSIENT, NOT_SENT, EVENTUAL), or None."""
    if isinstance(exc, NOT_SENT_TRANSPORT):
        return NOT_SENT
    if isinstance(exc, AMBIGUOUS_TRANSPORT):
        return TRANSIENT
    if not isinstance(exc, ClientError):
        return None
    code = error_code(exc)
    if code in THROTTLING_CODES:
        return THROTTLED
    status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
    if code in TRANSIENT_CODES or status in TRANSIENT_STATUS:
        return TRANSIENT
    if code in EVENTUAL_CONSISTENCY_CODES:
        return EVENTUAL
    message = exc.response.get("Error", {}).get("Message", "")
    if any(code == c and fragment in message for c, fragment in EVENTUAL_CONSISTENCY_MESSAGES):
        return EVENTUAL
    return None


def _retryable(exc: BaseException, write: bool) -> bool:
    """Reads: whatever is not an answer. Writes: also the eventual-consistency
    codes (on a read, NotFound is the answer). A write's TRANSIENT failure is
    retried here too; ``Client`` first reads for what a token-less create may
    have made (adopt.py) and makes retried calls carry one token throughout."""
    kind = classify(exc)
    if kind == EVENTUAL:
        return write
    return kind is not None


# --------------------------------------------------------------------------
# building targets


def sandbox_session(region: str) -> boto3.Session:
    """A session that cannot pick up real credentials or endpoints."""
    isolated = botocore.session.Session(
        session_vars={
            "profile": (None, None, None, None),
            "config_file": (None, None, os.devnull, None),
            "credentials_file": (None, None, os.devnull, None),
        }
    )
    return boto3.Session(
        botocore_session=isolated,
        aws_access_key_id="sandbox",
        aws_secret_access_key="sandbox",
        region_name=region,
    )


# The sandbox's fidelity layer counts its windows (a table not found yet, a
# role not assumable yet) in calls, not seconds, and moto is ready at once:
# waiting AWS's seconds between polls and retries there buys nothing but wall
# time (a whole provision slept ~20 s in its threads). The same polls and
# retries still happen, 20 times sooner. With FABLINK_FIDELITY_LATENCY=N the
# creation times are AWS's divided by N, and so are the waits.
SANDBOX_WAIT_SCALE = 0.05


def sandbox_target(endpoint_url: str, region: str, retry: RetryPolicy | None = None) -> Target:
    target = Target("sandbox", region, sandbox_session(region), endpoint_url=endpoint_url, retry=retry or RetryPolicy())
    scale = latency_scale()  # the sandbox's server models AWS's creation times, this much faster
    target.wait_scale = 1.0 / scale if scale else SANDBOX_WAIT_SCALE
    return target


def live_target(config_region: str, retry: RetryPolicy | None = None) -> Target:
    """Real AWS through the standard credential chain and AWS_* variables.

    The region comes from the environment: AWS_REGION (what most AWS SDKs and
    the docs use; botocore itself reads only AWS_DEFAULT_REGION), then
    AWS_DEFAULT_REGION or the profile. When none is set, the config's region
    is used. A different one is refused by the guard (see guard_live).
    """
    env_region = os.environ.get("AWS_REGION") or None
    try:
        session = boto3.Session(region_name=env_region)
    except Exception as exc:  # botocore raises ProfileNotFound and friends
        raise GuardError(f"AWS credentials: {exc}") from None
    region = session.region_name or config_region
    return Target("live", region, session, retry=retry or RetryPolicy())


GUARD_CONNECT_SECONDS = 3.0
GUARD_READ_SECONDS = 5.0  # GetCallerIdentity answers in milliseconds


def guard_live(target: Target, account_id: str, region: str) -> str:
    """Refuse a live run aimed at the wrong account or region. Returns the caller ARN."""
    if target.region != region:
        raise GuardError(f"refusing: the AWS region is {target.region} but the config is for {region}")
    # The first call: short timeouts and no retry, so an unreachable endpoint
    # or network (a black hole swallows packets: no error, only silence) is a
    # refusal within seconds, not a 60 s read timeout, retried.
    sts = target._raw_client("sts", connect_timeout=GUARD_CONNECT_SECONDS, read_timeout=GUARD_READ_SECONDS)
    try:
        identity = sts.get_caller_identity()
    except NoCredentialsError:
        raise GuardError("refusing: no AWS credentials found (standard credential chain)") from None
    except (EndpointConnectionError, ConnectTimeoutError, HTTPClientError) as exc:
        raise GuardError(f"refusing: cannot reach AWS STS at {sts.meta.endpoint_url} within "
                         f"{GUARD_CONNECT_SECONDS + GUARD_READ_SECONDS:.0f}s ({type(exc).__name__}); "
                         "check the network, AWS_ENDPOINT_URL and AWS_REGION") from None
    except ClientError as exc:
        raise GuardError(f"refusing: cannot confirm the AWS account: {error_code(exc)}: {exc}") from None
    if identity["Account"] != account_id:
        raise GuardError(
            f"refusing: the credentials are for account {identity['Account']} but the config is for account {account_id}"
        )
    return identity.get("Arn", "")


def wrap_aws_error(exc: BaseException, doing: str) -> AwsError:
    if isinstance(exc, ClientError):
        err = exc.response.get("Error", {})
        operation = getattr(exc, "operation_name", "") or "the call"
        message = _one_line(str(err.get("Message", str(exc))), operation, exc.response)
        return AwsError(f"{doing}: {err.get('Code', 'Error')}: {message}")
    return AwsError(f"{doing}: {_one_line(str(exc), 'the call', {})}")


def _one_line(message: str, operation: str, response: dict[str, Any]) -> str:
    """An error is one line (issue 18). An emulator (or a proxy) that answers
    with an HTML page would otherwise put the page's markup on the console."""
    if re.search(r"<\s*(!doctype|html|body|head)\b", message, re.IGNORECASE):
        status = (response.get("ResponseMetadata") or {}).get("HTTPStatusCode", "?")
        title = re.search(r"<title>(.*?)</title>", message, re.IGNORECASE | re.DOTALL)
        what = f" ({' '.join(title.group(1).split())})" if title else ""
        return f"{operation} was answered with an HTML error page, HTTP {status}{what}, not an AWS error"
    return " ".join(message.split())
