"""The AWS state after a run, normalised so two runs can be compared.

Ids differ from run to run, so every id is replaced by the Name tag of what it
points to. Every resource of a type is listed, tagged or not: an untagged
orphan or a duplicate left by a crashed run shows up as an extra entry.
"""

from __future__ import annotations

import json

import boto3

from fablink_ops import tags as tagging


def _name(item: dict) -> str:
    return tagging.from_list(item.get("Tags")).get("Name", "")


def _tags(item: dict) -> tuple:
    return tuple(sorted(tagging.from_list(item.get("Tags")).items()))


def _vpc_and_subnet_names(ec2, unnamed_vpc: str = "(unnamed)", unnamed_subnet: str = "(unnamed)") -> dict[str, str]:
    """VPC and subnet ids -> their Name tags (what an inventory shows instead of ids)."""
    names = {v["VpcId"]: _name(v) or unnamed_vpc for v in ec2.describe_vpcs()["Vpcs"]}
    names.update({s["SubnetId"]: _name(s) or unnamed_subnet for s in ec2.describe_subnets()["Subnets"]})
    return names


def _aliases_by_key(kms) -> dict[str, list[str]]:
    """KMS key id -> its aliases."""
    aliases: dict[str, list[str]] = {}
    for a in kms.list_aliases()["Aliases"]:
        if a.get("TargetKeyId"):
            aliases.setdefault(a["TargetKeyId"], []).append(a["AliasName"])
    return aliases


_CLIENTS: dict[tuple[str, str], object] = {}


def client(service: str, region: str):
    """Clients cached for the test process (building one parses its service model)."""
    key = (service, region)
    if key not in _CLIENTS:
        _CLIENTS[key] = boto3.Session(region_name=region).client(service)
    return _CLIENTS[key]


def network_inventory(region: str) -> dict[str, list]:
    ec2 = client("ec2", region)
    logs = client("logs", region)
    iam = client("iam", region)
    names: dict[str, str] = {}

    vpcs = ec2.describe_vpcs()["Vpcs"]
    subnets = ec2.describe_subnets()["Subnets"]
    igws = ec2.describe_internet_gateways()["InternetGateways"]
    eips = ec2.describe_addresses()["Addresses"]
    nats = [n for n in ec2.describe_nat_gateways()["NatGateways"] if n["State"] != "deleted"]
    rts = ec2.describe_route_tables()["RouteTables"]
    sgs = ec2.describe_security_groups()["SecurityGroups"]
    endpoints = ec2.describe_vpc_endpoints()["VpcEndpoints"]
    flow_logs = ec2.describe_flow_logs()["FlowLogs"]
    for items, key in ((vpcs, "VpcId"), (subnets, "SubnetId"), (igws, "InternetGatewayId"), (nats, "NatGatewayId"),
                       (rts, "RouteTableId"), (eips, "AllocationId")):
        for item in items:
            names[item[key]] = _name(item) or "(unnamed)"
    for sg in sgs:
        names[sg["GroupId"]] = sg["GroupName"]
    for ep in endpoints:
        names[ep["VpcEndpointId"]] = ep["ServiceName"]
    n = lambda i: names.get(i, i)  # noqa: E731

    def rules(sg: dict) -> tuple:
        out = []
        for p in sg.get("IpPermissions", []):
            for r in p.get("IpRanges", []):
                out.append((p.get("FromPort"), r["CidrIp"]))
            for r in p.get("UserIdGroupPairs", []):
                out.append((p.get("FromPort"), n(r["GroupId"])))
        for p in sg.get("IpPermissionsEgress", []):
            for r in p.get("IpRanges", []):
                out.append(("out", p.get("IpProtocol"), p.get("FromPort"), r["CidrIp"]))
        return tuple(sorted(out, key=str))

    roles = []
    for role in iam.list_roles()["Roles"]:
        policies = iam.list_role_policies(RoleName=role["RoleName"])["PolicyNames"]
        attached = [a["PolicyArn"] for a in iam.list_attached_role_policies(RoleName=role["RoleName"])["AttachedPolicies"]]
        tags = tuple(sorted(tagging.from_list(iam.list_role_tags(RoleName=role["RoleName"])["Tags"]).items()))
        roles.append((role["RoleName"], tuple(sorted(policies)), tuple(sorted(attached)), tags))
    groups = _log_groups(logs)

    return {
        "vpcs": sorted((_name(v), v["CidrBlock"], _tags(v)) for v in vpcs),
        "subnets": sorted((_name(s), s["CidrBlock"], s["AvailabilityZone"], n(s["VpcId"]), _tags(s)) for s in subnets),
        "igws": sorted((_name(i), tuple(n(a["VpcId"]) for a in i.get("Attachments", [])), _tags(i)) for i in igws),
        "eips": sorted((_name(e), _tags(e)) for e in eips),
        "nats": sorted((_name(g), g["State"], n(g["SubnetId"]), _tags(g)) for g in nats),
        "route_tables": sorted(
            (
                _name(r),
                n(r["VpcId"]),
                tuple(sorted((x.get("DestinationCidrBlock") or "(prefix list)", n(x.get("GatewayId") or x.get("NatGatewayId") or "")) for x in r.get("Routes", []))),
                tuple(sorted(n(a["SubnetId"]) for a in r.get("Associations", []) if a.get("SubnetId"))),
                _tags(r),
            )
            for r in rts
        ),
        "security_groups": sorted((g["GroupName"], n(g.get("VpcId", "")), g["Description"], rules(g), _tags(g)) for g in sgs),
        "endpoints": sorted((e["ServiceName"], e["VpcEndpointType"], tuple(sorted(n(i) for i in e.get("RouteTableIds", []))), _tags(e)) for e in endpoints),
        "flow_logs": sorted((_name(f), n(f["ResourceId"]), f["TrafficType"], f.get("LogGroupName", ""), _tags(f)) for f in flow_logs),
        "log_groups": sorted(groups),
        "roles": sorted(roles),
    }


def dump(state: dict) -> str:
    return json.dumps(state, indent=1, default=str)


def eks_inventory(region: str) -> dict[str, list]:
    """KMS keys and aliases, IAM roles and OIDC providers, log groups, EKS
    clusters and node groups: every one, ours or not."""
    kms = client("kms", region)
    iam = client("iam", region)
    logs = client("logs", region)
    eks = client("eks", region)
    ec2 = client("ec2", region)
    names: dict[str, str] = {s["SubnetId"]: _name(s) or "(unnamed)" for s in ec2.describe_subnets()["Subnets"]}

    keys = []
    aliases = [a for a in kms.list_aliases()["Aliases"] if not a["AliasName"].startswith("alias/aws/")]
    for k in kms.list_keys()["Keys"]:
        meta = kms.describe_key(KeyId=k["KeyId"])["KeyMetadata"]
        if meta["KeyManager"] != "CUSTOMER":
            continue
        tags = {t["TagKey"]: t["TagValue"] for t in kms.list_resource_tags(KeyId=k["KeyId"])["Tags"]}
        label = tags.get("Name", "(untagged key)")
        names[meta["Arn"]] = names[meta["KeyId"]] = label
        rotation = kms.get_key_rotation_status(KeyId=k["KeyId"])["KeyRotationEnabled"] if meta["KeyState"] == "Enabled" else None
        keys.append((label, meta["KeyState"], meta.get("KeySpec"), rotation, tuple(sorted(tags.items()))))

    providers = []
    for p in iam.list_open_id_connect_providers()["OpenIDConnectProviderList"]:
        got = iam.get_open_id_connect_provider(OpenIDConnectProviderArn=p["Arn"])
        names[p["Arn"]] = "(oidc provider)"
        providers.append(("(issuer)" if "oidc.eks." in got["Url"] else got["Url"], tuple(sorted(got["ClientIDList"])),
                          tuple(sorted(tagging.from_list(got.get("Tags")).items()))))
    for role in iam.list_roles()["Roles"]:
        names[role["Arn"]] = role["RoleName"]

    clusters, nodegroups, issuers = [], [], set()
    for cname in eks.list_clusters()["clusters"]:
        c = eks.describe_cluster(name=cname)["cluster"]
        issuers.add(c.get("identity", {}).get("oidc", {}).get("issuer", "").removeprefix("https://"))
        vpc = c.get("resourcesVpcConfig", {})
        enabled = sorted(t for e in c.get("logging", {}).get("clusterLogging", []) if e.get("enabled") for t in e["types"])
        enc = tuple(names.get(e.get("provider", {}).get("keyArn"), "(unknown key)") for e in c.get("encryptionConfig") or [])
        clusters.append((cname, c["version"], c["status"], names.get(c["roleArn"], c["roleArn"]),
                         tuple(sorted(names.get(s, s) for s in vpc.get("subnetIds", []))),
                         vpc.get("endpointPrivateAccess"), vpc.get("endpointPublicAccess"), tuple(vpc.get("publicAccessCidrs") or ()),
                         tuple(enabled), c.get("kubernetesNetworkConfig", {}).get("serviceIpv4Cidr"), enc,
                         tuple(sorted((c.get("tags") or {}).items()))))
        for ngname in eks.list_nodegroups(clusterName=cname)["nodegroups"]:
            ng = eks.describe_nodegroup(clusterName=cname, nodegroupName=ngname)["nodegroup"]
            nodegroups.append((cname, ngname, ng["status"], ng.get("version"), tuple(sorted(names.get(s, s) for s in ng["subnets"])),
                               tuple(sorted(ng["scalingConfig"].items())), tuple(ng.get("instanceTypes") or ()), ng.get("amiType"),
                               ng.get("capacityType"), ng.get("diskSize"), json.dumps(ng.get("updateConfig"), sort_keys=True),
                               names.get(ng["nodeRole"], ng["nodeRole"]), tuple(sorted((ng.get("labels") or {}).items())),
                               tuple(sorted((ng.get("tags") or {}).items()))))

    def normalise(doc: object) -> str:
        text = json.dumps(doc, sort_keys=True)
        for raw, name in sorted(names.items(), key=lambda kv: -len(kv[0])):
            text = text.replace(raw, name)
        for issuer in issuers:
            if issuer:
                text = text.replace(issuer, "(issuer)")
        return text

    roles = []
    for role in iam.list_roles()["Roles"]:
        rn = role["RoleName"]
        inline = tuple(sorted(
            (p, normalise(iam.get_role_policy(RoleName=rn, PolicyName=p)["PolicyDocument"]))
            for p in iam.list_role_policies(RoleName=rn)["PolicyNames"]
        ))
        attached = tuple(sorted(a["PolicyArn"] for a in iam.list_attached_role_policies(RoleName=rn)["AttachedPolicies"]))
        tags = tuple(sorted(tagging.from_list(iam.list_role_tags(RoleName=rn)["Tags"]).items()))
        roles.append((rn, normalise(role["AssumeRolePolicyDocument"]), attached, inline, tags))
    groups = _log_groups(logs)

    return {
        "kms_keys": sorted(keys),
        "kms_aliases": sorted((a["AliasName"], names.get(a.get("TargetKeyId", ""), "(unknown key)")) for a in aliases),
        "oidc_providers": sorted(providers),
        "roles": sorted(roles),
        "log_groups": sorted(groups),
        "clusters": sorted(clusters),
        "nodegroups": sorted(nodegroups),
    }


def _pages(client, method: str, key: str, **kwargs) -> list:
    return [item for page in client.get_paginator(method).paginate(**kwargs) for item in page.get(key, [])]


def kms_inventory(regions: tuple[str, ...]) -> tuple[list, dict[str, str]]:
    """Every customer-managed key of the regions, named by its aliases, and a
    map key ARN -> alias names (for normalising the tables' SSE keys)."""
    keys, names = [], {}
    for region in regions:
        kms = boto3.client("kms", region_name=region)
        aliases: dict[str, list[str]] = {}
        for a in _pages(kms, "list_aliases", "Aliases"):
            if a.get("TargetKeyId") and not a["AliasName"].startswith("alias/aws/"):
                aliases.setdefault(a["TargetKeyId"], []).append(a["AliasName"])
        for k in _pages(kms, "list_keys", "Keys"):
            meta = kms.describe_key(KeyId=k["KeyId"])["KeyMetadata"]
            if meta.get("KeyManager") != "CUSTOMER":
                continue
            alias = ",".join(sorted(aliases.get(meta["KeyId"], []))) or "(no alias)"
            names[meta["Arn"]] = f"{alias}@{region}"
            rotation = kms.get_key_rotation_status(KeyId=meta["KeyId"])["KeyRotationEnabled"]
            tags = tuple(sorted((t["TagKey"], t["TagValue"]) for t in _pages(kms, "list_resource_tags", "Tags", KeyId=meta["KeyId"])))
            keys.append((region, alias, meta["KeyState"], meta.get("KeySpec"), meta.get("KeyUsage"),
                         meta.get("Description", ""), rotation, tags))
    return sorted(keys), names


def dynamodb_inventory(region: str, replica_regions: tuple[str, ...] = ()) -> dict[str, list]:
    """Every table of the region and every customer-managed KMS key of the
    region and the replica regions, ids replaced by names (a key by its
    aliases: a key left without alias shows as '(no alias)')."""
    keys, key_names = kms_inventory((region, *replica_regions))
    ddb = boto3.client("dynamodb", region_name=region)
    tables = []
    for name in _pages(ddb, "list_tables", "TableNames"):
        t = ddb.describe_table(TableName=name)["Table"]
        types = {a["AttributeName"]: a["AttributeType"] for a in t["AttributeDefinitions"]}

        def key(schema: list[dict]) -> tuple:
            return tuple((k["KeyType"], k["AttributeName"], types.get(k["AttributeName"])) for k in sorted(schema, key=lambda k: k["KeyType"]))

        indexes = tuple(sorted(
            (i["IndexName"], key(i["KeySchema"]), i["Projection"]["ProjectionType"],
             tuple(sorted(i["Projection"].get("NonKeyAttributes", []))), i.get("IndexStatus"))
            for i in t.get("GlobalSecondaryIndexes", [])
        ))
        sse = t.get("SSEDescription") or {}
        pitr = ddb.describe_continuous_backups(TableName=name)["ContinuousBackupsDescription"]["PointInTimeRecoveryDescription"]
        ttl = ddb.describe_time_to_live(TableName=name)["TimeToLiveDescription"]
        tags = tuple(sorted((x["Key"], x["Value"]) for x in _pages(ddb, "list_tags_of_resource", "Tags", ResourceArn=t["TableArn"])))
        stream = t.get("StreamSpecification") or {}
        tables.append((
            name,
            key(t["KeySchema"]),
            tuple(sorted(types.items())),
            t.get("BillingModeSummary", {}).get("BillingMode"),
            t.get("DeletionProtectionEnabled"),
            (sse.get("SSEType"), key_names.get(sse.get("KMSMasterKeyArn", ""), sse.get("KMSMasterKeyArn"))),
            (pitr["PointInTimeRecoveryStatus"], pitr.get("RecoveryPeriodInDays")),
            (ttl["TimeToLiveStatus"], ttl.get("AttributeName") if ttl["TimeToLiveStatus"] != "DISABLED" else None),
            (stream.get("StreamEnabled", False), stream.get("StreamViewType")),
            indexes,
            tuple(sorted(r["RegionName"] for r in t.get("Replicas", []))),
            tags,
        ))
    return {"kms_keys": keys, "tables": sorted(tables)}


# --------------------------------------------------------------------------
# aurora: KMS keys, IAM roles, log groups, RDS subnet/parameter groups,
# clusters, instances and the master user secrets RDS manages


def _roles(iam) -> list:
    roles = []
    for role in iam.list_roles()["Roles"]:
        name = role["RoleName"]
        trust = role.get("AssumeRolePolicyDocument")
        trust = json.loads(trust) if isinstance(trust, str) else trust
        policies = iam.list_role_policies(RoleName=name)["PolicyNames"]
        attached = [a["PolicyArn"] for a in iam.list_attached_role_policies(RoleName=name)["AttachedPolicies"]]
        tags = tuple(sorted(tagging.from_list(iam.list_role_tags(RoleName=name)["Tags"]).items()))
        roles.append((name, json.dumps(trust, sort_keys=True), tuple(sorted(policies)), tuple(sorted(attached)), tags))
    return sorted(roles)


def _log_groups(logs) -> list:
    out = []
    for g in logs.describe_log_groups()["logGroups"]:
        tags = tuple(sorted(logs.list_tags_log_group(logGroupName=g["logGroupName"]).get("tags", {}).items()))
        out.append((g["logGroupName"], g.get("retentionInDays"), tags))
    return sorted(out)


def aurora_inventory(region: str) -> dict[str, list]:
    ec2 = client("ec2", region)
    kms = client("kms", region)
    rds = client("rds", region)
    sm = client("secretsmanager", region)
    names = _vpc_and_subnet_names(ec2, "(unnamed vpc)", "(unnamed subnet)")
    for g in ec2.describe_security_groups()["SecurityGroups"]:
        names[g["GroupId"]] = g["GroupName"]

    aliases = _aliases_by_key(kms)
    keys = []
    for k in kms.list_keys()["Keys"]:
        meta = kms.describe_key(KeyId=k["KeyId"])["KeyMetadata"]
        if meta["KeyManager"] != "CUSTOMER":
            continue
        label = ",".join(sorted(aliases.get(meta["KeyId"], []))) or "(no alias)"
        names[meta["Arn"]] = names[meta["KeyId"]] = label
        rotation = kms.get_key_rotation_status(KeyId=meta["KeyId"])["KeyRotationEnabled"] if meta["KeyState"] == "Enabled" else None
        tags = tuple(sorted((t["TagKey"], t["TagValue"]) for t in kms.list_resource_tags(KeyId=meta["KeyId"])["Tags"]))
        keys.append((label, meta["KeyState"], meta["KeySpec"], meta["KeyUsage"], meta.get("Description", ""), rotation, tags))
    n = lambda i: names.get(i, i)  # noqa: E731
    role_name = lambda arn: arn.rsplit("/", 1)[-1] if arn else None  # noqa: E731

    def rds_tags(arn: str) -> tuple:
        return tuple(sorted(tagging.from_list(rds.list_tags_for_resource(ResourceName=arn)["TagList"]).items()))

    subnet_groups = [
        (g["DBSubnetGroupName"], g["DBSubnetGroupDescription"], n(g.get("VpcId", "")),
         tuple(sorted(n(s["SubnetIdentifier"]) for s in g.get("Subnets", []))), rds_tags(g["DBSubnetGroupArn"]))
        for g in rds.describe_db_subnet_groups()["DBSubnetGroups"]
    ]
    parameter_groups = []
    for g in rds.describe_db_cluster_parameter_groups()["DBClusterParameterGroups"]:
        name = g["DBClusterParameterGroupName"]
        params = rds.describe_db_cluster_parameters(DBClusterParameterGroupName=name, Source="user")["Parameters"]
        parameter_groups.append((name, g["DBParameterGroupFamily"],
                                 tuple(sorted((p["ParameterName"], p.get("ParameterValue"), p.get("ApplyMethod")) for p in params)),
                                 rds_tags(g["DBClusterParameterGroupArn"])))
    clusters = []
    for c in rds.describe_db_clusters()["DBClusters"]:
        secret = c.get("MasterUserSecret")
        clusters.append((
            c["DBClusterIdentifier"], c["Engine"], c["EngineVersion"], c.get("DatabaseName"), c.get("MasterUsername"), c.get("Port"),
            c.get("StorageEncrypted"), n(c.get("KmsKeyId", "")), c.get("DBSubnetGroup"),
            tuple(sorted(n(g["VpcSecurityGroupId"]) for g in c.get("VpcSecurityGroups", []))),
            c.get("DBClusterParameterGroup"), c.get("BackupRetentionPeriod"), c.get("PreferredBackupWindow"),
            c.get("PreferredMaintenanceWindow"), c.get("IAMDatabaseAuthenticationEnabled"), c.get("DeletionProtection"),
            c.get("CopyTagsToSnapshot"), tuple(sorted(c.get("EnabledCloudwatchLogsExports", []))),
            ("managed", n(secret.get("KmsKeyId", ""))) if secret else None, c["Status"],
            tuple(sorted(tagging.from_list(c.get("TagList")).items())),
        ))
    instances = [
        (i["DBInstanceIdentifier"], i.get("DBClusterIdentifier"), i["DBInstanceClass"], i.get("AvailabilityZone"), i.get("PromotionTier"),
         i.get("PubliclyAccessible"), i.get("AutoMinorVersionUpgrade"), i.get("MonitoringInterval"), role_name(i.get("MonitoringRoleArn")),
         i.get("PerformanceInsightsEnabled"), n(i.get("PerformanceInsightsKMSKeyId") or ""), i["DBInstanceStatus"],
         tuple(sorted(tagging.from_list(i.get("TagList")).items())))
        for i in rds.describe_db_instances()["DBInstances"]
    ]
    # One managed secret per cluster that asked for it: a duplicate cluster
    # creation would leave a second one.
    secrets = []
    for s in sm.list_secrets()["SecretList"]:
        owner = tagging.from_list(s.get("Tags")).get("aws:rds:primaryDBClusterArn", "")
        secrets.append((owner.rsplit(":", 1)[-1] or s["Name"], n(s.get("KmsKeyId", "")) if s.get("KmsKeyId") else None))
    return {
        "kms_keys": sorted(keys),
        "roles": _roles(client("iam", region)),
        "log_groups": _log_groups(client("logs", region)),
        "db_subnet_groups": sorted(subnet_groups),
        "db_cluster_parameter_groups": sorted(parameter_groups),
        "db_clusters": sorted(clusters, key=str),
        "db_instances": sorted(instances, key=str),
        "secrets": sorted(secrets, key=str),
    }


# --------------------------------------------------------------------------
# edge and monitoring


def _dict_tags(tags: dict | None) -> tuple:
    return tuple(sorted((tags or {}).items()))


def edge_inventory(region: str) -> dict[str, list]:
    """Every load balancer, target group, listener, VPC link, REST API (with its
    resources, methods, deployments and stages), API key, usage plan, domain
    name, certificate, web ACL, log group and role: ids replaced by names."""
    ec2 = client("ec2", region)
    elb = client("elbv2", region)
    apigw = client("apigateway", region)
    acm = client("acm", region)
    waf = client("wafv2", region)
    logs = client("logs", region)
    iam = client("iam", region)
    names = _vpc_and_subnet_names(ec2)
    n = lambda i: names.get(i, i)  # noqa: E731

    lbs = elb.describe_load_balancers()["LoadBalancers"]
    tgs = elb.describe_target_groups()["TargetGroups"]
    for lb in lbs:
        names[lb["LoadBalancerArn"]] = lb["LoadBalancerName"]
        names[lb["DNSName"]] = f"<dns of {lb['LoadBalancerName']}>"
    for tg in tgs:
        names[tg["TargetGroupArn"]] = tg["TargetGroupName"]
    listeners = [(lb["LoadBalancerName"], lst) for lb in lbs for lst in elb.describe_listeners(LoadBalancerArn=lb["LoadBalancerArn"])["Listeners"]]
    arns = [lb["LoadBalancerArn"] for lb in lbs] + [tg["TargetGroupArn"] for tg in tgs] + [lst["ListenerArn"] for _, lst in listeners]
    elb_tags = {d["ResourceArn"]: tuple(sorted(tagging.from_list(d.get("Tags")).items()))
                for d in (elb.describe_tags(ResourceArns=arns)["TagDescriptions"] if arns else [])}

    links = apigw.get_vpc_links()["items"]
    for link in links:
        names[link["id"]] = link["name"]
    apis = apigw.get_rest_apis()["items"]
    for api in apis:
        names[api["id"]] = api["name"]
    keys = apigw.get_api_keys()["items"]
    for key in keys:
        names[key["id"]] = key["name"]
    certs = acm.list_certificates()["CertificateSummaryList"]
    for c in certs:
        names[c["CertificateArn"]] = f"<certificate {c['DomainName']}>"

    def uri(u: str | None) -> str | None:
        for dns, label in names.items():
            if u and dns in u and dns.endswith(".amazonaws.com"):
                u = u.replace(dns, label)
        return u

    api_rows = []
    stage_arns = {}
    for api in apis:
        resources = []
        for res in apigw.get_resources(restApiId=api["id"], embed=["methods"])["items"]:
            methods = []
            for verb, m in sorted((res.get("resourceMethods") or {}).items()):
                i = m.get("methodIntegration") or {}
                methods.append((verb, m.get("authorizationType"), bool(m.get("apiKeyRequired")), _dict_tags(m.get("requestParameters")),
                                i.get("type"), uri(i.get("uri")), i.get("connectionType"), n(i.get("connectionId")),
                                _dict_tags(i.get("requestParameters"))))
            resources.append((res["path"], tuple(methods)))
        deployments = {d["id"]: d.get("description", "") for d in apigw.get_deployments(restApiId=api["id"])["items"]}
        stages = []
        for st in apigw.get_stages(restApiId=api["id"])["item"]:
            stage_arns[f"arn:aws:apigateway:{region}::/restapis/{api['id']}/stages/{st['stageName']}"] = f"{api['name']}/{st['stageName']}"
            access = st.get("accessLogSettings") or {}
            stages.append((st["stageName"], deployments.get(st.get("deploymentId"), st.get("deploymentId")), _dict_tags(st.get("variables")),
                           bool(st.get("tracingEnabled")), access.get("destinationArn", "").rsplit(":", 1)[-1], access.get("format"),
                           tuple(sorted((k, tuple(sorted(v.items()))) for k, v in (st.get("methodSettings") or {}).items())),
                           _dict_tags(st.get("tags")), (st.get("webAclArn") or "").split("/")[-2:-1]))
        api_rows.append((api["name"], tuple((api.get("endpointConfiguration") or {}).get("types", [])), api.get("apiKeySource"),
                         _dict_tags(api.get("tags")), tuple(sorted(resources)), tuple(sorted(deployments.values())), tuple(sorted(stages))))

    plans = []
    for p in apigw.get_usage_plans()["items"]:
        plan_keys = tuple(sorted(k["name"] for k in apigw.get_usage_plan_keys(usagePlanId=p["id"])["items"]))
        plans.append((p["name"], tuple(sorted((n(s["apiId"]), s["stage"]) for s in p.get("apiStages", []))),
                      _dict_tags(p.get("throttle")), plan_keys, _dict_tags(p.get("tags"))))

    domains = []
    for d in apigw.get_domain_names()["items"]:
        try:
            mappings = apigw.get_base_path_mappings(domainName=d["domainName"])["items"]
        except KeyError:  # moto 5.2: a domain without mappings
            mappings = []
        domains.append((d["domainName"], tuple((d.get("endpointConfiguration") or {}).get("types", [])), d.get("securityPolicy"),
                        n(d.get("regionalCertificateArn")), _dict_tags(d.get("tags")),
                        tuple(sorted((m.get("basePath"), n(m.get("restApiId")), m.get("stage")) for m in mappings))))

    cert_rows = []
    for c in certs:
        detail = acm.describe_certificate(CertificateArn=c["CertificateArn"])["Certificate"]
        ctags = tuple(sorted(tagging.from_list(acm.list_tags_for_certificate(CertificateArn=c["CertificateArn"]).get("Tags")).items()))
        methods = tuple(sorted(o.get("ValidationMethod", "") for o in detail.get("DomainValidationOptions", [])))
        cert_rows.append((c["DomainName"], detail.get("Type"), methods, ctags))

    acls = []
    for summary in waf.list_web_acls(Scope="REGIONAL")["WebACLs"]:
        acl = waf.get_web_acl(Name=summary["Name"], Scope="REGIONAL", Id=summary["Id"])["WebACL"]
        rules = tuple(sorted((r["Name"], r["Priority"], repr(sorted(r["Statement"].items())), repr(r.get("Action")), repr(r.get("OverrideAction")),
                              repr(sorted(r["VisibilityConfig"].items()))) for r in acl.get("Rules", [])))
        wtags = tuple(sorted(tagging.from_list(waf.list_tags_for_resource(ResourceARN=acl["ARN"])["TagInfoForResource"].get("TagList")).items()))
        associated = tuple(sorted(label for arn, label in stage_arns.items()
                                  if (waf.get_web_acl_for_resource(ResourceArn=arn).get("WebACL") or {}).get("ARN") == acl["ARN"]))
        try:
            logging = repr(waf.get_logging_configuration(ResourceArn=acl["ARN"])["LoggingConfiguration"].get("RedactedFields"))
        except waf.exceptions.WAFNonexistentItemException:
            logging = None
        acls.append((acl["Name"], repr(acl.get("DefaultAction")), rules, wtags, associated, logging))

    def label(text: str) -> str:  # API Gateway's execution log group carries the API id
        for api in apis:
            text = text.replace(api["id"], f"<{api['name']}>")
        return text

    groups = []
    for g in logs.describe_log_groups()["logGroups"]:
        gtags = tuple(sorted((k, label(v)) for k, v in logs.list_tags_log_group(logGroupName=g["logGroupName"]).get("tags", {}).items()))
        groups.append((label(g["logGroupName"]), g.get("retentionInDays"), gtags, bool(g.get("kmsKeyId"))))

    roles = []
    for role in iam.list_roles()["Roles"]:
        policies = tuple(sorted(iam.list_role_policies(RoleName=role["RoleName"])["PolicyNames"]))
        rtags = tuple(sorted(tagging.from_list(iam.list_role_tags(RoleName=role["RoleName"])["Tags"]).items()))
        roles.append((role["RoleName"], policies, rtags))

    account_role = (apigw.get_account().get("cloudwatchRoleArn") or "").rsplit("/", 1)[-1]
    return {
        "load_balancers": sorted((lb["LoadBalancerName"], lb["Type"], lb["Scheme"], tuple(sorted(n(z["SubnetId"]) for z in lb["AvailabilityZones"])),
                                  tuple(sorted((a["Key"], a["Value"]) for a in elb.describe_load_balancer_attributes(LoadBalancerArn=lb["LoadBalancerArn"])["Attributes"]
                                               if a["Key"] in ("load_balancing.cross_zone.enabled", "deletion_protection.enabled"))),
                                  elb_tags.get(lb["LoadBalancerArn"], ())) for lb in lbs),
        "target_groups": sorted((tg["TargetGroupName"], tg["Protocol"], tg["Port"], tg["TargetType"], n(tg["VpcId"]), tg.get("HealthCheckProtocol"),
                                 tg.get("HealthCheckPath"), tg.get("HealthCheckIntervalSeconds"), tg.get("HealthCheckTimeoutSeconds"),
                                 tg.get("HealthyThresholdCount"), tg.get("UnhealthyThresholdCount"), elb_tags.get(tg["TargetGroupArn"], ())) for tg in tgs),
        "listeners": sorted((lb, lst["Port"], lst["Protocol"], tuple(n(a.get("TargetGroupArn", "")) for a in lst["DefaultActions"]),
                             elb_tags.get(lst["ListenerArn"], ())) for lb, lst in listeners),
        "vpc_links": sorted((link["name"], tuple(n(a) for a in link.get("targetArns", [])), link.get("status"), _dict_tags(link.get("tags"))) for link in links),
        "rest_apis": sorted(api_rows),
        "api_keys": sorted((k["name"], bool(k.get("enabled")), _dict_tags(k.get("tags"))) for k in keys),
        "usage_plans": sorted(plans),
        "domain_names": sorted(domains),
        "certificates": sorted(cert_rows),
        "web_acls": sorted(acls),
        "log_groups": sorted(groups),
        "roles": sorted(roles),
        "apigateway_account_role": [account_role],
    }


def monitoring_inventory(region: str) -> dict[str, list]:
    """Every KMS key (with its aliases), SNS topic and subscription, alarm,
    dashboard, metric filter and log group."""
    kms = client("kms", region)
    sns = client("sns", region)
    cw = client("cloudwatch", region)
    logs = client("logs", region)
    aliases = _aliases_by_key(kms)
    keys = []
    for k in kms.list_keys()["Keys"]:
        meta = kms.describe_key(KeyId=k["KeyId"])["KeyMetadata"]
        if meta.get("KeyManager") == "AWS":
            continue
        ktags = tuple(sorted((t["TagKey"], t["TagValue"]) for t in kms.list_resource_tags(KeyId=k["KeyId"]).get("Tags", [])))
        rotation = kms.get_key_rotation_status(KeyId=k["KeyId"])["KeyRotationEnabled"]
        policy = json.loads(kms.get_key_policy(KeyId=k["KeyId"], PolicyName="default")["Policy"])
        keys.append((tuple(sorted(aliases.get(k["KeyId"], []))), meta["KeyState"], meta.get("Description", ""), rotation,
                     json.dumps(policy, sort_keys=True), ktags))
    topics = []
    for t in sns.list_topics()["Topics"]:
        attrs = sns.get_topic_attributes(TopicArn=t["TopicArn"])["Attributes"]
        ttags = tuple(sorted(tagging.from_list(sns.list_tags_for_resource(ResourceArn=t["TopicArn"]).get("Tags")).items()))
        topics.append((t["TopicArn"].rsplit(":", 1)[-1], attrs.get("KmsMasterKeyId"), attrs.get("DisplayName"), ttags))
    subs = sorted((s["TopicArn"].rsplit(":", 1)[-1], s["Protocol"], s["Endpoint"]) for s in sns.list_subscriptions()["Subscriptions"])
    alarms = []
    for a in cw.describe_alarms()["MetricAlarms"]:
        atags = tuple(sorted(tagging.from_list(cw.list_tags_for_resource(ResourceARN=a["AlarmArn"]).get("Tags")).items()))
        metrics = json.dumps(a.get("Metrics") or [], sort_keys=True, default=str)
        alarms.append((a["AlarmName"], a.get("AlarmDescription"), tuple(x.rsplit(":", 1)[-1] for x in a.get("AlarmActions", [])),
                       tuple(x.rsplit(":", 1)[-1] for x in a.get("OKActions", [])), a.get("Namespace"), a.get("MetricName"),
                       tuple(sorted((d["Name"], d["Value"]) for d in a.get("Dimensions", []))), a.get("Statistic"), a.get("Period"),
                       a.get("EvaluationPeriods"), a.get("DatapointsToAlarm"), a.get("Threshold"), a.get("ComparisonOperator"),
                       a.get("TreatMissingData"), metrics, atags))
    rds_events = sorted((e["CustSubscriptionId"], e["SnsTopicArn"].rsplit(":", 1)[-1], e["SourceType"], tuple(sorted(e.get("SourceIdsList", []))),
                         tuple(sorted(e.get("EventCategoriesList", []))), e.get("Enabled"))
                        for e in client("rds", region).describe_event_subscriptions()["EventSubscriptionsList"])
    dashboards = []
    for d in cw.list_dashboards()["DashboardEntries"]:
        body = cw.get_dashboard(DashboardName=d["DashboardName"])["DashboardBody"]
        dashboards.append((d["DashboardName"], json.dumps(json.loads(body), sort_keys=True)))
    filters = sorted((f["logGroupName"], f["filterName"], f["filterPattern"], json.dumps(f["metricTransformations"], sort_keys=True))
                     for f in logs.describe_metric_filters()["metricFilters"])
    groups = _log_groups(logs)
    return {
        "kms_keys": sorted(keys),
        "topics": sorted(topics),
        "subscriptions": subs,
        "alarms": sorted(alarms),
        "dashboards": sorted(dashboards),
        "metric_filters": filters,
        "log_groups": sorted(groups),
        "rds_event_subscriptions": rds_events,
    }
