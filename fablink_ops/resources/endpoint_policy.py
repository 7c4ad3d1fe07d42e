"""The gateway endpoints' policies (DynamoDB, S3).

Without one, AWS attaches {"Principal": "*", "Action": "*", "Resource": "*"}:
anything in the VPC may reach any table or bucket of any account through
the endpoint (a path to exfiltrate data that bypasses the NAT). Here:
- DynamoDB: the calls the backend makes on the [dynamodb] tables and their
  indexes and streams; nothing else;
- S3: GetObject on [network].s3_endpoint_buckets (ECR's layer bucket, the
  Amazon Linux repositories) and nothing else;
both for this account's principals only (aws:PrincipalAccount: a gateway
endpoint policy's Principal must be "*", conditions narrow it).
https://docs.aws.amazon.com/vpc/latest/privatelink/vpc-endpoints-access.html
"""

from __future__ import annotations

import json
from typing import Any

from ..config import Config
from .kit import partition

# Item and table reads/writes the backend does; no CreateTable, DeleteTable,
# UpdateTable, backups or exports through the endpoint.
DYNAMODB_ACTIONS = (
    "dynamodb:GetItem", "dynamodb:BatchGetItem", "dynamodb:Query", "dynamodb:Scan", "dynamodb:PutItem", "dynamodb:UpdateItem",
    "dynamodb:DeleteItem", "dynamodb:BatchWriteItem", "dynamodb:ConditionCheckItem", "dynamodb:DescribeTable",
    "dynamodb:DescribeStream", "dynamodb:GetRecords", "dynamodb:GetShardIterator",
)


def desired(cfg: Config, service: str) -> dict[str, Any]:
    p, region, account = partition(cfg.project.region), cfg.project.region, cfg.project.account_id
    only_us = {"StringEquals": {"aws:PrincipalAccount": account}}
    if service == "dynamodb":
        tables = [f"arn:{p}:dynamodb:{region}:{account}:table/{t.name}" for t in cfg.dynamodb.tables]
        resources = [r for t in tables for r in (t, f"{t}/index/*", f"{t}/stream/*")]
        statement = {"Sid": "FabLinkTables", "Effect": "Allow", "Principal": "*", "Action": list(DYNAMODB_ACTIONS),
                     "Resource": resources, "Condition": only_us}
    else:
        buckets = [f"arn:{p}:s3:::{b}/*" for b in cfg.network.s3_endpoint_buckets]
        statement = {"Sid": "NodeBootstrapAndImages", "Effect": "Allow", "Principal": "*", "Action": ["s3:GetObject"],
                     "Resource": buckets, "Condition": only_us}
    return {"Version": "2012-10-17", "Statement": [statement]}


def current(endpoint: dict) -> dict | None:
    doc = endpoint.get("PolicyDocument")
    return json.loads(doc) if isinstance(doc, str) and doc else doc or None


def label(service: str) -> str:
    return "the FabLink tables, this account" if service == "dynamodb" else "GetObject on the listed buckets, this account"
