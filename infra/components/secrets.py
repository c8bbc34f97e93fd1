"""Secrets: the environment's KMS key and the generated application secrets.

Nothing here is ever typed into config: every secret value comes from
pulumi-random, is a Pulumi secret from birth, and lands in Secrets Manager
encrypted with the environment's own KMS key.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

import pulumi
import pulumi_aws as aws
import pulumi_random as random

from infra.components._common import child, type_token

# Protected environments keep a deleted secret recoverable for the longest
# window Secrets Manager allows.  Others delete at once (window 0): they are
# destroyed and re-created under the same names, and a secret pending deletion
# would block the re-created one; their secrets are generated anyway.
PROTECTED_RECOVERY_WINDOW_DAYS = 30


def recovery_window_days(protect: bool) -> int:
    return PROTECTED_RECOVERY_WINDOW_DAYS if protect else 0


# KMS keeps a deleted key recoverable for this long; 30 is the maximum and costs
# nothing extra, and a key deleted by mistake takes every backup with it.
KEY_DELETION_WINDOW_DAYS = 30

# Long enough for HS256 (RFC 7518 §3.2 wants >= 256 bits) with margin.
JWT_SECRET_LENGTH = 64

# ElastiCache user passwords: 16-128 printable characters, no '/', '"' or '@'.
# Alphanumeric only, so the password is safe in URLs and shell variables.
REDIS_PASSWORD_LENGTH = 48


def store_secret(
    owner: pulumi.Resource,
    resource_name: str,
    *,
    secret_name: str,
    description: str,
    value: pulumi.Input[str],
    kms_key_arn: pulumi.Input[str],
    protect: bool,
    opts: pulumi.ResourceOptions | None = None,
) -> aws.secretsmanager.Secret:
    """A Secrets Manager secret under the environment's key, and its (secret) value."""
    options = opts or child(owner)
    secret = aws.secretsmanager.Secret(
        resource_name,
        name=secret_name,
        description=description,
        kms_key_id=kms_key_arn,
        recovery_window_in_days=recovery_window_days(protect),
        opts=options,
    )
    secret_value: pulumi.Output[str] = pulumi.Output.secret(value)
    aws.secretsmanager.SecretVersion(
        f"{resource_name}-value", secret_id=secret.id, secret_string=secret_value, opts=options
    )
    return secret


@dataclass(frozen=True)
class SecretsArgs:
    resource_prefix: str  # e.g. "stagecraft-staging"; secret names start with it
    region: str
    protect: bool
    # The account's CloudTrail trail, when this environment owns it: it
    # encrypts its log files with this key.
    trail_arn: str | None = None


class Secrets(pulumi.ComponentResource):
    """KMS key, JWT/session secret and the Redis application user's password."""

    kms_key: aws.kms.Key
    redis_password: pulumi.Output[str]
    redis_password_secret_arn: pulumi.Output[str]
    jwt_secret_arn: pulumi.Output[str]

    def __init__(
        self, name: str, args: SecretsArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__(type_token("Secrets"), name, None, opts)

        identity = aws.get_caller_identity_output(opts=pulumi.InvokeOutputOptions(parent=self))
        partition = aws.get_partition_output(opts=pulumi.InvokeOutputOptions(parent=self))

        self.kms_key = aws.kms.Key(
            f"{name}-key",
            description=f"Encrypts everything {args.resource_prefix} stores: EBS, RDS, "
            "ElastiCache, EKS secrets, Secrets Manager, CloudWatch Logs",
            enable_key_rotation=True,
            deletion_window_in_days=KEY_DELETION_WINDOW_DAYS,
            policy=pulumi.Output.all(partition.partition, identity.account_id).apply(
                lambda parts: _key_policy(parts[0], parts[1], args.region, args.trail_arn)
            ),
            opts=child(self, protect=args.protect),
        )
        aws.kms.Alias(
            f"{name}-key-alias",
            name=f"alias/{args.resource_prefix}",
            target_key_id=self.kms_key.key_id,
            opts=child(self),
        )

        jwt = random.RandomPassword(
            f"{name}-jwt-secret", length=JWT_SECRET_LENGTH, special=False, opts=child(self)
        )
        redis_password = random.RandomPassword(
            f"{name}-redis-password",
            length=REDIS_PASSWORD_LENGTH,
            special=False,
            opts=child(self),
        )
        self.jwt_secret_arn = self._store(
            name, "jwt-secret", args, jwt.result, "JWT and session signing secret"
        )
        self.redis_password_secret_arn = self._store(
            name, "redis-password", args, redis_password.result, "Redis application user password"
        )
        self.redis_password = pulumi.Output.secret(redis_password.result)

        self.register_outputs(
            {
                "kmsKeyArn": self.kms_key.arn,
                "jwtSecretArn": self.jwt_secret_arn,
                "redisPasswordSecretArn": self.redis_password_secret_arn,
            }
        )

    def _store(
        self,
        name: str,
        purpose: str,
        args: SecretsArgs,
        value: pulumi.Input[str],
        description: str,
    ) -> pulumi.Output[str]:
        return store_secret(
            self,
            f"{name}-{purpose}",
            secret_name=f"{args.resource_prefix}/{purpose}",
            description=f"{description} of {args.resource_prefix} (generated, never typed)",
            value=value,
            kms_key_arn=self.kms_key.arn,
            protect=args.protect,
        ).arn


@dataclass(frozen=True)
class ConnectionInfoArgs:
    resource_prefix: str
    kms_key_arn: pulumi.Input[str]
    database_address: pulumi.Input[str]
    database_port: pulumi.Input[int]
    database_name: str
    database_username: str
    database_master_secret_arn: pulumi.Input[str]
    redis_address: pulumi.Input[str]
    redis_port: pulumi.Input[int]
    redis_username: str
    redis_password_secret_arn: pulumi.Input[str]
    jwt_secret_arn: pulumi.Input[str]
    protect: bool


class ConnectionInfo(pulumi.ComponentResource):
    """The Secrets Manager document applications read to find their data stores.

    It holds addresses and the ARNs of the secrets (the `database-master`
    secret, the Redis user's password), never a password, so access to the
    password stays governed by the secret that owns it.  It is a component of
    its own because it can only exist once the database and cache do, while
    the key and generated secrets of :class:`Secrets` must exist before them.
    """

    secret_arn: pulumi.Output[str]

    def __init__(
        self, name: str, args: ConnectionInfoArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__(type_token("ConnectionInfo"), name, None, opts)
        document: pulumi.Output[str] = pulumi.Output.all(
            args.database_address,
            args.database_port,
            args.database_master_secret_arn,
            args.redis_address,
            args.redis_port,
            args.redis_password_secret_arn,
            args.jwt_secret_arn,
        ).apply(
            lambda v: connection_document(
                database_host=v[0],
                database_port=v[1],
                database_name=args.database_name,
                database_username=args.database_username,
                database_master_secret_arn=v[2],
                redis_host=v[3],
                redis_port=v[4],
                redis_username=args.redis_username,
                redis_password_secret_arn=v[5],
                jwt_secret_arn=v[6],
            )
        )
        secret = store_secret(
            self,
            name,
            secret_name=f"{args.resource_prefix}/connection-info",
            description=f"Where {args.resource_prefix}'s database and cache are, and which "
            "secrets hold their credentials",
            value=document,
            kms_key_arn=args.kms_key_arn,
            protect=args.protect,
        )
        self.secret_arn = secret.arn
        self.register_outputs({"secretArn": secret.arn})


def connection_document(
    *,
    database_host: str,
    database_port: int,
    database_name: str,
    database_username: str,
    database_master_secret_arn: str,
    redis_host: str,
    redis_port: int,
    redis_username: str,
    redis_password_secret_arn: str,
    jwt_secret_arn: str,
) -> str:
    """The JSON applications read: addresses, and the ARNs of the credentials."""
    return json.dumps(
        {
            "database": {
                "engine": "postgres",
                "host": database_host,
                "port": database_port,
                "dbname": database_name,
                "username": database_username,
                "masterSecretArn": database_master_secret_arn,
                "sslmode": "verify-full",
            },
            "redis": {
                "host": redis_host,
                "port": redis_port,
                "tls": True,
                "username": redis_username,
                # The secret holding the user's password: access to it is
                # governed there, never copied here.
                "secretArn": redis_password_secret_arn,
            },
            "jwtSecretArn": jwt_secret_arn,
        },
        sort_keys=True,
    )


# The role EC2 Auto Scaling launches a managed node group's instances as; it
# creates their encrypted root volumes, so it must be able to use the key.
AUTOSCALING_SERVICE_ROLE = (
    "role/aws-service-role/autoscaling.amazonaws.com/AWSServiceRoleForAutoScaling"
)


def _key_policy(partition: str, account_id: str, region: str, trail_arn: str | None = None) -> str:
    """Account-administered key that CloudWatch Logs and EC2 Auto Scaling may also use.

    RDS, EKS, ElastiCache and Secrets Manager reach the key through grants
    made on behalf of the calling principals, which the root statement
    already allows.  Two callers act as themselves and need statements:

    - CloudWatch Logs, scoped to this account's log groups:
      https://docs.aws.amazon.com/AmazonCloudWatch/latest/logs/encrypt-log-data-kms.html
    - the Auto Scaling service-linked role, which creates the node group's
      encrypted root volumes (it must exist: `aws iam create-service-linked-role
      --aws-service-name autoscaling.amazonaws.com`, once per account):
      https://docs.aws.amazon.com/autoscaling/ec2/userguide/key-policy-requirements-EBS-encryption.html
    - CloudWatch and AWS Budgets, whose alarms and budget notifications
      publish to the environment's encrypted SNS topic (without this they
      fail silently):
      https://docs.aws.amazon.com/sns/latest/dg/sns-key-management.html#compatibility-with-aws-services
    - CloudTrail, for the account's trail if this environment owns it,
      scoped to that trail:
      https://docs.aws.amazon.com/awscloudtrail/latest/userguide/create-kms-key-policy-for-cloudtrail.html
    """
    autoscaling = f"arn:{partition}:iam::{account_id}:{AUTOSCALING_SERVICE_ROLE}"
    trail_statements: list[dict[str, object]] = []
    if trail_arn is not None:
        trail_statements = [
            {
                "Sid": "CloudTrailEncryptsLogFiles",
                "Effect": "Allow",
                "Principal": {"Service": "cloudtrail.amazonaws.com"},
                "Action": "kms:GenerateDataKey*",
                "Resource": "*",
                "Condition": {
                    "StringEquals": {"aws:SourceArn": trail_arn},
                    "StringLike": {
                        "kms:EncryptionContext:aws:cloudtrail:arn": (
                            f"arn:{partition}:cloudtrail:*:{account_id}:trail/*"
                        )
                    },
                },
            },
            {
                "Sid": "CloudTrailDescribesKey",
                "Effect": "Allow",
                "Principal": {"Service": "cloudtrail.amazonaws.com"},
                "Action": "kms:DescribeKey",
                "Resource": "*",
                "Condition": {"StringEquals": {"aws:SourceArn": trail_arn}},
            },
        ]
    return json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Sid": "AccountAdministersKey",
                    "Effect": "Allow",
                    "Principal": {"AWS": f"arn:{partition}:iam::{account_id}:root"},
                    "Action": "kms:*",
                    "Resource": "*",
                },
                {
                    "Sid": "CloudWatchLogsEncryptsLogGroups",
                    "Effect": "Allow",
                    "Principal": {"Service": f"logs.{region}.amazonaws.com"},
                    "Action": [
                        "kms:Encrypt*",
                        "kms:Decrypt*",
                        "kms:ReEncrypt*",
                        "kms:GenerateDataKey*",
                        "kms:Describe*",
                    ],
                    "Resource": "*",
                    "Condition": {
                        "ArnLike": {
                            "kms:EncryptionContext:aws:logs:arn": (
                                f"arn:{partition}:logs:{region}:{account_id}:log-group:*"
                            )
                        }
                    },
                },
                {
                    "Sid": "AutoScalingEncryptsNodeVolumes",
                    "Effect": "Allow",
                    "Principal": {"AWS": autoscaling},
                    "Action": [
                        "kms:Encrypt",
                        "kms:Decrypt",
                        "kms:ReEncrypt*",
                        "kms:GenerateDataKey*",
                        "kms:DescribeKey",
                    ],
                    "Resource": "*",
                },
                {
                    "Sid": "AutoScalingAttachesNodeVolumes",
                    "Effect": "Allow",
                    "Principal": {"AWS": autoscaling},
                    "Action": "kms:CreateGrant",
                    "Resource": "*",
                    "Condition": {"Bool": {"kms:GrantIsForAWSResource": "true"}},
                },
                {
                    "Sid": "CloudWatchAlarmsPublishToTheTopic",
                    "Effect": "Allow",
                    "Principal": {"Service": "cloudwatch.amazonaws.com"},
                    "Action": ["kms:Decrypt", "kms:GenerateDataKey*"],
                    "Resource": "*",
                    "Condition": {"StringEquals": {"aws:SourceAccount": account_id}},
                },
                {
                    # AWS publishes no condition Budgets is known to send here;
                    # the account is the one it does.
                    "Sid": "BudgetsPublishToTheTopic",
                    "Effect": "Allow",
                    "Principal": {"Service": "budgets.amazonaws.com"},
                    "Action": ["kms:Decrypt", "kms:GenerateDataKey*"],
                    "Resource": "*",
                    "Condition": {"StringEquals": {"aws:SourceAccount": account_id}},
                },
                *trail_statements,
            ],
        },
        indent=2,
    )
