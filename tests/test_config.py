"""Every config rule, each shown refusing a bad stack file with its exact message."""

from __future__ import annotations

import pytest

from infra.config import ConfigError, parse_stack_config, project_config_schema
from tests.conftest import ACCOUNT, stack_config

DEVELOPER_ROLE = f"arn:aws:iam::{ACCOUNT}:role/developer"

# (key overrides on top of the real staging stack file, the one problem line expected)
RULES = [
    pytest.param(
        {"vpcFlowLog": False},
        'stagecraft:vpcFlowLog = "false": is not a known key; did you mean '
        "'stagecraft:vpcFlowLogs'?",
        id="typo-in-key",
    ),
    pytest.param(
        {"favouriteColour": "blue"},
        "stagecraft:favouriteColour = \"blue\": is not a known key; see README 'Config keys'",
        id="unknown-key",
    ),
    pytest.param(
        {"nodeMinSize": "two"},
        'stagecraft:nodeMinSize = "two": must be a whole number',
        id="integer-not-a-number",
    ),
    pytest.param(
        {"dbMultiAz": "yes"},
        'stagecraft:dbMultiAz = "yes": must be true or false',
        id="boolean-not-a-boolean",
    ),
    pytest.param(
        {"featureFlags": "webhooks"},
        'stagecraft:featureFlags = "webhooks": must be a list, e.g. [a, b]',
        id="array-not-a-list",
    ),
    pytest.param(
        {"logRetentionDays": 10},
        "stagecraft:logRetentionDays = 10: must be one of CloudWatch's retention periods: "
        "1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, "
        "2557, 2922, 3288, 3653",
        id="log-retention-not-a-cloudwatch-value",
    ),
    pytest.param(
        {"monthlyBudgetUsd": 0},
        "stagecraft:monthlyBudgetUsd = 0: must be greater than 0",
        id="budget-not-positive",
    ),
    pytest.param(
        {"owner": ""},
        'stagecraft:owner = "": must have at least 1 character',
        id="owner-empty",
    ),
    pytest.param(
        {"vpcCidr": "10.20.0.1/16"},
        'stagecraft:vpcCidr = "10.20.0.1/16": must be an IPv4 network address in CIDR form '
        "such as '10.20.0.0/16' (10.20.0.1/16 has host bits set)",
        id="cidr-host-bits",
    ),
    pytest.param(
        {"vpcCidr": "8.8.0.0/16"},
        'stagecraft:vpcCidr = "8.8.0.0/16": must be inside a private range: 10.0.0.0/8, '
        "172.16.0.0/12 or 192.168.0.0/16",
        id="cidr-public",
    ),
    pytest.param(
        {"vpcCidr": "10.20.0.0/24"},
        'stagecraft:vpcCidr = "10.20.0.0/24": prefix must be between /16 and /20: AWS allows '
        "no VPC larger than /16, and below /20 the private subnets leave too few pod IPs for "
        "the VPC CNI",
        id="cidr-too-small",
    ),
    pytest.param(
        {"availabilityZoneCount": 1},
        "stagecraft:availabilityZoneCount = 1: must be at least 2",
        id="one-zone",
    ),
    pytest.param(
        {"availabilityZoneCount": 4},
        "stagecraft:availabilityZoneCount = 4: must be at most 3",
        id="four-zones",
    ),
    pytest.param(
        {"natGatewayStrategy": "none"},
        "stagecraft:natGatewayStrategy = \"none\": must be one of 'single' or 'per_az'",
        id="nat-strategy",
    ),
    pytest.param(
        {"kubernetesVersion": "1.20"},
        'stagecraft:kubernetesVersion = "1.20": must be an EKS version in standard or '
        "extended support: 1.31, 1.32, 1.33, 1.34, 1.35",
        id="kubernetes-version",
    ),
    pytest.param(
        {"nodeInstanceType": "m5.larg"},
        "stagecraft:nodeInstanceType = \"m5.larg\": 'm5' does not come in size 'larg'; "
        "sizes: large, xlarge, 2xlarge, 4xlarge, 8xlarge, 12xlarge, 16xlarge, 24xlarge",
        id="node-size-unknown",
    ),
    pytest.param(
        {"nodeInstanceType": "x9.large"},
        "stagecraft:nodeInstanceType = \"x9.large\": family 'x9' is not one stagecraft "
        "supports; known: c5, c6g, c6i, c7g, c7i, m5, m5a, m6a, m6g, m6i, m7g, m7i, r5, r6g, "
        "r6i, r7g, r7i, t3, t3a, t4g",
        id="node-family-unknown",
    ),
    pytest.param(
        {"nodeInstanceType": "m5large"},
        "stagecraft:nodeInstanceType = \"m5large\": must look like 't3.large' (<family>.<size>)",
        id="node-type-malformed",
    ),
    pytest.param(
        {"nodeMinSize": 4, "nodeMaxSize": 3, "nodeDesiredSize": 3},
        "stagecraft:nodeMinSize = 4: must not exceed nodeMaxSize (3)",
        id="node-min-above-max",
    ),
    pytest.param(
        {"nodeDesiredSize": 9},
        "stagecraft:nodeDesiredSize = 9: must lie between nodeMinSize (2) and nodeMaxSize (5)",
        id="node-desired-outside-range",
    ),
    pytest.param(
        {"clusterPublicAccessCidrs": []},
        "stagecraft:clusterPublicAccessCidrs = []: must list the CIDRs allowed to reach the "
        "API when clusterEndpointPublic is true (EKS reads an empty list as 0.0.0.0/0)",
        id="public-endpoint-without-cidrs",
    ),
    pytest.param(
        {"clusterPublicAccessCidrs": ["0.0.0.0/0"]},
        "stagecraft:clusterPublicAccessCidrs = [\"0.0.0.0/0\"]: '0.0.0.0/0' opens the API "
        "endpoint to the whole internet; list your office or VPN ranges instead",
        id="public-endpoint-open-to-world",
    ),
    pytest.param(
        {"clusterPublicAccessCidrs": ["203.0.113.7/24"]},
        "stagecraft:clusterPublicAccessCidrs = [\"203.0.113.7/24\"]: '203.0.113.7/24' is not "
        "a CIDR network address such as '203.0.113.0/24'",
        id="public-cidr-malformed",
    ),
    pytest.param(
        {"clusterEndpointPublic": False, "clusterPublicAccessCidrs": ["198.51.100.0/24"]},
        'stagecraft:clusterPublicAccessCidrs = ["198.51.100.0/24"]: has no effect while '
        "clusterEndpointPublic is false; remove it or turn the public endpoint on",
        id="cidrs-without-public-endpoint",
    ),
    pytest.param(
        {"clusterAdminRoleArns": ["platform-admin"]},
        "stagecraft:clusterAdminRoleArns = [\"platform-admin\"]: 'platform-admin' is not an "
        "IAM role ARN such as 'arn:aws:iam::123456789012:role/platform-admin'",
        id="role-arn-malformed",
    ),
    pytest.param(
        {"clusterAdminRoleArns": [DEVELOPER_ROLE], "clusterDeveloperRoleArns": [DEVELOPER_ROLE]},
        f'stagecraft:clusterDeveloperRoleArns = ["{DEVELOPER_ROLE}"]: '
        "also listed in clusterAdminRoleArns; a role has one access level (one EKS access "
        "entry)",
        id="role-both-admin-and-developer",
    ),
    pytest.param(
        {"clusterReadOnlyRoleArns": [DEVELOPER_ROLE], "clusterDeveloperRoleArns": [DEVELOPER_ROLE]},
        f'stagecraft:clusterReadOnlyRoleArns = ["{DEVELOPER_ROLE}"]: '
        "also listed in clusterDeveloperRoleArns; a role has one access level (one EKS "
        "access entry)",
        id="role-both-developer-and-read-only",
    ),
    pytest.param(
        {"clusterDeveloperAccess": "admin"},
        "stagecraft:clusterDeveloperAccess = \"admin\": must be one of 'edit' or 'view'",
        id="developer-access-level",
    ),
    pytest.param(
        {"dbEngineVersion": "9.6"},
        'stagecraft:dbEngineVersion = "9.6": major version must be one RDS still supports: '
        "13, 14, 15, 16, 17",
        id="postgres-major-unsupported",
    ),
    pytest.param(
        {"dbEngineVersion": "latest"},
        "stagecraft:dbEngineVersion = \"latest\": must be 'MAJOR' or 'MAJOR.MINOR', e.g. "
        "'16.4'; majors: 13, 14, 15, 16, 17",
        id="postgres-version-malformed",
    ),
    pytest.param(
        {"dbInstanceClass": "m5.large"},
        "stagecraft:dbInstanceClass = \"m5.large\": must look like 'db.t3.large' "
        "(db.<family>.<size>)",
        id="db-class-without-prefix",
    ),
    pytest.param(
        {"dbAllocatedStorageGb": 10, "dbMaxAllocatedStorageGb": 50},
        "stagecraft:dbAllocatedStorageGb = 10: must be at least 20",
        id="storage-below-gp3-minimum",
    ),
    pytest.param(
        {"dbAllocatedStorageGb": 70000},
        "stagecraft:dbAllocatedStorageGb = 70000: must be at most 65536",
        id="storage-above-rds-maximum",
    ),
    pytest.param(
        {"dbMaxAllocatedStorageGb": 105},
        "stagecraft:dbMaxAllocatedStorageGb = 105: must be at least 10% above "
        "dbAllocatedStorageGb (100), i.e. >= 110, for RDS storage autoscaling",
        id="storage-ceiling-too-low",
    ),
    pytest.param(
        {"dbBackupRetentionDays": 40},
        "stagecraft:dbBackupRetentionDays = 40: must be at most 35",
        id="backup-retention-above-35",
    ),
    pytest.param(
        {"dbBackupRetentionDays": -1},
        "stagecraft:dbBackupRetentionDays = -1: must be at least 0",
        id="backup-retention-negative",
    ),
    pytest.param(
        {"dbBackupWindow": "3am"},
        "stagecraft:dbBackupWindow = \"3am\": must be 'hh:mm-hh:mm' in UTC, e.g. '03:00-04:00'",
        id="backup-window-malformed",
    ),
    pytest.param(
        {"dbBackupWindow": "03:00-03:15"},
        'stagecraft:dbBackupWindow = "03:00-03:15": must last at least 30 minutes (RDS rule)',
        id="backup-window-too-short",
    ),
    pytest.param(
        {"dbMaintenanceWindow": "sun:04:30-sun:04:40"},
        'stagecraft:dbMaintenanceWindow = "sun:04:30-sun:04:40": must last at least 30 '
        "minutes (RDS rule)",
        id="maintenance-window-too-short",
    ),
    pytest.param(
        {"dbBackupWindow": "04:00-05:00"},
        'stagecraft:dbMaintenanceWindow = "sun:04:30-sun:05:30": must not overlap '
        "dbBackupWindow (04:00-05:00) on any day (RDS rule)",
        id="maintenance-overlaps-backup",
    ),
    pytest.param(
        {"dbBackupWindow": "23:30-00:30", "dbMaintenanceWindow": "mon:00:00-mon:01:00"},
        'stagecraft:dbMaintenanceWindow = "mon:00:00-mon:01:00": must not overlap '
        "dbBackupWindow (23:30-00:30) on any day (RDS rule)",
        id="overlap-across-midnight",
    ),
    pytest.param(
        {
            "clusterAdminRoleArns": [
                f"arn:aws:iam::{ACCOUNT}:role/platform-admin",
                f"arn:aws:iam::{ACCOUNT}:role/platform-admin",
            ]
        },
        f'stagecraft:clusterAdminRoleArns = ["arn:aws:iam::{ACCOUNT}:role/platform-admin", '
        f'"arn:aws:iam::{ACCOUNT}:role/platform-admin"]: lists '
        f"arn:aws:iam::{ACCOUNT}:role/platform-admin more than once",
        id="role-listed-twice",
    ),
    pytest.param(
        {"clusterPrivateAccessCidrs": ["0.0.0.0/0"]},
        "stagecraft:clusterPrivateAccessCidrs = [\"0.0.0.0/0\"]: '0.0.0.0/0' opens the API "
        "endpoint to the whole internet; list your office or VPN ranges instead",
        id="private-access-open-to-world",
    ),
    pytest.param(
        {"dbMaintenanceWindow": "sunday 4am"},
        "stagecraft:dbMaintenanceWindow = \"sunday 4am\": must be 'ddd:hh:mm-ddd:hh:mm' in "
        "UTC, e.g. 'sun:04:30-sun:05:30'",
        id="maintenance-window-malformed",
    ),
    pytest.param(
        {"dbReadReplicas": 1, "dbBackupRetentionDays": 0},
        "stagecraft:dbReadReplicas = 1: needs dbBackupRetentionDays of at least 1: RDS builds "
        "replicas from backups",
        id="replica-without-backups",
    ),
    pytest.param(
        {"dbReadReplicas": 6},
        "stagecraft:dbReadReplicas = 6: must be at most 5",
        id="too-many-replicas",
    ),
    pytest.param(
        {"dbMonitoringIntervalSeconds": 45},
        "stagecraft:dbMonitoringIntervalSeconds = 45: must be one of 0, 1, 5, 10, 15, 30 or 60",
        id="monitoring-interval",
    ),
    pytest.param(
        {"dbMasterUsername": "postgres"},
        "stagecraft:dbMasterUsername = \"postgres\": 'postgres' is reserved or a well-known "
        "default; choose another",
        id="default-admin-username",
    ),
    pytest.param(
        {"dbName": "App-DB"},
        'stagecraft:dbName = "App-DB": must start with a lowercase letter and hold only '
        "lowercase letters, digits and underscores (at most 63)",
        id="database-name-malformed",
    ),
    pytest.param(
        {"cacheNodeType": "cache.t4g.large"},
        "stagecraft:cacheNodeType = \"cache.t4g.large\": 't4g' does not come in size 'large'; "
        "sizes: micro, small, medium",
        id="cache-size-unknown",
    ),
    pytest.param(
        {"cacheNodeCount": 0},
        "stagecraft:cacheNodeCount = 0: must be at least 1",
        id="cache-without-nodes",
    ),
    pytest.param(
        {"cacheNodeCount": 5},
        "stagecraft:cacheNodeCount = 5: at most two nodes per availability zone (4 with "
        "availabilityZoneCount 2)",
        id="cache-nodes-exceed-zones",
    ),
    pytest.param(
        {"cacheMaxmemoryPolicy": "lru"},
        "stagecraft:cacheMaxmemoryPolicy = \"lru\": must be one of 'volatile-lru', "
        "'allkeys-lru', 'volatile-lfu', 'allkeys-lfu', 'volatile-random', 'allkeys-random', "
        "'volatile-ttl' or 'noeviction'",
        id="eviction-policy",
    ),
    pytest.param(
        {"namespace": "Staging_NS"},
        'stagecraft:namespace = "Staging_NS": must be a DNS label: lowercase letters, digits '
        "and '-', at most 63 characters",
        id="namespace-malformed",
    ),
    pytest.param(
        {"namespace": "kube-system"},
        "stagecraft:namespace = \"kube-system\": 'kube-system' belongs to Kubernetes itself; "
        "choose the env's own name",
        id="namespace-system",
    ),
    pytest.param(
        {"namespace": "ingress-nginx"},
        'stagecraft:ingressNamespace = "ingress-nginx": must differ from the application namespace',
        id="namespace-equals-ingress",
    ),
    pytest.param(
        {"featureFlags": ["darkMode"]},
        "stagecraft:featureFlags = [\"darkMode\"]: must be one of 'realData', 'webhooks', "
        "'highSla' or 'backupRecovery'",
        id="feature-flag-unknown",
    ),
    pytest.param(
        {"featureFlags": ["webhooks", "webhooks"]},
        'stagecraft:featureFlags = ["webhooks", "webhooks"]: lists webhooks more than once',
        id="feature-flag-twice",
    ),
    pytest.param(
        {"quotaCpuRequests": "lots"},
        'stagecraft:quotaCpuRequests = "lots": must be a Kubernetes cpu quantity such as '
        "'500m' or '2'",
        id="quantity-malformed",
    ),
    pytest.param(
        {"containerDefaultMemoryRequest": "1Gi"},
        'stagecraft:containerDefaultMemoryRequest = "1Gi": must not exceed '
        "containerDefaultMemoryLimit (512Mi)",
        id="request-above-limit",
    ),
    pytest.param(
        {"quotaPods": 0},
        "stagecraft:quotaPods = 0: must be at least 1",
        id="quota-pods",
    ),
    pytest.param(
        {"tier": "prod"},
        "stagecraft:tier = \"prod\": must be one of 'production' or 'non-production'",
        id="tier-unknown",
    ),
    pytest.param(
        {"auditLogRetentionDays": 100},
        "stagecraft:auditLogRetentionDays = 100: must be one of CloudWatch's retention "
        "periods: 1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, "
        "2192, 2557, 2922, 3288, 3653",
        id="audit-retention-not-a-cloudwatch-value",
    ),
    pytest.param(
        {"clusterLogTypes": ["api", "kubelet"]},
        "stagecraft:clusterLogTypes = [\"api\", \"kubelet\"]: must be one of 'api', 'audit', "
        "'authenticator', 'controllerManager' or 'scheduler'",
        id="log-type-unknown",
    ),
    pytest.param(
        {"clusterLogTypes": ["api", "api"]},
        'stagecraft:clusterLogTypes = ["api", "api"]: lists api more than once',
        id="log-type-twice",
    ),
    pytest.param(
        {"transitGatewayId": "tgw-xyz"},
        'stagecraft:transitGatewayId = "tgw-xyz": must be a transit gateway id such as '
        "'tgw-0123456789abcdef0'",
        id="transit-gateway-id-malformed",
    ),
    pytest.param(
        {"transitGatewayRoutes": ["10.200.0.0/16"]},
        'stagecraft:transitGatewayRoutes = ["10.200.0.0/16"]: routes need transitGatewayId: '
        "set the gateway or remove the routes",
        id="transit-routes-without-gateway",
    ),
    pytest.param(
        {"transitGatewayId": "tgw-0123456789abcdef0"},
        'stagecraft:transitGatewayId = "tgw-0123456789abcdef0": an attachment with no '
        "transitGatewayRoutes carries no traffic; list the networks to route through it",
        id="transit-gateway-without-routes",
    ),
    pytest.param(
        {"transitGatewayId": "tgw-0123456789abcdef0", "transitGatewayRoutes": ["10.20.8.0/24"]},
        'stagecraft:transitGatewayRoutes = ["10.20.8.0/24"]: overlap the VPC\'s own range '
        "10.20.0.0/16; traffic to them never leaves the VPC",
        id="transit-route-inside-the-vpc",
    ),
    pytest.param(
        {"transitGatewayId": "tgw-0123456789abcdef0", "transitGatewayRoutes": ["0.0.0.0/0"]},
        "stagecraft:transitGatewayRoutes = [\"0.0.0.0/0\"]: '0.0.0.0/0' is the internet route, "
        "which goes through NAT; list the operator networks instead",
        id="transit-route-to-the-internet",
    ),
    pytest.param(
        {"clusterPrivateAccessCidrs": ["10.200.0.0/16"]},
        'stagecraft:clusterPrivateAccessCidrs = ["10.200.0.0/16"]: no route from the VPC '
        "reaches these networks: list them (or a network containing them) in "
        "transitGatewayRoutes with transitGatewayId, or remove them and deploy from inside "
        "the VPC",
        id="private-access-from-an-unrouted-network",
    ),
]

# (production's own stack file with one key replaced, the one problem expected):
# what a production-tier stack must never allow.
PRODUCTION_RULES = [
    pytest.param({"nodeMinSize": 0}, "stagecraft:nodeMinSize = 0: must be at least 2 in "
                 "production: a node group that may scale below two nodes loses every pod "
                 "with one node", id="scale-to-zero"),
    pytest.param({"nodeMinSize": 1}, "stagecraft:nodeMinSize = 1: must be at least 2 in "
                 "production: a node group that may scale below two nodes loses every pod "
                 "with one node", id="one-node"),
    pytest.param({"clusterEndpointPublic": True,
                  "clusterPublicAccessCidrs": ["198.51.100.0/24"]},
                 "stagecraft:clusterEndpointPublic = true: must be false in production: the "
                 "API is reached through the private endpoint (Security Hub EKS.1)",
                 id="public-endpoint"),
    pytest.param({"clusterDeveloperAccess": "edit"}, 'stagecraft:clusterDeveloperAccess = '
                 "\"edit\": must be 'view' in production: only admin roles change "
                 "production", id="developers-edit"),
    pytest.param({"clusterLogTypes": ["api", "audit", "authenticator"]},
                 'stagecraft:clusterLogTypes = ["api", "audit", "authenticator"]: must list '
                 "all five in production (api, audit, authenticator, controllerManager, "
                 "scheduler; Security Hub EKS.8)", id="log-types"),
    pytest.param({"auditLogRetentionDays": 90}, "stagecraft:auditLogRetentionDays = 90: must "
                 "be at least 365 in production: auditors ask for a year of audit trail "
                 "(Security Hub CloudWatch.16)", id="audit-retention"),
    pytest.param({"natGatewayStrategy": "single"}, 'stagecraft:natGatewayStrategy = '
                 "\"single\": must be 'per_az' in production: one zone's outage must not "
                 "cut the others' egress", id="single-nat"),
    pytest.param({"vpcFlowLogs": False}, "stagecraft:vpcFlowLogs = false: must be true in "
                 "production (Security Hub EC2.6)", id="flow-logs"),
    pytest.param({"dbMultiAz": False}, "stagecraft:dbMultiAz = false: must be true in "
                 "production (Security Hub RDS.5)", id="single-az-database"),
    pytest.param({"dbBackupRetentionDays": 3}, "stagecraft:dbBackupRetentionDays = 3: must be "
                 "at least 7 in production (Security Hub RDS.11)", id="short-backups"),
    pytest.param({"dbDeletionProtection": False}, "stagecraft:dbDeletionProtection = false: "
                 "must be true in production (Security Hub RDS.8)", id="deletion-protection"),
    pytest.param({"dbFinalSnapshot": False}, "stagecraft:dbFinalSnapshot = false: must be "
                 "true in production: deleting the database keeps a last snapshot",
                 id="final-snapshot"),
    pytest.param({"dbResetSchedule": "0 4 * * *"}, 'stagecraft:dbResetSchedule = "0 4 * * *": '
                 "must be empty in production: it would empty the production database",
                 id="reset-schedule"),
    pytest.param({"cacheNodeCount": 1}, "stagecraft:cacheNodeCount = 1: must be at least 2 "
                 "in production: a replica to fail over to (Security Hub ElastiCache.3)",
                 id="single-cache-node"),
    pytest.param({"cacheSnapshotRetentionDays": 0}, "stagecraft:cacheSnapshotRetentionDays = "
                 "0: must be at least 1 in production (Security Hub ElastiCache.1)",
                 id="no-cache-snapshots"),
    pytest.param({"protectStatefulResources": False}, "stagecraft:protectStatefulResources = "
                 "false: must be true in production: no `pulumi up` or `destroy` deletes data",
                 id="unprotected"),
    pytest.param({"tier": "non-production", "dataExport": False, "dataExportReaderRoleArns": []},
                 'stagecraft:tier = "non-production": the '
                 "production stack is production-tier; its rules cannot be switched off",
                 id="production-declared-non-production"),
]  # fmt: skip

# The keys the shipped stack files hold as `secure:` values (staging's Slack
# webhook, production's PagerDuty keys), as the reader reports them.
SHIPPED_SECRETS = frozenset(
    {
        "stagecraft:alertSlackWebhookUrl",
        "stagecraft:alertPagerdutyRoutingKey",
        "stagecraft:alertPagerdutyCloudwatchKey",
    }
)


@pytest.mark.parametrize(("overrides", "expected"), PRODUCTION_RULES)
def test_production_tier_refuses_what_production_must_never_be(project, overrides, expected):
    with pytest.raises(ConfigError) as caught:
        stack_config(project, "production", **overrides)
    assert [str(p) for p in caught.value.problems] == [expected]


def test_the_same_settings_are_fine_outside_production(project):
    # dev scales to zero-ish, single NAT, public endpoint, edit: all legal there.
    config = stack_config(project, "dev", nodeMinSize=0, nodeDesiredSize=0)
    assert config.tier.tier == "non-production"
    assert config.cluster.node_min_size == 0


@pytest.mark.parametrize(("overrides", "expected"), RULES)
def test_rule_refuses_bad_value_with_clear_message(project, overrides, expected):
    with pytest.raises(ConfigError) as caught:
        stack_config(project, "staging", **overrides)
    assert [str(p) for p in caught.value.problems] == [expected]
    assert "nothing was created" in str(caught.value)


def test_every_problem_is_reported_at_once(project):
    with pytest.raises(ConfigError) as caught:
        stack_config(
            project,
            "staging",
            vpcFlowLog=False,
            nodeDesiredSize=9,
            dbBackupRetentionDays=40,
            cacheNodeType="cache.t4g.huge",
        )
    keys = [p.key for p in caught.value.problems]
    assert sorted(keys) == sorted(
        [
            "stagecraft:vpcFlowLog",
            "stagecraft:nodeDesiredSize",
            "stagecraft:dbBackupRetentionDays",
            "stagecraft:cacheNodeType",
        ]
    )
    assert str(caught.value).startswith(
        "stack 'staging' has 4 configuration problems; nothing was created:\n  - "
    )


def test_missing_required_key_is_named(project):
    values = dict(project.config_map("staging").values)
    del values["stagecraft:dbInstanceClass"]
    with pytest.raises(ConfigError) as caught:
        parse_stack_config(
            values, project="stagecraft", stack="staging", secret_keys=SHIPPED_SECRETS
        )
    assert [str(p) for p in caught.value.problems] == [
        "stagecraft:dbInstanceClass = (not set): is required in every stack file "
        "(no safe default exists)"
    ]


@pytest.mark.parametrize(
    ("region", "rule"),
    [
        (None, "(not set): must name an AWS region, e.g. 'us-east-1' (set it in the stack file)"),
        ("us-east", '"us-east": is not an AWS region (botocore\'s endpoint data); did you mean '
         "'us-east-2' or 'us-east-1' or 'us-west-2'?"),
        ("us-east-7", '"us-east-7": is not an AWS region (botocore\'s endpoint data); did you '
         "mean 'us-east-2' or 'us-east-1' or 'us-west-2'?"),
        ("mars-north-1", '"mars-north-1": is not an AWS region (botocore\'s endpoint data); '
         "did you mean 'eu-north-1' or 'cn-north-1' or 'ap-northeast-1'?"),
        ("moon", '"moon": is not an AWS region (botocore\'s endpoint data); e.g. \'us-east-1\''),
        ("us-iso-east-1", '"us-iso-east-1": is in the \'aws-iso\' partition; stagecraft '
         "supports aws, aws-cn, aws-us-gov"),
    ],
)  # fmt: skip
def test_region_must_exist_in_the_endpoint_data_botocore_ships(project, region, rule):
    values = dict(project.config_map("staging").values)
    values.pop("aws:region")
    if region is not None:
        values["aws:region"] = region
    with pytest.raises(ConfigError) as caught:
        parse_stack_config(
            values, project="stagecraft", stack="staging", secret_keys=SHIPPED_SECRETS
        )
    assert [str(p) for p in caught.value.problems] == [f"aws:region = {rule}"]


def test_a_region_without_a_service_every_environment_needs_is_refused(monkeypatch, project):
    import infra.config as config_module

    regions = dict(config_module.aws_regions())
    regions["eu-west-1"] = config_module.Region(
        "eu-west-1", "aws", regions["eu-west-1"].services - {"eks"}
    )
    monkeypatch.setattr(config_module, "aws_regions", lambda: regions)
    values = dict(project.config_map("staging").values)
    values["aws:region"] = "eu-west-1"
    with pytest.raises(ConfigError) as caught:
        parse_stack_config(
            values, project="stagecraft", stack="staging", secret_keys=SHIPPED_SECRETS
        )
    assert [str(p) for p in caught.value.problems] == [
        'aws:region = "eu-west-1": does not offer eks (botocore\'s endpoint data), which '
        "every environment needs"
    ]


def test_every_region_botocore_lists_in_the_commercial_partition_is_accepted(project):
    import infra.config as config_module

    values = dict(project.config_map("staging").values)
    values["stagecraft:healthCheckPath"] = ""  # Route 53 alarms from us-east-1 only
    for region in ("eu-central-1", "ap-southeast-2", "sa-east-1"):
        assert region in config_module.aws_regions()
        values["aws:region"] = region
        assert (
            parse_stack_config(
                values, project="stagecraft", stack="staging", secret_keys=SHIPPED_SECRETS
            ).region
            == region
        )


def test_other_namespaces_are_left_to_their_owners(project):
    values = dict(project.config_map("staging").values)
    values["kubernetes:context"] = "whatever"
    values["datadog:site"] = "datadoghq.eu"
    config = parse_stack_config(
        values, project="stagecraft", stack="staging", secret_keys=SHIPPED_SECRETS
    )
    assert config.region == "us-east-1"


@pytest.mark.parametrize(
    ("key", "rule"),
    [
        ("aws:profile", "is ignored: stagecraft's AWS provider reads only aws:region from the "
         "stack file; set credentials in the environment (AWS_PROFILE, aws sso login, OIDC in "
         "CI)"),
        ("aws:regoin", "is not a known key; did you mean 'aws:region'?"),
    ],
)  # fmt: skip
def test_aws_settings_the_explicit_provider_would_ignore_are_refused(project, key, rule):
    values = dict(project.config_map("staging").values)
    values[key] = "ops"
    with pytest.raises(ConfigError) as caught:
        parse_stack_config(
            values, project="stagecraft", stack="staging", secret_keys=SHIPPED_SECRETS
        )
    assert [str(p) for p in caught.value.problems] == [f'{key} = "ops": {rule}']


def test_defaults_apply_when_a_key_is_absent(project):
    values = dict(project.config_map("staging").values)
    for key in ("stagecraft:dbBackupWindow", "stagecraft:nodeDiskSizeGb"):
        values.pop(key, None)
    config = parse_stack_config(
        values, project="stagecraft", stack="staging", secret_keys=SHIPPED_SECRETS
    )
    schema = project_config_schema()
    assert config.database.backup_window == schema["dbBackupWindow"]["default"] == "03:00-04:00"
    assert config.cluster.node_disk_size_gb == schema["nodeDiskSizeGb"]["default"] == 50


def test_cli_strings_and_yaml_values_parse_the_same(project):
    as_strings = project.config_map("production").values
    typed = {**project.read_stack("production"), "stagecraft:allowPlaceholderValues": True}
    from_strings = parse_stack_config(
        as_strings, project="stagecraft", stack="production", secret_keys=SHIPPED_SECRETS
    )
    from_yaml = parse_stack_config(
        typed, project="stagecraft", stack="production", secret_keys=SHIPPED_SECRETS
    )
    assert from_strings == from_yaml
    assert from_strings.cluster.node_max_size == 9
    assert from_strings.workloads.feature_flags == [
        "realData",
        "webhooks",
        "highSla",
        "backupRecovery",
    ]


def test_graviton_nodes_get_the_arm64_image(project):
    config = stack_config(project, "staging", nodeInstanceType="m7g.large")
    assert config.cluster.node_architecture == "arm64"
    assert stack_config(project, "staging").cluster.node_architecture == "x86_64"


@pytest.mark.parametrize(
    "stack",
    ["QA_Env", "Staging", "prod", "qa", "pr-0", "pr-1234567", "pr-12a", "dev-", "dev-Alice",
     "dev--x", "dev-" + "a" * 26, "dev-app", "dev-default", "dev-alice-dbadmin"],
)  # fmt: skip
def test_stack_names_outside_the_rule_are_refused(project, stack):
    values = project.config_map("staging").values
    with pytest.raises(ConfigError) as caught:
        parse_stack_config(values, project="stagecraft", stack=stack, secret_keys=SHIPPED_SECRETS)
    assert [str(p) for p in caught.value.problems] == [
        f'stack = "{stack}": must be dev, sandbox, staging or production (full environments), '
        "pr-<1..999999> (a pull request's preview) or dev-<lowercase name> (a developer's "
        "environment; not dev-app or dev-default, the dev environment's own Redis user ids, "
        "nor a name ending in -dbadmin, another stack's database-admin namespace)"
    ]


@pytest.mark.parametrize("stack", ["pr-1", "pr-999999", "dev-alice", "dev-" + "a" * 25])
def test_small_stack_names_belong_to_the_ephemeral_project(project, stack):
    values = project.config_map("staging").values
    with pytest.raises(ConfigError) as caught:
        parse_stack_config(values, project="stagecraft", stack=stack, secret_keys=SHIPPED_SECRETS)
    assert "they live in the ephemeral/ project" in str(caught.value)


def test_secret_values_are_refused_without_being_repeated(project):
    values = dict(project.config_map("staging").values)
    values["stagecraft:owner"] = "hunter2-plaintext"
    values["stagecraft:dbMasterPassword"] = "another-plaintext"
    with pytest.raises(ConfigError) as caught:
        parse_stack_config(
            values,
            project="stagecraft",
            stack="staging",
            secret_keys={
                "stagecraft:owner",
                "stagecraft:dbMasterPassword",
                "stagecraft:alertSlackWebhookUrl",
            },
        )
    message = str(caught.value)
    assert "plaintext" not in message
    assert sorted(str(p) for p in caught.value.problems) == [
        'stagecraft:dbMasterPassword = "[secret]": is stored as a secret (`pulumi config set '
        "--secret`), but it is not one of stagecraft's secret keys (README 'Config keys' marks "
        "them) and would be written in plain text; set it without --secret (and it is not a "
        "known key either)",
        'stagecraft:owner = "[secret]": is stored as a secret (`pulumi config set --secret`), '
        "but it is not one of stagecraft's secret keys (README 'Config keys' marks them) and "
        "would be written in plain text; set it without --secret",
    ]
