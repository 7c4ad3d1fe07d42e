"""Read before retry: what a token-less create may have made.

A create whose answer is lost (HTTP 500/503, a read timeout, a dropped
connection) may have been carried out. Where the API takes an idempotency
token, the retry carries the same one (target.Client) and AWS returns the
first result. Where the name is unique (IAM roles, tables, log groups, RDS
clusters, WAF ACLs, ...) a retry cannot duplicate: it is answered "already
exists", the run stops, and a re-run finds it by name. The creates below have
neither: a blind retry would make a second VPC, Elastic IP or KMS key (issue
20). Before retrying one, the client calls its finder here, which looks for
what the first attempt made, by the name and tags that went into the create
call itself, and returns it shaped as the create's own answer (adopted).

A finder returns None when it finds nothing (then the create is retried), and
raises when it finds more than one (someone else's duplicates: never guess).
It reads through the same retrying client. EC2 and API Gateway list a new
resource within a second or two (eventual consistency); the retry's backoff
comes before the read. A create carried out but not yet listed by then would
still be made twice: the residual risk, which the run lock (lock.py) does not
cover, since it is one run's own retry.

API Gateway's CreateDeployment is token-less too, and not here: a second
deployment is a second immutable snapshot of the same API, harmless, and the
stage points at one of them.
"""

from __future__ import annotations

from typing import Any, Callable

from .errors import AwsError

Finder = Callable[[Any, dict[str, Any]], "dict[str, Any] | None"]


def _ec2_tags(kwargs: dict[str, Any]) -> dict[str, str]:
    specs = kwargs.get("TagSpecifications") or [{}]
    return {t["Key"]: t.get("Value", "") for t in specs[0].get("Tags", [])}


def _has(tags: dict[str, str], wanted: dict[str, str]) -> bool:
    return all(tags.get(k) == v for k, v in wanted.items())


def _one(kind: str, found: list[dict[str, Any]], label: str) -> dict[str, Any] | None:
    if len(found) > 1:
        raise AwsError(f"after an unanswered create, {len(found)} {kind}s match {label}: clean up by hand before running again")
    return found[0] if found else None


def _ec2_tagged(client: Any, method: str, key: str, kind: str, kwargs: dict[str, Any], *filters: dict) -> list[dict]:
    """Items of an EC2 describe that carry every tag the create asked for."""
    wanted = _ec2_tags(kwargs)
    name = wanted.get("Name")
    if not name:
        return []  # nothing to recognise it by: retried as before
    items = client.paginate(method, key, Filters=[{"Name": "tag:Name", "Values": [name]}, *filters])
    return [i for i in items if _has({t["Key"]: t.get("Value", "") for t in i.get("Tags", [])}, wanted)]


def vpc(client: Any, kwargs: dict[str, Any]) -> dict[str, Any] | None:
    found = _ec2_tagged(client, "describe_vpcs", "Vpcs", "vpc", kwargs, {"Name": "cidr", "Values": [kwargs["CidrBlock"]]})
    item = _one("VPC", found, f"{_ec2_tags(kwargs).get('Name')} {kwargs['CidrBlock']}")
    return {"Vpc": item} if item else None


def subnet(client: Any, kwargs: dict[str, Any]) -> dict[str, Any] | None:
    found = _ec2_tagged(client, "describe_subnets", "Subnets", "subnet", kwargs,
                        {"Name": "vpc-id", "Values": [kwargs["VpcId"]]}, {"Name": "cidr-block", "Values": [kwargs["CidrBlock"]]})
    item = _one("subnet", found, f"{kwargs['VpcId']} {kwargs['CidrBlock']}")
    return {"Subnet": item} if item else None


def internet_gateway(client: Any, kwargs: dict[str, Any]) -> dict[str, Any] | None:
    found = _ec2_tagged(client, "describe_internet_gateways", "InternetGateways", "igw", kwargs)
    item = _one("internet gateway", found, str(_ec2_tags(kwargs).get("Name")))
    return {"InternetGateway": item} if item else None


def elastic_ip(client: Any, kwargs: dict[str, Any]) -> dict[str, Any] | None:
    # DescribeAddresses is not paginated.
    wanted = _ec2_tags(kwargs)
    if not wanted.get("Name"):
        return None
    items = client.describe_addresses(Filters=[{"Name": "tag:Name", "Values": [wanted["Name"]]}])["Addresses"]
    found = [a for a in items if _has({t["Key"]: t.get("Value", "") for t in a.get("Tags", [])}, wanted)]
    # AllocateAddress answers with the address's own fields (AllocationId, PublicIp, Domain, ...).
    return _one("Elastic IP", found, wanted["Name"])


def security_group(client: Any, kwargs: dict[str, Any]) -> dict[str, Any] | None:
    found = _ec2_tagged(client, "describe_security_groups", "SecurityGroups", "sg", kwargs,
                        {"Name": "vpc-id", "Values": [kwargs["VpcId"]]}, {"Name": "group-name", "Values": [kwargs["GroupName"]]})
    item = _one("security group", found, f"{kwargs['GroupName']} in {kwargs['VpcId']}")
    return {"GroupId": item["GroupId"], "Tags": item.get("Tags", [])} if item else None


def kms_key(client: Any, kwargs: dict[str, Any]) -> dict[str, Any] | None:
    """KMS lists keys without tags: one ListResourceTags per key of the
    account and region (only ever after an unanswered CreateKey)."""
    wanted = {t["TagKey"]: t.get("TagValue", "") for t in kwargs.get("Tags", [])}
    if not wanted:
        return None
    found = []
    for key in client.paginate("list_keys", "Keys"):
        meta = client.describe_key(KeyId=key["KeyId"])["KeyMetadata"]
        if meta.get("KeyState") in ("PendingDeletion", "PendingReplicaDeletion") or meta.get("KeyManager") == "AWS":
            continue
        tags = {t["TagKey"]: t.get("TagValue", "") for t in client.paginate("list_resource_tags", "Tags", KeyId=key["KeyId"])}
        if _has(tags, wanted):
            found.append(meta)
    item = _one("KMS key", found, ", ".join(f"{k}={v}" for k, v in sorted(wanted.items())))
    return {"KeyMetadata": item} if item else None


def _apigw(method: str, kind: str, **query: Any) -> Finder:
    """API Gateway resources whose names are not unique: name and tags."""

    def find(client: Any, kwargs: dict[str, Any]) -> dict[str, Any] | None:
        extra = {k: kwargs["name"] for k, v in query.items() if v == "name"}
        items = client.paginate(method, "items", **extra)
        found = [i for i in items if i.get("name") == kwargs["name"] and _has(i.get("tags") or {}, kwargs.get("tags") or {})]
        return _one(kind, found, kwargs["name"])

    return find


# (service, operation) -> finder: every token-less create whose name AWS does
# not keep unique. README ("Retries and ambiguous failures") lists them.
FINDERS: dict[tuple[str, str], Finder] = {
    ("ec2", "CreateVpc"): vpc,
    ("ec2", "CreateSubnet"): subnet,
    ("ec2", "CreateInternetGateway"): internet_gateway,
    ("ec2", "AllocateAddress"): elastic_ip,
    ("ec2", "CreateSecurityGroup"): security_group,
    ("kms", "CreateKey"): kms_key,
    ("apigateway", "CreateRestApi"): _apigw("get_rest_apis", "REST API"),
    ("apigateway", "CreateVpcLink"): _apigw("get_vpc_links", "VPC link"),
    ("apigateway", "CreateApiKey"): _apigw("get_api_keys", "API key", nameQuery="name"),
    ("apigateway", "CreateUsagePlan"): _apigw("get_usage_plans", "usage plan"),
}
