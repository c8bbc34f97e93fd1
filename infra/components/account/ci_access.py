"""CiAccess: GitHub Actions as an identity in the account, the roles its jobs assume,
and the permissions boundary of each environment's own roles.

Each role trusts exactly one kind of job of one repository (the token's
`sub`), for STS (its `aud`): pull requests (preview), the
`preview-environments` GitHub environment (pr-<n> stacks), and one GitHub
environment per deployed stack. No access keys exist anywhere.
The documents themselves are in policies.py.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import pulumi
import pulumi_aws as aws

from infra.components._common import child, type_token
from infra.components.account.access import role_name
from infra.components.account.policies import (
    GITHUB_OIDC_HOST,
    GITHUB_OIDC_URL,
    STS_AUDIENCE,
    Account,
    GitHubRepository,
    deploy_policy,
    drift_policy,
    environment_boundary,
    github_trust_policy,
    plan_policy,
    preview_environment_policy,
    preview_policy,
)
from infra.config import environment_boundary_name

# Four hours: a first production `pulumi up` (EKS, a Multi-AZ database and
# then its replica, the cache) can outrun one; the workflows ask for this.
SESSION_SECONDS = 4 * 3600
AUTOSCALING_SERVICE = "autoscaling.amazonaws.com"


@dataclass(frozen=True)
class CiAccessArgs:
    project: str
    repository: GitHubRepository
    create_oidc_provider: bool
    deploy_environments: Sequence[str]
    plan_environments: Sequence[str]
    preview_stacks: Sequence[str]
    previews: bool  # pr-<n> stacks run here (staging is in this account)
    preview_environments_github_environment: str
    # The environments whose roles get a permissions boundary (every one here).
    environments: Sequence[str]
    # The account, bucket and keys (see Account).
    account: pulumi.Output[Account]
    # The ARN of the Auto Scaling service-linked role where the account has it
    # already (any Auto Scaling group ever made creates it): adopted, not made.
    autoscaling_role_arn: str | None
    # The GitHub environment of the scheduled drift check; None: no drift role.
    drift_github_environment: str | None = None
    # Importing environment -> exporting one (the anonymised data sync).
    data_sync_imports: Mapping[str, str] = field(default_factory=dict)


class CiAccess(pulumi.ComponentResource):
    """The OIDC provider, the CI roles, the environment boundaries and the service-linked role."""

    preview_role: aws.iam.Role
    preview_environment_role: aws.iam.Role | None
    deploy_roles: dict[str, aws.iam.Role]
    plan_roles: dict[str, aws.iam.Role]
    drift_role: aws.iam.Role | None
    boundaries: dict[str, aws.iam.Policy]

    roles_by_name: dict[str, aws.iam.Role]

    def __init__(
        self, name: str, args: CiAccessArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__(type_token("CiAccess"), name, None, opts)
        self.roles_by_name = {}
        account = args.account

        if args.create_oidc_provider:
            provider_arn: pulumi.Output[str] = aws.iam.OpenIdConnectProvider(
                f"{name}-github",
                url=GITHUB_OIDC_URL,
                client_id_lists=[STS_AUDIENCE],
                # AWS verifies GitHub's certificate against its own trusted
                # CAs; a thumbprint here would be kept but never used.
                opts=child(self, protect=True),
            ).arn
        else:
            provider_arn = aws.iam.get_open_id_connect_provider_output(
                url=GITHUB_OIDC_URL, opts=pulumi.InvokeOutputOptions(parent=self)
            ).arn

        # The KMS keys name the Auto Scaling service-linked role (encrypted
        # node volumes); a key policy naming a role that does not exist is
        # refused, so the role has to exist before the first environment.
        def boundary_document(environment: str) -> pulumi.Output[str]:
            return account.apply(
                lambda a: json.dumps(
                    environment_boundary(
                        a, environment, imports_dumps_of=args.data_sync_imports.get(environment)
                    )
                )
            )

        # Always declared (a resource that comes and goes with a lookup would be
        # deleted by the next run), adopted where it exists, and never deleted
        # with the bootstrap: Auto Scaling groups outside stagecraft use it.
        aws.iam.ServiceLinkedRole(
            f"{name}-autoscaling-service-role",
            aws_service_name=AUTOSCALING_SERVICE,
            opts=child(self, import_=args.autoscaling_role_arn, retain_on_delete=True),
        )

        self.boundaries = {
            environment: aws.iam.Policy(
                f"{name}-{environment}-boundary",
                name=environment_boundary_name(args.project, environment),
                description=f"The most any IAM role of the {environment} environment may do",
                policy=boundary_document(environment),
                opts=child(self),
            )
            for environment in args.environments
        }

        def role(
            physical_name: str, subject: str, description: str, document: pulumi.Output[str]
        ) -> aws.iam.Role:
            short = physical_name.removeprefix(args.project + "-")
            created = aws.iam.Role(
                f"{name}-{short}",
                name=physical_name,
                description=description,
                max_session_duration=SESSION_SECONDS,
                assume_role_policy=provider_arn.apply(
                    lambda arn: json.dumps(github_trust_policy(arn, subject))
                ),
                opts=child(self),
            )
            aws.iam.RolePolicy(
                f"{name}-{short}-permissions",
                role=created.id,
                name="permissions",
                policy=document,
                opts=child(self),
            )
            self.roles_by_name[physical_name] = created
            return created

        repository = args.repository
        self.preview_role = role(
            role_name(args.project, "preview"),
            repository.subject("pull_request"),
            f"pulumi preview of {', '.join(args.preview_stacks)} from pull requests of "
            f"{repository.owner}/{repository.name}",
            account.apply(lambda a: json.dumps(preview_policy(a, list(args.preview_stacks)))),
        )
        self.preview_environment_role = None
        if args.previews:
            self.preview_environment_role = role(
                role_name(args.project, "preview-environments"),
                repository.subject(f"environment:{args.preview_environments_github_environment}"),
                "pulumi up/destroy of pr-<n> stacks on the staging cluster",
                account.apply(lambda a: json.dumps(preview_environment_policy(a))),
            )

        def deploy_document(environment: str) -> pulumi.Output[str]:
            return account.apply(lambda a: json.dumps(deploy_policy(a, environment)))

        self.deploy_roles = {
            environment: role(
                role_name(args.project, "deploy", environment),
                repository.subject(f"environment:{environment}"),
                f"pulumi up --stack {environment}, from its GitHub environment",
                deploy_document(environment),
            )
            for environment in args.deploy_environments
        }

        def plan_document(environment: str) -> pulumi.Output[str]:
            return account.apply(lambda a: json.dumps(plan_policy(a, environment)))

        # The plan reviewers approve is made before the approval, by a job of
        # the `<environment>-plan` GitHub environment: read-only, so nothing
        # unapproved can change the environment.
        self.plan_roles = {
            environment: role(
                role_name(args.project, "plan", environment),
                repository.subject(f"environment:{environment}-plan"),
                f"pulumi preview --stack {environment} --save-plan, before its approval",
                plan_document(environment),
            )
            for environment in args.plan_environments
        }
        # The scheduled `stagecraft verify`: reads configuration, changes nothing.
        self.drift_role = None
        if args.drift_github_environment:
            self.drift_role = role(
                role_name(args.project, "drift"),
                repository.subject(f"environment:{args.drift_github_environment}"),
                "stagecraft verify: the live account against the stack files, read-only",
                pulumi.Output.from_input(json.dumps(drift_policy())),
            )
        self.register_outputs(
            {
                "githubOidcProvider": GITHUB_OIDC_HOST,
                "previewRoleArn": self.preview_role.arn,
                "deployRoleArns": {e: r.arn for e, r in self.deploy_roles.items()},
            }
        )
