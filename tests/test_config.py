"""Every config rule, each shown refusing a bad stack file with its exact message."""

from __future__ import annotations

import pytest

from infra.config import ConfigError, parse_stack_config, project_config_schema
from tests.conftest import stack_config

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
        {"clusterEndpointPublic": False},
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
        {"clusterAdminRoleArns": ["arn:aws:iam::123456789012:role/developer"]},
        'stagecraft:clusterDeveloperRoleArns = ["arn:aws:iam::123456789012:role/developer"]: '
        "a role is either admin or developer; these are listed as both",
        id="role-both-admin-and-developer",
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
                "arn:aws:iam::123456789012:role/platform-admin",
                "arn:aws:iam::123456789012:role/platform-admin",
            ]
        },
        'stagecraft:clusterAdminRoleArns = ["arn:aws:iam::123456789012:role/platform-admin", '
        '"arn:aws:iam::123456789012:role/platform-admin"]: lists '
        "arn:aws:iam::123456789012:role/platform-admin more than once",
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
]


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
        parse_stack_config(values, project="stagecraft", stack="staging")
    assert [str(p) for p in caught.value.problems] == [
        "stagecraft:dbInstanceClass = (not set): is required in every stack file "
        "(no safe default exists)"
    ]


@pytest.mark.parametrize(("region", "shown"), [(None, "(not set)"), ("us-east", '"us-east"')])
def test_region_is_required_and_well_formed(project, region, shown):
    values = dict(project.config_map("staging").values)
    values.pop("aws:region")
    if region is not None:
        values["aws:region"] = region
    with pytest.raises(ConfigError) as caught:
        parse_stack_config(values, project="stagecraft", stack="staging")
    assert [str(p) for p in caught.value.problems] == [
        f"aws:region = {shown}: must name an AWS region, e.g. 'us-east-1' (set it in the "
        "stack file)"
    ]


def test_other_namespaces_are_left_to_their_owners(project):
    values = dict(project.config_map("staging").values)
    values["aws:profile"] = "ops"
    values["kubernetes:context"] = "whatever"
    config = parse_stack_config(values, project="stagecraft", stack="staging")
    assert config.region == "us-east-1"


def test_defaults_apply_when_a_key_is_absent(project):
    values = dict(project.config_map("staging").values)
    for key in ("stagecraft:dbBackupWindow", "stagecraft:nodeDiskSizeGb"):
        values.pop(key, None)
    config = parse_stack_config(values, project="stagecraft", stack="staging")
    schema = project_config_schema()
    assert config.database.backup_window == schema["dbBackupWindow"]["default"] == "03:00-04:00"
    assert config.cluster.node_disk_size_gb == schema["nodeDiskSizeGb"]["default"] == 50


def test_cli_strings_and_yaml_values_parse_the_same(project):
    as_strings = project.config_map("production").values
    typed = dict(project.read_stack("production"))
    from_strings = parse_stack_config(as_strings, project="stagecraft", stack="production")
    from_yaml = parse_stack_config(typed, project="stagecraft", stack="production")
    assert from_strings == from_yaml
    assert from_strings.cluster.node_max_size == 10
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
     "dev--x", "dev-" + "a" * 26],
)  # fmt: skip
def test_stack_names_outside_the_rule_are_refused(project, stack):
    values = project.config_map("staging").values
    with pytest.raises(ConfigError) as caught:
        parse_stack_config(values, project="stagecraft", stack=stack)
    assert [str(p) for p in caught.value.problems] == [
        f'stack = "{stack}": must be dev, sandbox, staging or production (full environments), '
        "pr-<1..999999> (a pull request's preview) or dev-<lowercase name> (a developer's "
        "environment)"
    ]


@pytest.mark.parametrize("stack", ["pr-1", "pr-999999", "dev-alice", "dev-" + "a" * 25])
def test_small_stack_names_belong_to_the_ephemeral_project(project, stack):
    values = project.config_map("staging").values
    with pytest.raises(ConfigError) as caught:
        parse_stack_config(values, project="stagecraft", stack=stack)
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
            secret_keys={"stagecraft:owner", "stagecraft:dbMasterPassword"},
        )
    message = str(caught.value)
    assert "plaintext" not in message
    assert sorted(str(p) for p in caught.value.problems) == [
        'stagecraft:dbMasterPassword = "[secret]": is stored as a secret (`pulumi config set '
        "--secret`), but stagecraft keys are not secrets and would be written in plain text; "
        "set it without --secret (and it is not a known key either)",
        'stagecraft:owner = "[secret]": is stored as a secret (`pulumi config set --secret`), '
        "but stagecraft keys are not secrets and would be written in plain text; set it "
        "without --secret",
    ]
