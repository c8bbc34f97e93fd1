"""Which CI role each environment's cluster must admit, by name: the bootstrap writes
it as its `stackFileAccess` output, and `stagecraft validate` checks the stack files
against it (a deploy role missing from clusterAdminRoleArns would stop its
`pulumi up` at the deployer check)."""

from __future__ import annotations

from infra.config import ALLOWED_PARENT, BootstrapSpec


def role_name(project: str, purpose: str, environment: str | None = None) -> str:
    """`stagecraft-ci-preview`, `stagecraft-ci-deploy-staging`, ..."""
    return f"{project}-ci-{purpose}" + (f"-{environment}" if environment else "")


def stack_file_access(spec: BootstrapSpec, project: str) -> dict[str, dict[str, list[str]]]:
    """Environment -> stack-file key -> the CI role names it must list."""
    previews = ALLOWED_PARENT["preview"] in spec.environments
    access: dict[str, dict[str, list[str]]] = {}
    for environment in spec.environments:
        keys: dict[str, list[str]] = {}
        if environment in spec.deploy_environments:
            keys["clusterAdminRoleArns"] = [role_name(project, "deploy", environment)]
        readers = [role_name(project, "preview")] if environment in spec.preview_stacks else []
        if environment in spec.plan_environments:
            readers.append(role_name(project, "plan", environment))
        if readers:
            keys["clusterReadOnlyRoleArns"] = readers
        if previews and environment == ALLOWED_PARENT["preview"]:
            keys["clusterSmallStackDeployerRoleArns"] = [role_name(project, "preview-environments")]
        access[environment] = keys
    return access
