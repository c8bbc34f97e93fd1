"""Facts about AWS resource types that several parts of stagecraft rely on."""

# What `protectStatefulResources` protects: the resources that hold data or
# whose loss takes data with it.
PROTECTED_TYPES = frozenset(
    {
        "aws:rds/instance:Instance",
        "aws:elasticache/replicationGroup:ReplicationGroup",
        "aws:eks/cluster:Cluster",
        "aws:kms/key:Key",
    }
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
    }
)
