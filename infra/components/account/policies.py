"""The IAM documents of the bootstrap: who CI is, and what each of its roles may touch.

Pure functions of names and ARNs (tested without Pulumi). Four kinds of role:

- **deploy** (one per environment): trusted by jobs of the GitHub environment
  of that name; may use the services the program builds with, but never
  on a resource tagged as another environment, and only its own stack's
  state;
- **preview** (pull requests): reads what a plan reads and the state of the
  previewed, non-production stacks; never a secret's value, never
  production;
- **preview-environment** (pr-<n> stacks): creates and destroys only what
  is named `<project>-pr-*` or tagged `environment: pr-*`, and the few
  shared staging resources a preview must use, each said below; no IAM;
- the **environment boundaries**: the most any role an environment creates
  may ever do (no IAM, nothing of another environment, not the state), so a
  deploy role, which may create roles only under its boundary, cannot grant
  itself more than it has.

Trust conditions are exact (StringEquals on `aud` and `sub`): a workflow of
another repository, a fork or another GitHub environment gets nothing.
https://docs.github.com/en/actions/reference/security/oidc
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

GITHUB_OIDC_HOST = "token.actions.githubusercontent.com"
GITHUB_OIDC_URL = f"https://{GITHUB_OIDC_HOST}"
# What aws-actions/configure-aws-credentials asks GitHub for.
STS_AUDIENCE = "sts.amazonaws.com"

# The services the environment program creates resources with. A deploy role
# gets them whole: their resource ids are assigned by AWS at creation, so no
# name pattern can scope them; the Deny statements keep each environment's
# role off every other environment's resources instead.
PROGRAM_SERVICES = (
    "ec2", "eks", "rds", "elasticache", "logs", "kms", "secretsmanager",
    "route53", "acm",  # the environment's zone, its records and certificate
    # AWS Backup's vaults, plans, selections and restore tests (ids it assigns);
    # creating a vault mounts its storage (backup-storage:MountCapsule).
    "backup", "backup-storage",
)  # fmt: skip

# Roles the environment program passes to AWS services, and to which.
PASSED_TO_SERVICES = (
    "eks.amazonaws.com",  # the cluster's and the node group's roles, add-ons' IRSA roles
    "monitoring.rds.amazonaws.com",  # RDS enhanced monitoring
    "vpc-flow-logs.amazonaws.com",  # flow logs to CloudWatch
    "cloudtrail.amazonaws.com",  # the trail's delivery into CloudWatch Logs
    "chatbot.amazonaws.com",  # AWS Chatbot posting alarms to Slack
    "scheduler.amazonaws.com",  # the off-hours schedules' roles
    "ec2.amazonaws.com",  # the Session Manager bastion's instance profile
    "backup.amazonaws.com",  # AWS Backup's role for the backup plan and restore tests
)

# Services whose resources the environment names itself (`<project>-<env>-...`):
# the deploy role gets them by that name only, not on `*`.
NAMED_SERVICES = ("s3", "sns", "cloudwatch", "cloudtrail", "chatbot", "budgets", "scheduler")

# Service-linked roles the services create on first use (their creation is
# authorised against the caller).
SERVICE_LINKED = (
    "eks.amazonaws.com",
    "eks-nodegroup.amazonaws.com",
    "rds.amazonaws.com",
    "elasticache.amazonaws.com",
    "autoscaling.amazonaws.com",
    # The first transit gateway attachment of an account creates it (production).
    "transitgateway.amazonaws.com",
    # AWS Backup's own role, and the one its first restore testing plan creates
    # (AWSServiceRoleForBackupRestoreTesting), in production.
    "backup.amazonaws.com",
    "restore-testing.backup.amazonaws.com",
)

# What `pulumi preview` of the program reads: the invokes (zones, caller,
# add-on versions, log groups, the session's role) and the provider reads.
# Never a secret's value, never a log event.
PREVIEW_READ_ACTIONS = (
    "ec2:Describe*",
    "eks:Describe*",
    "eks:List*",
    "rds:Describe*",
    "rds:ListTagsForResource",
    "elasticache:Describe*",
    "elasticache:ListTagsForResource",
    "logs:DescribeLogGroups",
    "logs:ListTagsForResource",
    "logs:ListTagsLogGroup",
    "kms:DescribeKey",
    "kms:GetKeyPolicy",
    "kms:GetKeyRotationStatus",
    "kms:ListAliases",
    "kms:ListResourceTags",
    "secretsmanager:DescribeSecret",
    "secretsmanager:GetResourcePolicy",
    "secretsmanager:ListSecrets",
    "iam:GetRole",
    "iam:GetRolePolicy",
    "iam:GetOpenIDConnectProvider",
    "iam:GetPolicy",
    "iam:GetPolicyVersion",
    "iam:ListAttachedRolePolicies",
    "iam:ListRolePolicies",
    "iam:ListRoles",
    "iam:ListRoleTags",
    "iam:ListOpenIDConnectProviders",
    "route53:GetHostedZone",
    "route53:ListResourceRecordSets",
    "route53:ListTagsForResource",
    "route53:GetChange",
    "acm:DescribeCertificate",
    "acm:ListTagsForCertificate",
    # The Session Manager bastion's profile and session documents (no secrets).
    "iam:GetInstanceProfile",
    "ssm:DescribeDocument",
    "ssm:DescribeDocumentPermission",
    "ssm:GetDocument",
    "ssm:ListTagsForResource",
    "backup:Describe*",
    "backup:Get*",
    "backup:List*",
)


@dataclass(frozen=True)
class GitHubRepository:
    owner: str
    name: str
    # GitHub's immutable subject (`repo:<owner>@<id>/<name>@<id>:`), sent by
    # repositories created, renamed or transferred since 2026-07-15.
    owner_id: int = 0
    repository_id: int = 0

    def subject(self, context: str) -> str:
        """The token's `sub` for a job of this repository in ``context``
        (`pull_request`, `environment:<name>`)."""
        if self.owner_id and self.repository_id:
            repository = f"{self.owner}@{self.owner_id}/{self.name}@{self.repository_id}"
        else:
            repository = f"{self.owner}/{self.name}"
        return f"repo:{repository}:{context}"


def github_trust_policy(provider_arn: str, subject: str) -> dict[str, Any]:
    """Only a token from GitHub, for STS, whose subject is exactly ``subject``."""
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "GitHubActions",
                "Effect": "Allow",
                "Principal": {"Federated": provider_arn},
                "Action": "sts:AssumeRoleWithWebIdentity",
                "Condition": {
                    "StringEquals": {
                        f"{GITHUB_OIDC_HOST}:aud": STS_AUDIENCE,
                        f"{GITHUB_OIDC_HOST}:sub": subject,
                    }
                },
            }
        ],
    }


@dataclass(frozen=True)
class Account:
    """Where the documents point: the account, the state bucket and the keys."""

    partition: str
    account_id: str
    region: str
    project: str  # the environments' Pulumi project ("stagecraft")
    state_bucket: str
    state_key_arn: str
    # Full environment -> the KMS key of its stack's secrets provider.
    secrets_key_arns: Mapping[str, str] = field(default_factory=dict)

    def arn(self, service: str, resource: str, *, regional: bool = True) -> str:
        region = self.region if regional else ""
        return f"arn:{self.partition}:{service}:{region}:{self.account_id}:{resource}"

    def iam(self, resource: str) -> str:
        return f"arn:{self.partition}:iam::{self.account_id}:{resource}"

    @property
    def bucket_arn(self) -> str:
        return f"arn:{self.partition}:s3:::{self.state_bucket}"

    def state_objects(self, stack: str) -> list[str]:
        """Every object the DIY backend keeps for one stack (``stack`` may end in `*`).

        https://www.pulumi.com/docs/iac/operations/stack-management/using-a-diy-backend/
        """
        root = f"{self.bucket_arn}/.pulumi"
        return [
            f"{root}/stacks/{self.project}/{stack}.json*",
            f"{root}/locks/{self.project}/{stack}/*",
            f"{root}/history/{self.project}/{stack}/*",
            f"{root}/backups/{self.project}/{stack}/*",
        ]

    @property
    def state_meta(self) -> str:
        return f"{self.bucket_arn}/.pulumi/meta.yaml"

    def prefix(self, stack: str) -> str:
        """The names a stack's resources start with: `stagecraft-staging`, `stagecraft-pr-`."""
        return f"{self.project}-{stack}"

    def boundary_arn(self, environment: str) -> str:
        """The permissions boundary of an environment's roles."""
        return self.iam(f"policy/{self.project}-{environment}-boundary")

    @property
    def boundary_pattern(self) -> str:
        return self.iam(f"policy/{self.project}-*-boundary")


def _document(statements: Sequence[dict[str, Any]]) -> dict[str, Any]:
    return {"Version": "2012-10-17", "Statement": list(statements)}


def _state_statements(
    account: Account, *, writable: str, readable: Sequence[str]
) -> list[dict[str, Any]]:
    """Read and write one stack's state (``writable``, may be a pattern); read ``readable``."""
    return [
        {
            "Sid": "ListTheStateBucket",
            "Effect": "Allow",
            "Action": ["s3:ListBucket", "s3:GetBucketLocation"],
            "Resource": account.bucket_arn,
        },
        {
            "Sid": "OwnStackState",
            "Effect": "Allow",
            "Action": ["s3:GetObject", "s3:PutObject", "s3:DeleteObject"],
            "Resource": account.state_objects(writable),
        },
        {
            "Sid": "ReadStackState",
            "Effect": "Allow",
            "Action": "s3:GetObject",
            "Resource": [
                account.state_meta,
                *(arn for stack in readable for arn in account.state_objects(stack)),
            ],
        },
        {
            "Sid": "StateBucketEncryption",
            "Effect": "Allow",
            "Action": ["kms:Decrypt", "kms:GenerateDataKey"],
            "Resource": account.state_key_arn,
        },
    ]


def _other_environments_denied(
    tag_values: Sequence[str], *, decrypt_dumps_of: Sequence[str] = ()
) -> list[dict[str, Any]]:
    """Nothing tagged with another `environment`, nothing created under another's tag.

    Both conditions hold only where the tag exists (Null false): untagged
    resources and account-level reads are left to the Allow statements.
    ``decrypt_dumps_of``: S3 ARN patterns (production's data-sync bucket)
    whose objects' key, tagged with another environment, may still decrypt
    them, through S3 only (the encryption context S3 sends names the bucket
    or object): the one crossing the anonymised data sync needs.
    https://docs.aws.amazon.com/kms/latest/developerguide/conditions-kms.html#conditions-kms-encryption-context
    """
    not_ours: dict[str, Any] = {"aws:ResourceTag/environment": list(tag_values)}
    tagged = {"aws:ResourceTag/environment": "false"}
    foreign = {"StringNotLike": not_ours, "Null": tagged}
    denied: list[dict[str, Any]] = [
        {
            "Sid": "NeverAnotherEnvironmentsResources",
            "Effect": "Deny",
            **({"NotAction": "kms:Decrypt"} if decrypt_dumps_of else {"Action": "*"}),
            "Resource": "*",
            "Condition": foreign,
        }
    ]
    if decrypt_dumps_of:
        denied.append(
            {
                # And only as S3 calls it: a direct Decrypt naming that
                # context itself is refused.
                "Sid": "NeverAnotherEnvironmentsKeysButThroughS3",
                "Effect": "Deny",
                "Action": "kms:Decrypt",
                "Resource": "*",
                "Condition": {
                    "StringNotLike": {**not_ours, "kms:ViaService": "s3.*.amazonaws.com"},
                    "Null": tagged,
                },
            }
        )
        denied.append(
            {
                "Sid": "NeverAnotherEnvironmentsKeysButItsDumps",
                "Effect": "Deny",
                "Action": "kms:Decrypt",
                "Resource": "*",
                "Condition": {
                    "StringNotLike": {
                        **not_ours,
                        "kms:EncryptionContext:aws:s3:arn": list(decrypt_dumps_of),
                    },
                    "Null": tagged,
                },
            }
        )
    return [
        *denied,
        {
            "Sid": "NeverTagAsAnotherEnvironment",
            "Effect": "Deny",
            "Action": "*",
            "Resource": "*",
            "Condition": {
                "StringNotLike": {"aws:RequestTag/environment": list(tag_values)},
                "Null": {"aws:RequestTag/environment": "false"},
            },
        },
    ]


def deploy_policy(account: Account, environment: str) -> dict[str, Any]:
    """What `pulumi up --stack <environment>` needs, and nothing of another environment."""
    prefix = account.prefix(environment)
    return _document(
        [
            {
                # Justified in policy/config/bootstrap.json: ids assigned at creation.
                "Sid": "ProgramServices",
                "Effect": "Allow",
                "Action": [f"{service}:*" for service in PROGRAM_SERVICES],
                "Resource": "*",
            },
            {
                # Its buckets, alarm topic, alarms, trail and Slack channel: by
                # name, so never the state bucket or another environment's.
                "Sid": "OwnNamedResources",
                "Effect": "Allow",
                "Action": [f"{service}:*" for service in NAMED_SERVICES],
                "Resource": [
                    f"arn:{account.partition}:s3:::{prefix}-*",
                    f"arn:{account.partition}:s3:::{prefix}-*/*",
                    account.arn("sns", f"{prefix}-*"),
                    account.arn("cloudwatch", f"alarm:{prefix}-*"),
                    account.arn("cloudtrail", f"trail/{prefix}-*"),
                    account.arn(
                        "chatbot", f"chat-configuration/slack-channel/{prefix}-*", regional=False
                    ),
                    account.arn("budgets", f"budget/{prefix}-*", regional=False),
                    account.arn("scheduler", f"schedule-group/{prefix}-*"),
                    account.arn("scheduler", f"schedule/{prefix}-*/*"),
                ],
            },
            {
                # Calls that take no resource (lists, and reading what exists).
                "Sid": "NamedServicesLists",
                "Effect": "Allow",
                "Action": [
                    "s3:ListAllMyBuckets",
                    "sns:ListTopics",
                    "cloudwatch:DescribeAlarms",
                    "cloudtrail:DescribeTrails",
                    "cloudtrail:ListTrails",
                    "chatbot:DescribeSlackChannelConfigurations",
                    "chatbot:DescribeSlackWorkspaces",
                    "scheduler:ListScheduleGroups",
                    "scheduler:ListSchedules",
                ],
                "Resource": "*",
            },
            {
                # The node group's Auto Scaling group (EKS names it eks-<node group>-<id>):
                # its metrics collection, for the nodes-below-minimum alarm.
                "Sid": "NodeGroupMetricsCollection",
                "Effect": "Allow",
                "Action": [
                    "autoscaling:EnableMetricsCollection",
                    "autoscaling:DisableMetricsCollection",
                    "autoscaling:DescribeAutoScalingGroups",
                ],
                "Resource": account.arn(
                    "autoscaling", f"autoScalingGroup:*:autoScalingGroupName/eks-{prefix}-*"
                ),
            },
            {
                # Every role it creates or changes keeps its environment's
                # boundary: no IAM, no other environment, not the state.
                "Sid": "OwnRolesOnlyUnderTheBoundary",
                "Effect": "Allow",
                "Action": [
                    "iam:CreateRole",
                    "iam:PutRolePolicy",
                    "iam:AttachRolePolicy",
                    "iam:UpdateAssumeRolePolicy",
                    "iam:PutRolePermissionsBoundary",
                ],
                "Resource": account.iam(f"role/{prefix}-*"),
                "Condition": {
                    "StringEquals": {"iam:PermissionsBoundary": account.boundary_arn(environment)}
                },
            },
            {
                "Sid": "OwnRoles",
                "Effect": "Allow",
                "Action": [
                    "iam:GetRole",
                    "iam:GetRolePolicy",
                    "iam:ListRolePolicies",
                    "iam:ListAttachedRolePolicies",
                    "iam:ListInstanceProfilesForRole",
                    "iam:ListRoleTags",
                    "iam:TagRole",
                    "iam:UntagRole",
                    "iam:UpdateRole",
                    "iam:UpdateRoleDescription",
                    "iam:DeleteRolePolicy",
                    "iam:DetachRolePolicy",
                    "iam:DeleteRole",
                ],
                "Resource": account.iam(f"role/{prefix}-*"),
            },
            {
                "Sid": "OnlyAwsManagedPoliciesAttached",
                "Effect": "Deny",
                "Action": "iam:AttachRolePolicy",
                "Resource": "*",
                "Condition": {
                    "ArnNotLike": {"iam:PolicyARN": f"arn:{account.partition}:iam::aws:policy/*"}
                },
            },
            {
                "Sid": "NeverLoosenABoundary",
                "Effect": "Deny",
                "Action": "iam:DeleteRolePermissionsBoundary",
                "Resource": "*",
            },
            {
                "Sid": "NeverChangeTheBoundaries",
                "Effect": "Deny",
                "Action": "iam:*",
                "Resource": account.boundary_pattern,
            },
            {
                # The Session Manager bastion: its instance profile, its session
                # documents, and the public parameter naming the latest AMI.
                "Sid": "OwnBastion",
                "Effect": "Allow",
                "Action": [
                    "iam:CreateInstanceProfile",
                    "iam:DeleteInstanceProfile",
                    "iam:AddRoleToInstanceProfile",
                    "iam:RemoveRoleFromInstanceProfile",
                    "iam:TagInstanceProfile",
                    "iam:UntagInstanceProfile",
                    "ssm:CreateDocument",
                    "ssm:UpdateDocument",
                    "ssm:UpdateDocumentDefaultVersion",
                    "ssm:DeleteDocument",
                    "ssm:DescribeDocument",
                    "ssm:DescribeDocumentPermission",
                    "ssm:GetDocument",
                    "ssm:ListDocumentVersions",
                    "ssm:AddTagsToResource",
                    "ssm:RemoveTagsFromResource",
                    "ssm:ListTagsForResource",
                    "ssm:GetParameter",
                ],
                "Resource": [
                    account.iam(f"instance-profile/{prefix}-*"),
                    account.arn("ssm", f"document/{prefix}-*"),
                    f"arn:{account.partition}:ssm:{account.region}::parameter"
                    "/aws/service/ami-amazon-linux-latest/*",
                ],
            },
            {
                "Sid": "ClusterIdentityProvider",
                "Effect": "Allow",
                "Action": [
                    "iam:CreateOpenIDConnectProvider",
                    "iam:DeleteOpenIDConnectProvider",
                    "iam:GetOpenIDConnectProvider",
                    "iam:TagOpenIDConnectProvider",
                    "iam:UntagOpenIDConnectProvider",
                    "iam:UpdateOpenIDConnectProviderThumbprint",
                    "iam:AddClientIDToOpenIDConnectProvider",
                    "iam:RemoveClientIDFromOpenIDConnectProvider",
                ],
                "Resource": account.iam(
                    f"oidc-provider/oidc.eks.{account.region}.amazonaws.com/id/*"
                ),
            },
            {
                "Sid": "PassOwnRolesToTheirServices",
                "Effect": "Allow",
                "Action": "iam:PassRole",
                "Resource": account.iam(f"role/{prefix}-*"),
                "Condition": {"StringEquals": {"iam:PassedToService": list(PASSED_TO_SERVICES)}},
            },
            {
                "Sid": "ServiceLinkedRoles",
                "Effect": "Allow",
                "Action": "iam:CreateServiceLinkedRole",
                "Resource": account.iam("role/aws-service-role/*"),
                "Condition": {"StringEquals": {"iam:AWSServiceName": list(SERVICE_LINKED)}},
            },
            {
                "Sid": "ReadIam",
                "Effect": "Allow",
                "Action": ["iam:Get*", "iam:List*"],
                "Resource": "*",
            },
            *_state_statements(account, writable=environment, readable=()),
            *_trail_kept(account, prefix),
            {
                "Sid": "OwnSecretsProvider",
                "Effect": "Allow",
                "Action": ["kms:Encrypt", "kms:Decrypt"],
                "Resource": account.secrets_key_arns[environment],
            },
            *_bootstrap_keys_only_used(account, environment),
            *_other_environments_denied([environment]),
        ]
    )


def _trail_kept(account: Account, prefix: str) -> list[dict[str, Any]]:
    """The audit trail is created by `pulumi up`, then never silenced, narrowed or erased.

    The deploy role makes the trail (stagecraft:cloudTrail) and its bucket,
    but may not stop, narrow (event selectors, settings) or delete the
    trail, nor change what keeps its files (bucket policy, versioning,
    lifecycle) or delete them: the record of what the deploy role itself
    did must outlive a compromised pipeline. Changing them is an
    administrator's `pulumi up` (README 'Monitoring, alerting and the audit
    trail').
    """
    trail_bucket = f"arn:{account.partition}:s3:::{prefix}-cloudtrail-{account.account_id}"
    return [
        {
            "Sid": "NeverSilenceTheTrail",
            "Effect": "Deny",
            "Action": [
                "cloudtrail:StopLogging",
                "cloudtrail:DeleteTrail",
                "cloudtrail:UpdateTrail",
                "cloudtrail:PutEventSelectors",
                "cloudtrail:PutInsightSelectors",
            ],
            "Resource": account.arn("cloudtrail", f"trail/{prefix}-*"),
        },
        {
            "Sid": "NeverEraseTheTrailsFiles",
            "Effect": "Deny",
            "Action": [
                "s3:DeleteObject",
                "s3:DeleteObjectVersion",
                "s3:PutObject",
                "s3:DeleteBucket",
                "s3:DeleteBucketPolicy",
                "s3:PutBucketPolicy",
                "s3:PutBucketVersioning",
                "s3:PutLifecycleConfiguration",
            ],
            "Resource": [trail_bucket, f"{trail_bucket}/*"],
            # So the bucket's first settings too: production's first `pulumi
            # up` is an administrator's anyway (README 'Deploy for real', step 9).
        },
    ]


def _bootstrap_keys_only_used(account: Account, environment: str) -> list[dict[str, Any]]:
    """The bootstrap's keys carry no `environment` tag (they serve all): `kms:*` on `*`
    must not reach them. Used, never administered; another environment's, not even used."""
    others = [arn for env, arn in account.secrets_key_arns.items() if env != environment]
    statements: list[dict[str, Any]] = [
        {
            "Sid": "BootstrapKeysAreOnlyUsed",
            "Effect": "Deny",
            "NotAction": ["kms:Encrypt", "kms:Decrypt", "kms:GenerateDataKey", "kms:DescribeKey"],
            "Resource": [account.state_key_arn, *account.secrets_key_arns.values()],
        }
    ]
    if others:
        statements.append(
            {
                "Sid": "NeverAnotherEnvironmentsSecretsProvider",
                "Effect": "Deny",
                "Action": "kms:*",
                "Resource": others,
            }
        )
    return statements


def preview_policy(
    account: Account, stacks: Sequence[str], *, deny_production: bool = True
) -> dict[str, Any]:
    """`pulumi preview` of ``stacks``: from a pull request (never production), or
    (``deny_production`` False) the reviewed plan of one environment before its deploy."""
    return _document(
        [
            {
                "Sid": "ReadWhatAPlanReads",
                "Effect": "Allow",
                "Action": list(PREVIEW_READ_ACTIONS),
                "Resource": "*",
            },
            {
                # The bastion's image: AWS's public parameter, never one of the account's.
                "Sid": "ReadTheLatestImage",
                "Effect": "Allow",
                "Action": "ssm:GetParameter",
                "Resource": (
                    f"arn:{account.partition}:ssm:{account.region}::parameter"
                    "/aws/service/ami-amazon-linux-latest/*"
                ),
            },
            {
                "Sid": "ListTheStateBucket",
                "Effect": "Allow",
                "Action": ["s3:ListBucket", "s3:GetBucketLocation"],
                "Resource": account.bucket_arn,
            },
            {
                "Sid": "ReadPreviewedState",
                "Effect": "Allow",
                "Action": "s3:GetObject",
                "Resource": [
                    account.state_meta,
                    *(arn for stack in stacks for arn in account.state_objects(stack)),
                ],
            },
            {
                "Sid": "DecryptPreviewedState",
                "Effect": "Allow",
                "Action": "kms:Decrypt",
                "Resource": [
                    account.state_key_arn,
                    *(account.secrets_key_arns[stack] for stack in stacks),
                ],
            },
            {
                "Sid": "NeverASecretsValue",
                "Effect": "Deny",
                "Action": ["secretsmanager:GetSecretValue", "logs:GetLogEvents"],
                "Resource": "*",
            },
            *(_production_denied(account) if deny_production else []),
        ]
    )


# What `stagecraft verify` reads (describe/list/get, nothing else): the drift
# check's role, and the least-privilege policy the README gives auditors.
DRIFT_READ_ACTIONS = (
    "rds:DescribeDBInstances",
    "rds:DescribeDBParameters",
    "rds:ListTagsForResource",
    "elasticache:DescribeReplicationGroups",
    "elasticache:ListTagsForResource",
    "eks:DescribeCluster",
    "eks:ListNodegroups",
    "eks:DescribeNodegroup",
    "ec2:DescribeVpcs",
    "ec2:DescribeSecurityGroups",
    "ec2:DescribeSecurityGroupRules",
    "kms:DescribeKey",
    "kms:GetKeyRotationStatus",
    "kms:ListResourceTags",
    "secretsmanager:DescribeSecret",
    "logs:DescribeLogGroups",
    "logs:ListTagsForResource",
    "route53:ListHostedZonesByName",
    "route53:ListTagsForResource",
    "acm:ListCertificates",
    "acm:DescribeCertificate",
    "cloudwatch:DescribeAlarms",
    "cloudtrail:DescribeTrails",
    "cloudtrail:GetTrailStatus",
    "cloudtrail:GetEventSelectors",
    "budgets:ViewBudget",
    "scheduler:GetSchedule",
    "scheduler:ListSchedules",
    "s3:GetBucketLocation",
    "s3:GetBucketPublicAccessBlock",
    "tag:GetResources",
)


def drift_policy() -> dict[str, Any]:
    """`stagecraft verify`: read the environments' configuration, never a secret's value."""
    return _document(
        [
            {
                "Sid": "ReadWhatVerifyCompares",
                "Effect": "Allow",
                "Action": list(DRIFT_READ_ACTIONS),
                # Describe and List calls of these services take no resource ARN.
                "Resource": "*",
            },
            {
                "Sid": "NeverASecretsValue",
                "Effect": "Deny",
                "Action": ["secretsmanager:GetSecretValue", "kms:Decrypt", "logs:GetLogEvents"],
                "Resource": "*",
            },
        ]
    )


def plan_policy(account: Account, environment: str) -> dict[str, Any]:
    """The plan an environment's reviewers approve (deploy-production.yml's preview job):
    read-only, that environment's state and secrets provider only."""
    return preview_policy(account, [environment], deny_production=False)


def _production_denied(account: Account) -> list[dict[str, Any]]:
    """Defence in depth for the roles a pull request's code runs with."""
    statements: list[dict[str, Any]] = [
        {
            "Sid": "NeverProductionState",
            "Effect": "Deny",
            "Action": "s3:*",
            "Resource": account.state_objects("production"),
        },
        {
            "Sid": "NeverProductionResources",
            "Effect": "Deny",
            "Action": "*",
            "Resource": "*",
            "Condition": {"StringEquals": {"aws:ResourceTag/environment": "production"}},
        },
    ]
    if "production" in account.secrets_key_arns:
        statements.append(
            {
                "Sid": "NeverProductionSecrets",
                "Effect": "Deny",
                "Action": "kms:*",
                "Resource": account.secrets_key_arns["production"],
            }
        )
    return statements


# The shared stack of pr-<n> stacks; kept here so the documents read alone.
PREVIEW_PARENT = "staging"


def preview_environment_policy(account: Account) -> dict[str, Any]:
    """`pulumi up`/`destroy` of pr-<n> stacks: their own resources, little else.

    What it must use of staging's, and why (nothing there can be scoped
    tighter): staging's KMS key, through Secrets Manager and RDS only (the
    preview's secrets and own database are encrypted under it); staging's
    Redis user group (the preview's Redis user joins it; ModifyUserGroup
    also names the user, which must be a preview's); staging's state, read
    (the StackReference) and its secrets-provider key (the pr-<n> stacks'
    own secrets provider, and what reading staging's state needs).
    """
    pr = account.prefix("pr-")
    staging = account.prefix(PREVIEW_PARENT)
    via_services = [
        f"secretsmanager.{account.region}.amazonaws.com",
        f"rds.{account.region}.amazonaws.com",
    ]
    return _document(
        [
            *_state_statements(account, writable="pr-*", readable=[PREVIEW_PARENT]),
            {
                "Sid": "PreviewSecretsProvider",
                "Effect": "Allow",
                "Action": ["kms:Encrypt", "kms:Decrypt"],
                "Resource": account.secrets_key_arns[PREVIEW_PARENT],
            },
            {
                "Sid": "OwnSecrets",
                "Effect": "Allow",
                "Action": "secretsmanager:*",
                "Resource": account.arn("secretsmanager", f"secret:{pr}*"),
            },
            {
                "Sid": "StagingKeyThroughSecretsManagerAndRds",
                "Effect": "Allow",
                "Action": [
                    "kms:Decrypt",
                    "kms:Encrypt",
                    "kms:GenerateDataKey*",
                    "kms:ReEncrypt*",
                    "kms:DescribeKey",
                ],
                "Resource": account.arn("kms", "key/*"),
                "Condition": {
                    "StringEquals": {
                        "kms:ViaService": via_services,
                        "aws:ResourceTag/environment": PREVIEW_PARENT,
                    }
                },
            },
            {
                "Sid": "StagingKeyGrantsForRds",
                "Effect": "Allow",
                "Action": "kms:CreateGrant",
                "Resource": account.arn("kms", "key/*"),
                "Condition": {
                    "StringEquals": {
                        "kms:ViaService": via_services,
                        "aws:ResourceTag/environment": PREVIEW_PARENT,
                    },
                    "Bool": {"kms:GrantIsForAWSResource": "true"},
                },
            },
            {
                "Sid": "OwnDatabase",
                "Effect": "Allow",
                "Action": "rds:*",
                "Resource": [
                    account.arn("rds", f"db:{pr}*"),
                    account.arn("rds", f"subgrp:{pr}*"),
                    account.arn("rds", f"pg:{pr}*"),
                    account.arn("rds", f"snapshot:{pr}*"),
                ],
            },
            {
                "Sid": "DefaultOptionGroupForNewDatabases",
                "Effect": "Allow",
                "Action": "rds:CreateDBInstance",
                "Resource": account.arn("rds", "og:default:*"),
            },
            {
                "Sid": "OwnSecurityGroupsCreated",
                "Effect": "Allow",
                "Action": "ec2:CreateSecurityGroup",
                "Resource": account.arn("ec2", "security-group/*"),
                "Condition": {"StringLike": {"aws:RequestTag/environment": "pr-*"}},
            },
            {
                "Sid": "SecurityGroupsInAnyVpc",
                "Effect": "Allow",
                "Action": "ec2:CreateSecurityGroup",
                "Resource": account.arn("ec2", "vpc/*"),
            },
            {
                "Sid": "OwnSecurityGroupsChanged",
                "Effect": "Allow",
                "Action": [
                    "ec2:AuthorizeSecurityGroupIngress",
                    "ec2:AuthorizeSecurityGroupEgress",
                    "ec2:RevokeSecurityGroupIngress",
                    "ec2:RevokeSecurityGroupEgress",
                    "ec2:ModifySecurityGroupRules",
                    "ec2:UpdateSecurityGroupRuleDescriptionsIngress",
                    "ec2:UpdateSecurityGroupRuleDescriptionsEgress",
                    "ec2:DeleteSecurityGroup",
                ],
                "Resource": account.arn("ec2", "security-group/*"),
                "Condition": {"StringLike": {"aws:ResourceTag/environment": "pr-*"}},
            },
            {
                "Sid": "RulesOfOwnSecurityGroups",
                "Effect": "Allow",
                "Action": [
                    "ec2:AuthorizeSecurityGroupIngress",
                    "ec2:AuthorizeSecurityGroupEgress",
                    "ec2:ModifySecurityGroupRules",
                ],
                "Resource": account.arn("ec2", "security-group-rule/*"),
            },
            {
                "Sid": "TagsAtCreation",
                "Effect": "Allow",
                "Action": "ec2:CreateTags",
                "Resource": [
                    account.arn("ec2", "security-group/*"),
                    account.arn("ec2", "security-group-rule/*"),
                ],
                "Condition": {
                    "StringEquals": {
                        "ec2:CreateAction": [
                            "CreateSecurityGroup",
                            "AuthorizeSecurityGroupIngress",
                            "AuthorizeSecurityGroupEgress",
                        ]
                    }
                },
            },
            {
                # Every push rewrites the stack file's TTL tags: its groups and
                # rules are re-tagged in place (no ec2:CreateAction then).
                "Sid": "RetagOwnSecurityGroups",
                "Effect": "Allow",
                "Action": ["ec2:CreateTags", "ec2:DeleteTags"],
                "Resource": [
                    account.arn("ec2", "security-group/*"),
                    account.arn("ec2", "security-group-rule/*"),
                ],
                "Condition": {"StringLike": {"aws:ResourceTag/environment": "pr-*"}},
            },
            {
                "Sid": "OwnLogGroups",
                "Effect": "Allow",
                "Action": "logs:*",
                "Resource": account.arn("logs", f"log-group:/aws/rds/instance/{pr}*"),
            },
            {
                "Sid": "OwnRedisUsers",
                "Effect": "Allow",
                "Action": [
                    "elasticache:CreateUser",
                    "elasticache:DeleteUser",
                    "elasticache:ModifyUser",
                    "elasticache:AddTagsToResource",
                    "elasticache:RemoveTagsFromResource",
                    "elasticache:ListTagsForResource",
                ],
                "Resource": account.arn("elasticache", f"user:{pr}*"),
            },
            {
                "Sid": "JoinTheStagingRedisUserGroup",
                "Effect": "Allow",
                "Action": "elasticache:ModifyUserGroup",
                "Resource": [
                    account.arn("elasticache", f"usergroup:{staging}"),
                    account.arn("elasticache", f"user:{pr}*"),
                ],
            },
            {
                "Sid": "ReadWhatAPlanReads",
                "Effect": "Allow",
                "Action": [
                    "ec2:Describe*",
                    "rds:Describe*",
                    "rds:ListTagsForResource",
                    "elasticache:Describe*",
                    "logs:DescribeLogGroups",
                    "secretsmanager:ListSecrets",
                    "eks:DescribeCluster",
                ],
                "Resource": "*",
            },
            {
                "Sid": "NeverStagingsOwnSecrets",
                "Effect": "Deny",
                "Action": "secretsmanager:*",
                "Resource": account.arn("secretsmanager", f"secret:{staging}/*"),
            },
            {
                "Sid": "NeverStagingsOwnRedisUsers",
                "Effect": "Deny",
                "Action": "elasticache:*",
                "Resource": account.arn("elasticache", f"user:{staging}-*"),
            },
            {
                # Roles it made would outlive it, with any trust: it makes none
                # (the small stacks' database Jobs use a role staging owns).
                "Sid": "NoIam",
                "Effect": "Deny",
                "Action": "iam:*",
                "Resource": "*",
            },
            *_other_environments_denied([PREVIEW_PARENT, "pr-*"]),
            *_production_denied(account),
        ]
    )


# What an environment's own roles (cluster, nodes, flow logs, monitoring,
# ServiceAccount roles of its add-ons and Jobs) may ever be granted, by
# service: AWS-managed policies attached to them are cut to this too.
BOUNDARY_SERVICES = (
    "ec2", "eks", "eks-auth", "elasticloadbalancing", "autoscaling", "ecr", "logs",
    "cloudwatch", "kms", "secretsmanager", "s3", "route53", "acm", "sns", "sqs", "events",
    "ssm", "wafv2", "shield", "xray", "tag", "rds", "elasticache",
    # IAM database authentication (`rds-db:connect`) is a service prefix of its own.
    "rds-db",
    # Session Manager: the bastion's agent (AmazonSSMManagedInstanceCore) and
    # people's session data channels use these two prefixes beside `ssm`.
    "ssmmessages", "ec2messages",
    # AWS Backup's service role (backup, copy, test restores of the database).
    "backup", "backup-storage",
    # What the load balancer controller's published policy names beside those
    # (Cognito and WAF Classic for the ALB features an Ingress may ask for).
    "cognito-idp", "waf-regional",
)  # fmt: skip


def environment_boundary(
    account: Account, environment: str, *, imports_dumps_of: str | None = None
) -> dict[str, Any]:
    """The permissions boundary of an environment's roles: everything its services need,
    nothing of IAM (but the service-linked roles they create), of another environment,
    of the bootstrap's keys or of the state."""
    return _document(
        [
            {
                # Justified in policy/config/bootstrap.json: a ceiling, not a grant.
                "Sid": "EnvironmentServices",
                "Effect": "Allow",
                "Action": [f"{service}:*" for service in BOUNDARY_SERVICES],
                "Resource": "*",
            },
            {
                "Sid": "ServiceLinkedRoles",
                "Effect": "Allow",
                "Action": "iam:CreateServiceLinkedRole",
                "Resource": account.iam("role/aws-service-role/*"),
            },
            {
                "Sid": "NeverTheBootstrapsKeys",
                "Effect": "Deny",
                "Action": "kms:*",
                "Resource": [account.state_key_arn, *account.secrets_key_arns.values()],
            },
            {
                "Sid": "NeverTheState",
                "Effect": "Deny",
                "Action": "s3:*",
                "Resource": [account.bucket_arn, f"{account.bucket_arn}/*"],
            },
            *_other_environments_denied(
                [environment],
                # The one exporter's dumps bucket (bucket-key context: the
                # bucket's ARN; without a bucket key: an object's).
                decrypt_dumps_of=[
                    f"arn:{account.partition}:s3:::{account.project}-{imports_dumps_of}"
                    f"-data-sync-{account.account_id}",
                    f"arn:{account.partition}:s3:::{account.project}-{imports_dumps_of}"
                    f"-data-sync-{account.account_id}/*",
                ]
                if imports_dumps_of
                else (),
            ),
        ]
    )


def key_policy(account: Account) -> dict[str, Any]:
    """The account decides through IAM who uses the key (the policies above)."""
    return _document(
        [
            {
                "Sid": "EnableIamPolicies",
                "Effect": "Allow",
                "Principal": {"AWS": account.iam("root")},
                "Action": "kms:*",
                "Resource": "*",
            }
        ]
    )


def tls_only_bucket_policy(bucket_arn: str, extra: Sequence[dict[str, Any]] = ()) -> dict[str, Any]:
    """Refuse every request not made over TLS (Security Hub S3.5)."""
    return _document(
        [
            {
                "Sid": "DenyWithoutTls",
                "Effect": "Deny",
                "Principal": "*",
                "Action": "s3:*",
                "Resource": [bucket_arn, f"{bucket_arn}/*"],
                "Condition": {"Bool": {"aws:SecureTransport": "false"}},
            },
            *extra,
        ]
    )


def denies_plain_http(statements: Iterable[Mapping[str, Any]]) -> bool:
    """Whether a bucket policy's ``statements`` refuse requests without TLS (S3.5)."""
    return any(
        st.get("Effect") == "Deny"
        and ((st.get("Condition") or {}).get("Bool") or {}).get("aws:SecureTransport") == "false"
        for st in statements
    )


def access_log_delivery(
    log_bucket_arn: str, source_bucket_arn: str, account_id: str
) -> dict[str, Any]:
    """S3 server access logging may write into the log bucket, for the state bucket only.

    https://docs.aws.amazon.com/AmazonS3/latest/userguide/enable-server-access-logging.html
    """
    return {
        "Sid": "S3ServerAccessLogDelivery",
        "Effect": "Allow",
        "Principal": {"Service": "logging.s3.amazonaws.com"},
        "Action": "s3:PutObject",
        "Resource": f"{log_bucket_arn}/*",
        "Condition": {
            "ArnLike": {"aws:SourceArn": source_bucket_arn},
            "StringEquals": {"aws:SourceAccount": account_id},
        },
    }
