"""Bootstrap: what an AWS account needs before its first environment, as one component.

Run once per account by an administrator (README "Deploy for real"): the
state backend and its keys, GitHub Actions as an identity, the CI roles, the
small-stack permissions boundary and the Auto Scaling service-linked role.
Its outputs are exactly what the workflows' variables and the stack files
need.
"""

from __future__ import annotations

import pulumi
import pulumi_aws as aws

from infra.components._common import child, type_token
from infra.components.account.access import stack_file_access as stack_file_access_of
from infra.components.account.ci_access import AUTOSCALING_SERVICE, CiAccess, CiAccessArgs
from infra.components.account.policies import Account, GitHubRepository
from infra.components.account.state_backend import StateBackend, StateBackendArgs
from infra.components.cost_controls.budget import COST_ALLOCATION_TAG
from infra.config import (
    ACCESS_LOG_BUCKET_SUFFIX,
    ALLOWED_PARENT,
    PREVIEW_ENVIRONMENTS,
    PROJECT_NAME,
    BootstrapStackConfig,
)

# The variables the workflows read (Settings > Secrets and variables > Actions).
BACKEND_VARIABLE = "PULUMI_BACKEND_URL"
REGION_VARIABLE = "AWS_REGION"
PREVIEW_ROLE_VARIABLE = "AWS_PREVIEW_ROLE_ARN"
PREVIEW_ENVIRONMENT_ROLE_VARIABLE = "AWS_PREVIEW_ENVIRONMENT_ROLE_ARN"
DEPLOY_ROLE_VARIABLE = "AWS_DEPLOY_ROLE_ARN"  # per GitHub environment
PLAN_ROLE_VARIABLE = "AWS_PLAN_ROLE_ARN"  # per `<environment>-plan` GitHub environment
SECRETS_PROVIDER_VARIABLE = "PULUMI_SECRETS_PROVIDER"  # of the pr-<n> stacks
DRIFT_ROLE_VARIABLE = "AWS_DRIFT_ROLE_ARN"  # of the `drift-check` GitHub environment
DRIFT_CHECK = "drift-check"


class Bootstrap(pulumi.ComponentResource):
    outputs: dict[str, pulumi.Output[object]]

    def __init__(
        self,
        name: str,
        config: BootstrapStackConfig,
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        super().__init__(type_token("Bootstrap"), name, None, opts)
        spec = config.bootstrap
        provider = aws.Provider(
            f"{name}-aws",
            region=config.region,
            # Credentials of any other account are refused before anything is read.
            allowed_account_ids=[config.bootstrap.aws_account_id],
            default_tags={"tags": config.default_tags},
            opts=child(self),
        )
        on_aws = child(self, providers=[provider])
        invoke = pulumi.InvokeOptions(parent=self, provider=provider)
        invoke_output = pulumi.InvokeOutputOptions(parent=self, provider=provider)
        identity = aws.get_caller_identity_output(opts=invoke_output)
        partition = aws.get_partition_output(opts=invoke_output)

        bucket_name: pulumi.Input[str] = spec.state_bucket_name or identity.account_id.apply(
            lambda account: f"{PROJECT_NAME}-pulumi-state-{account}-{config.region}"
        )
        backend = StateBackend(
            f"{name}-backend",
            StateBackendArgs(
                project=PROJECT_NAME,
                bucket_name=bucket_name,
                log_bucket_name=pulumi.Output.from_input(bucket_name).apply(
                    lambda bucket: f"{bucket}{ACCESS_LOG_BUCKET_SUFFIX}"
                ),
                environments=spec.environments,
                version_retention_days=spec.state_version_retention_days,
                access_log_retention_days=spec.access_log_retention_days,
                partition=partition.partition,
                account_id=identity.account_id,
                region=config.region,
            ),
            opts=on_aws,
        )
        environments = list(spec.environments)
        account = pulumi.Output.all(
            partition.partition,
            identity.account_id,
            backend.bucket.bucket,
            backend.state_key.arn,
            *(backend.secrets_keys[e].arn for e in environments),
        ).apply(
            lambda v: Account(
                partition=v[0],
                account_id=v[1],
                region=config.region,
                project=PROJECT_NAME,
                state_bucket=v[2],
                state_key_arn=v[3],
                secrets_key_arns=dict(zip(environments, v[4:], strict=True)),
            )
        )
        # One per account, made by the first Auto Scaling group ever created:
        # most accounts have it; a fresh one gets it here.
        autoscaling_roles = aws.iam.get_roles(
            path_prefix=f"/aws-service-role/{AUTOSCALING_SERVICE}/", opts=invoke
        )
        ci = CiAccess(
            f"{name}-github",
            CiAccessArgs(
                project=PROJECT_NAME,
                repository=GitHubRepository(
                    spec.github_owner,
                    spec.github_name,
                    spec.github_owner_id,
                    spec.github_repository_id,
                ),
                create_oidc_provider=spec.github_oidc_provider == "create",
                deploy_environments=spec.deploy_environments,
                plan_environments=spec.plan_environments,
                preview_stacks=spec.preview_stacks,
                previews=config.hosts_previews,
                preview_environments_github_environment=PREVIEW_ENVIRONMENTS,
                environments=environments,
                data_sync_imports=dict.fromkeys(spec.data_sync_importers, spec.data_sync_exporter),
                account=account,
                autoscaling_role_arn=next(iter(autoscaling_roles.arns), None),
                drift_github_environment=DRIFT_CHECK if spec.drift_check else None,
            ),
            opts=on_aws,
        )

        repository_variables: dict[str, pulumi.Input[str]] = {
            BACKEND_VARIABLE: backend.backend_url,
            REGION_VARIABLE: config.region,
            PREVIEW_ROLE_VARIABLE: ci.preview_role.arn,
        }
        environment_variables: dict[str, dict[str, pulumi.Input[str]]] = {
            environment: {DEPLOY_ROLE_VARIABLE: role.arn}
            for environment, role in ci.deploy_roles.items()
        }
        environment_variables |= {
            f"{environment}-plan": {PLAN_ROLE_VARIABLE: role.arn}
            for environment, role in ci.plan_roles.items()
        }
        if ci.drift_role is not None:
            environment_variables[DRIFT_CHECK] = {DRIFT_ROLE_VARIABLE: ci.drift_role.arn}
        if ci.preview_environment_role is not None:
            repository_variables[PREVIEW_ENVIRONMENT_ROLE_VARIABLE] = (
                ci.preview_environment_role.arn
            )
            environment_variables[PREVIEW_ENVIRONMENTS] = {
                SECRETS_PROVIDER_VARIABLE: backend.secrets_providers[ALLOWED_PARENT["preview"]]
            }

        # What each stack file lists, so the CI roles reach its cluster.
        stack_file_access = {
            environment: {
                key: [ci.roles_by_name[role].arn for role in roles] for key, roles in keys.items()
            }
            for environment, keys in stack_file_access_of(spec, PROJECT_NAME).items()
        }

        if spec.cost_allocation_tag:
            # What each environment's budget filters on (its `stack` tag);
            # account-wide, so here and not in an environment.
            tag = aws.costexplorer.CostAllocationTag(
                f"{name}-cost-allocation-tag",
                tag_key=COST_ALLOCATION_TAG,
                status="Active",
                opts=pulumi.ResourceOptions(parent=self),
            )
            self.cost_allocation_tag: aws.costexplorer.CostAllocationTag | None = tag
        else:
            self.cost_allocation_tag = None

        self.outputs = {
            "githubRepositoryVariables": pulumi.Output.from_input(repository_variables),
            "githubEnvironmentVariables": pulumi.Output.from_input(environment_variables),
            "secretsProviders": pulumi.Output.from_input(backend.secrets_providers),
            "stackFileAccess": pulumi.Output.from_input(stack_file_access),
            "stateBucket": backend.bucket.bucket,
            "environmentBoundaryArns": pulumi.Output.from_input(
                {e: b.arn for e, b in ci.boundaries.items()}
            ),
        }
        self.register_outputs(dict(self.outputs))
