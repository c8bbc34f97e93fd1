"""Cache: ElastiCache Redis, encrypted, RBAC users, nodes-only, failover where replicated."""

from __future__ import annotations

from tests.conftest import ACCOUNT

GROUP = "aws:elasticache/replicationGroup:ReplicationGroup"
USER = "aws:elasticache/user:User"


def test_production_cache_fails_over_across_two_zones(production):
    cache = production.one(GROUP)
    assert cache.inputs["nodeType"] == "cache.m6g.large"
    assert cache.inputs["numCacheClusters"] == 2
    assert cache.inputs["automaticFailoverEnabled"] is True
    assert cache.inputs["multiAzEnabled"] is True
    # The zones chosen by id (use1-az1, use1-az2): their names in this account.
    assert cache.inputs["preferredCacheClusterAzs"] == ["us-east-1a", "us-east-1b"]
    assert cache.inputs["snapshotRetentionLimit"] == 7
    assert cache.protect is True


def test_single_node_caches_have_no_failover(dev, staging):
    for plan in (dev, staging):
        cache = plan.one(GROUP)
        assert cache.inputs["numCacheClusters"] == 1
        assert cache.inputs["nodeType"] == "cache.t4g.micro"
        assert cache.inputs["automaticFailoverEnabled"] is False
        assert cache.inputs["multiAzEnabled"] is False
        assert cache.protect is False


def test_encrypted_at_rest_and_in_transit_with_rbac_users(plans):
    for plan in plans.values():
        cache = plan.one(GROUP).inputs
        assert cache["atRestEncryptionEnabled"] is True
        assert cache["kmsKeyId"].startswith(f"arn:aws:kms:us-east-1:{ACCOUNT}:key/")
        assert cache["transitEncryptionEnabled"] is True
        assert "authToken" not in cache  # no shared token: users log in as themselves
        group = plan.one("aws:elasticache/userGroup:UserGroup")
        assert cache["userGroupIds"] == [group.inputs["userGroupId"]]
        assert cache["engine"] == "redis"


def test_the_default_user_can_do_nothing_and_the_app_user_has_a_secret_password(staging):
    users = {u.inputs["userName"]: u for u in staging.of_type(USER)}
    assert set(users) == {"default", "app"}
    assert users["default"].inputs["accessString"] == "off -@all"
    assert users["default"].inputs["authenticationMode"] == {"type": "no-password-required"}
    app = users["app"].inputs
    assert app["accessString"] == "on ~* &* +@all"
    assert app["authenticationMode"]["type"] == "password"
    assert app["authenticationMode"]["passwords"] == ["[secret]"]
    group = staging.one("aws:elasticache/userGroup:UserGroup")
    assert group.inputs["userGroupId"] == "stagecraft-staging"
    assert sorted(group.inputs["userIds"]) == [
        "stagecraft-staging-app",
        "stagecraft-staging-default",
    ]
    # Previews add their users to this group; the staging stack must not undo them.
    assert group.ignore_changes == ["userIds"]


def test_maxmemory_policy_from_config(staging, dev):
    group = staging.one("aws:elasticache/parameterGroup:ParameterGroup").inputs
    assert group["family"] == "redis7"
    assert group["parameters"] == [{"name": "maxmemory-policy", "value": "allkeys-lru"}]
    dev_group = dev.one("aws:elasticache/parameterGroup:ParameterGroup").inputs
    assert dev_group["parameters"] == [{"name": "maxmemory-policy", "value": "volatile-lru"}]


def test_own_subnet_group_in_private_subnets(production):
    group = production.one("aws:elasticache/subnetGroup:SubnetGroup")
    assert group.inputs["name"] == "stagecraft-production"
    subnets = {s.urn: s for s in production.of_type("aws:ec2/subnet:Subnet")}
    used = [subnets[d] for d in group.dependencies if d in subnets]
    assert len(used) == 3
    assert all(s.inputs["tags"]["tier"] == "private" for s in used)
    assert production.one(GROUP).inputs["subnetGroupName"] == "stagecraft-production"


def test_only_cluster_nodes_reach_redis(production):
    every = [
        r
        for r in production.of_type("aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule")
        if "cache" in r.name
    ]
    # Beside the nodes, only the Session Manager bastion (port forwarding,
    # tests/test_shell_access.py), on the same port, from a group.
    rules = [r for r in every if not r.name.endswith("-cache-from-bastion")]
    assert len(rules) == 1
    for other in every:
        assert (other.inputs["fromPort"], other.inputs["toPort"]) == (6379, 6379)
        assert "cidrIpv4" not in other.inputs
    rule = rules[0]
    assert (rule.inputs["fromPort"], rule.inputs["toPort"]) == (6379, 6379)
    assert "cidrIpv4" not in rule.inputs
    assert production.one("aws:eks/cluster:Cluster").urn in rule.dependencies


def test_parameter_group_name_carries_the_family_so_upgrades_can_replace_it(production):
    group = production.one("aws:elasticache/parameterGroup:ParameterGroup")
    assert group.inputs["name"] == "stagecraft-production-redis7"
    assert production.one(GROUP).inputs["parameterGroupName"] == "stagecraft-production-redis7"
