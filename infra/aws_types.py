"""Facts about AWS resource types that several parts of stagecraft rely on."""

import hashlib
from dataclasses import dataclass

# What `protectStatefulResources` protects: the resources that hold data or
# whose loss takes data with it.
PROTECTED_TYPES = frozenset(
    {
        "aws:rds/instance:Instance",
        "aws:elasticache/replicationGroup:ReplicationGroup",
        "aws:eks/cluster:Cluster",
        "aws:kms/key:Key",
        # Its name servers are what the parent delegates to: a new zone gets new ones.
        "aws:route53/zone:Zone",
        # The audit trail, and the buckets of logs, traces, metrics and access logs.
        "aws:s3/bucket:Bucket",
        "aws:cloudtrail/trail:Trail",
        # AWS Backup's vaults: their recovery points go with them.
        "aws:backup/vault:Vault",
    }
)

# A bucket's settings and an SNS topic's policy and subscriptions: resources
# of their own in pulumi-aws, with neither a name nor tags.
SETTINGS_OF_BUCKETS_AND_TOPICS = (
    "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock",
    "aws:s3/bucketOwnershipControls:BucketOwnershipControls",
    "aws:s3/bucketVersioning:BucketVersioning",
    "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration",
    "aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration",
    "aws:s3/bucketLogging:BucketLogging",
    "aws:s3/bucketPolicy:BucketPolicy",
    "aws:sns/topicPolicy:TopicPolicy",
    "aws:sns/topicSubscription:TopicSubscription",
)

# AWS types that take no tags (and so carry no tagsAll); every other aws:
# type gets the environment's default tags.
UNTAGGABLE_AWS_TYPES = frozenset(
    {
        "aws:ec2/routeTableAssociation:RouteTableAssociation",
        "aws:iam/rolePolicy:RolePolicy",
        "aws:iam/rolePolicyAttachment:RolePolicyAttachment",
        "aws:kms/alias:Alias",
        "aws:secretsmanager/secretVersion:SecretVersion",
        "aws:eks/accessPolicyAssociation:AccessPolicyAssociation",
        "aws:route53/record:Record",
        "aws:acm/certificateValidation:CertificateValidation",
        # AWS Backup's selections and vault locks are settings of a plan or vault.
        "aws:backup/selection:Selection",
        "aws:backup/vaultLockConfiguration:VaultLockConfiguration",
        "aws:backup/restoreTestingSelection:RestoreTestingSelection",
        *SETTINGS_OF_BUCKETS_AND_TOPICS,
    }
)


@dataclass(frozen=True)
class NameRule:
    """How AWS names one resource type: which input holds the name, and its limit.

    ``autonamed``: when the program leaves the input unset, Pulumi fills it
    with the logical name plus "-" and 7 random hex characters (pulumi-aws's
    auto-naming), so the final name is 8 characters longer than the logical
    one.  Limits are AWS's own (the API reference's length constraint).
    """

    property: str
    limit: int
    autonamed: bool = True
    lowercase: bool = False


AUTONAME_SUFFIX_LENGTH = len("-") + 7

ROLE = "aws:iam/role:Role"
ROLE_POLICY = "aws:iam/rolePolicy:RolePolicy"
SECURITY_GROUP = "aws:ec2/securityGroup:SecurityGroup"
LAUNCH_TEMPLATE = "aws:ec2/launchTemplate:LaunchTemplate"
NODE_GROUP = "aws:eks/nodeGroup:NodeGroup"
RDS_SUBNET_GROUP = "aws:rds/subnetGroup:SubnetGroup"
RDS_PARAMETER_GROUP = "aws:rds/parameterGroup:ParameterGroup"

NAME_RULES: dict[str, NameRule] = {
    "aws:iam/role:Role": NameRule("name", 64),
    "aws:iam/rolePolicy:RolePolicy": NameRule("name", 128),
    "aws:iam/policy:Policy": NameRule("name", 128),
    "aws:iam/instanceProfile:InstanceProfile": NameRule("name", 128),
    "aws:ec2/securityGroup:SecurityGroup": NameRule("name", 255),
    "aws:ec2/launchTemplate:LaunchTemplate": NameRule("name", 128),
    "aws:cloudwatch/logGroup:LogGroup": NameRule("name", 512),
    "aws:secretsmanager/secret:Secret": NameRule("name", 512),
    "aws:kms/alias:Alias": NameRule("name", 256, autonamed=False),
    "aws:eks/cluster:Cluster": NameRule("name", 100),
    "aws:eks/nodeGroup:NodeGroup": NameRule("nodeGroupName", 63),
    # https://docs.aws.amazon.com/aws-cost-management/latest/APIReference/API_budgets_Budget.html
    "aws:budgets/budget:Budget": NameRule("name", 100, autonamed=False),
    # https://docs.aws.amazon.com/scheduler/latest/APIReference/API_CreateSchedule.html
    "aws:scheduler/schedule:Schedule": NameRule("name", 64, autonamed=False),
    "aws:scheduler/scheduleGroup:ScheduleGroup": NameRule("name", 64, autonamed=False),
    "aws:rds/instance:Instance": NameRule("identifier", 63, lowercase=True),
    "aws:rds/subnetGroup:SubnetGroup": NameRule("name", 255, lowercase=True),
    "aws:rds/parameterGroup:ParameterGroup": NameRule("name", 255, lowercase=True),
    "aws:elasticache/replicationGroup:ReplicationGroup": NameRule(
        "replicationGroupId", 40, lowercase=True
    ),
    "aws:elasticache/subnetGroup:SubnetGroup": NameRule("name", 255, lowercase=True),
    "aws:elasticache/parameterGroup:ParameterGroup": NameRule("name", 255, lowercase=True),
    "aws:elasticache/user:User": NameRule("userId", 40, autonamed=False),
    "aws:elasticache/userGroup:UserGroup": NameRule("userGroupId", 40, autonamed=False),
    "aws:s3/bucket:Bucket": NameRule("bucket", 63, lowercase=True),
    "aws:sns/topic:Topic": NameRule("name", 256),
    "aws:cloudwatch/metricAlarm:MetricAlarm": NameRule("name", 255),
    "aws:cloudtrail/trail:Trail": NameRule("name", 128),
    "aws:chatbot/slackChannelConfiguration:SlackChannelConfiguration": NameRule(
        "configurationName", 128, autonamed=False
    ),
    # https://docs.aws.amazon.com/systems-manager/latest/APIReference/API_CreateDocument.html
    "aws:ssm/document:Document": NameRule("name", 128, autonamed=False),
    # https://docs.aws.amazon.com/aws-backup/latest/devguide/API_CreateBackupVault.html
    "aws:backup/vault:Vault": NameRule("name", 50, autonamed=False),
    # https://docs.aws.amazon.com/aws-backup/latest/devguide/API_BackupPlanInput.html
    "aws:backup/plan:Plan": NameRule("name", 50, autonamed=False),
    "aws:backup/selection:Selection": NameRule("name", 50, autonamed=False),
    # Letters, digits and underscores only:
    # https://docs.aws.amazon.com/aws-backup/latest/devguide/API_RestoreTestingPlanForCreate.html
    "aws:backup/restoreTestingPlan:RestoreTestingPlan": NameRule("name", 50, autonamed=False),
    "aws:backup/restoreTestingSelection:RestoreTestingSelection": NameRule(
        "name", 50, autonamed=False
    ),
}

# AWS types whose instances have no name of their own (an id AWS assigns, or
# the names of the things they join), so no length can overflow.
UNNAMED_AWS_TYPES = frozenset(
    {
        "aws:ec2/vpc:Vpc",
        "aws:ec2/subnet:Subnet",
        "aws:ec2/internetGateway:InternetGateway",
        "aws:ec2/routeTable:RouteTable",
        "aws:ec2/route:Route",
        "aws:ec2/routeTableAssociation:RouteTableAssociation",
        "aws:ec2/natGateway:NatGateway",
        "aws:ec2/eip:Eip",
        "aws:ec2/defaultSecurityGroup:DefaultSecurityGroup",
        "aws:ec2/defaultNetworkAcl:DefaultNetworkAcl",
        "aws:ec2/flowLog:FlowLog",
        "aws:ec2transitgateway/vpcAttachment:VpcAttachment",
        "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule",
        "aws:vpc/securityGroupEgressRule:SecurityGroupEgressRule",
        # An id EC2 assigns (i-...); its Name tag is not a name.
        "aws:ec2/instance:Instance",
        "aws:iam/rolePolicyAttachment:RolePolicyAttachment",
        "aws:iam/openIdConnectProvider:OpenIdConnectProvider",
        "aws:kms/key:Key",
        "aws:secretsmanager/secretVersion:SecretVersion",
        "aws:eks/addon:Addon",
        "aws:eks/accessEntry:AccessEntry",
        "aws:eks/accessPolicyAssociation:AccessPolicyAssociation",
        "aws:elasticache/userGroupAssociation:UserGroupAssociation",
        # Named by the environment's domain, whose length the config checks
        # (infra/config.py check_domain), never auto-named.
        "aws:route53/zone:Zone",
        "aws:route53/record:Record",
        "aws:acm/certificate:Certificate",
        "aws:acm/certificateValidation:CertificateValidation",
        "aws:route53/healthCheck:HealthCheck",
        "aws:backup/vaultLockConfiguration:VaultLockConfiguration",
        *SETTINGS_OF_BUCKETS_AND_TOPICS,
    }
)


def physical_name(type_token: str, logical_name: str) -> str | None:
    """The name to set for a resource whose auto-name would not fit AWS's limit, else None.

    None leaves Pulumi's auto-naming in charge (a random suffix, so a
    replacement can be created before its predecessor is deleted).  Only a
    logical name too long for that gets an explicit name: cut, with a hash
    of the whole name so two long names never collide, and stable from run
    to run.
    """
    rule = NAME_RULES[type_token]
    if len(logical_name) + AUTONAME_SUFFIX_LENGTH <= rule.limit:
        return None
    name = fitted_name(logical_name, rule.limit)
    return name.lower() if rule.lowercase else name


def fitted_name(name: str, limit: int) -> str:
    """``name`` itself when it fits ``limit`` characters, else cut with a hash of the whole.

    The hash keeps two long names that share their first characters apart,
    and is stable, so the same stack always gets the same name.
    """
    if len(name) <= limit:
        return name
    digest = hashlib.sha256(name.encode()).hexdigest()[:7]
    return f"{name[: limit - len(digest) - 1].rstrip('-')}-{digest}"
