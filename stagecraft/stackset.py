"""Rules across stack files: what no single stack's validation can see.

Each stack is validated on its own when it is planned (infra/config.py).
These rules need every stack file at once:

- the VPC ranges of the full environments never overlap each other: they
  share the operations VPN and the transit gateway, and may be peered;
- no VPC overlaps an operator network any stack routes to or opens its API
  to (the VPN), or traffic to it would stay inside the VPC;
- a pr-<n>/dev-<name> stack's namespace is its own: not its shared stack's
  application or ingress namespace, not another small stack's;
- a pr-<n>/dev-<name> stack's shared stack exists in this repository, in
  the same account;
- every environment a bootstrap prepares is in the bootstrap's account, and
  admits the CI roles it made for it;
- no two environments claim the same domain.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from itertools import combinations
from typing import Any

from infra.components.account.access import stack_file_access
from infra.config import (
    BootstrapStackConfig,
    ConfigError,
    EphemeralStackConfig,
    MonitoringSpec,
    Problem,
    StackConfig,
    aws_regions,
    parse_bootstrap_config,
    parse_ephemeral_config,
    parse_stack_config,
    stack_kind,
)
from stagecraft.offline.stackfiles import (
    ALLOW_PLACEHOLDERS,
    SUBPROJECTS,
    Project,
    StackFileError,
    load_project,
)


@dataclass(frozen=True)
class StackSet:
    full: dict[str, StackConfig]
    small: dict[str, EphemeralStackConfig]
    bootstrap: dict[str, BootstrapStackConfig] = field(default_factory=dict)


@dataclass(frozen=True)
class StackProblem:
    stack: str
    problem: Problem

    def __str__(self) -> str:
        return f"{self.stack}: {self.problem}"


def load_stack_set(
    project: Project, *, for_deploy: bool = False, deploying: frozenset[str] | None = None
) -> tuple[StackSet, list[str]]:
    """Every stack file's validated config, and the errors of those that do not validate.

    ``for_deploy`` validates as a real `pulumi up` would: documentation
    values (example account, TEST-NET ranges) are errors, in every stack or
    only in those ``deploying`` names.
    """

    def real(stack: str) -> bool:
        return for_deploy and (deploying is None or stack in deploying)

    errors: list[str] = []
    full: dict[str, StackConfig] = {}
    for stack in project.stacks():
        try:
            raw = project.read_stack(stack)
            errors += _monitoring_keys_without_monitoring(project.name, stack, raw)
            if f"{project.name}:{ALLOW_PLACEHOLDERS}" in raw:
                errors.append(
                    f"Pulumi.{stack}.yaml sets {project.name}:{ALLOW_PLACEHOLDERS}: offline "
                    "plans set it for themselves; in a stack file it lets a real deploy use "
                    "documentation values. Remove it"
                )
            values = project.config_map(stack, allow_placeholders=not real(stack))
            full[stack] = parse_stack_config(
                values.values, project=project.name, stack=stack, secret_keys=values.secret_keys
            )
        except (ConfigError, StackFileError) as exc:
            errors.append(str(exc))
    small: dict[str, EphemeralStackConfig] = {}
    bootstraps: dict[str, BootstrapStackConfig] = {}
    for name in SUBPROJECTS:
        directory = project.directory / name
        if not (directory / "Pulumi.yaml").is_file():
            continue
        sub = load_project(directory)
        for stack in sub.stacks():
            if name == "bootstrap":
                try:
                    values = sub.config_map(stack, allow_placeholders=not real(stack))
                    bootstraps[stack] = parse_bootstrap_config(
                        values.values, project=sub.name, stack=stack, secret_keys=values.secret_keys
                    )
                except (ConfigError, StackFileError) as exc:
                    errors.append(str(exc))
                continue
            if stack_kind(stack) not in ("preview", "developer"):
                continue
            try:
                values = sub.config_map(stack, allow_placeholders=not real(stack))
                small[stack] = parse_ephemeral_config(
                    values.values, project=sub.name, stack=stack, secret_keys=values.secret_keys
                )
            except (ConfigError, StackFileError) as exc:
                errors.append(str(exc))
    return StackSet(full=full, small=small, bootstrap=bootstraps), errors


def _overlap(a: str, b: str) -> bool:
    first, second = ipaddress.ip_network(a), ipaddress.ip_network(b)
    return first.version == second.version and first.overlaps(second)


def _operator_networks(config: StackConfig) -> Iterable[tuple[str, str]]:
    """(key, network) of the networks outside the VPC a stack routes to or admits."""
    for cidr in config.network.transit_gateway_routes:
        yield "transitGatewayRoutes", cidr
    for cidr in config.cluster.private_access_cidrs:
        yield "clusterPrivateAccessCidrs", cidr


def _ci_access_problems(stacks: StackSet) -> list[StackProblem]:
    """Every environment a bootstrap prepared is in its account, and its cluster admits
    every CI role that bootstrap made for it, by full ARN."""
    problems: list[StackProblem] = []
    for bootstrap_stack, bootstrap in sorted(stacks.bootstrap.items()):
        account = bootstrap.bootstrap.aws_account_id
        partition = aws_regions()[bootstrap.region].partition
        expected = stack_file_access(bootstrap.bootstrap, bootstrap.project)
        for environment, keys in sorted(expected.items()):
            config = stacks.full.get(environment)
            if config is None:
                continue
            if config.general.aws_account_id != account:
                problems.append(
                    StackProblem(
                        environment,
                        Problem(
                            "stagecraft:awsAccountId",
                            config.general.aws_account_id,
                            f"is not the account of the bootstrap stack '{bootstrap_stack}' "
                            f"({account}), which prepares '{environment}' (its "
                            "`environments`): its roles, boundary and state bucket are there",
                        ),
                    )
                )
                continue
            listed = {
                "clusterAdminRoleArns": config.cluster.admin_role_arns,
                "clusterReadOnlyRoleArns": config.cluster.read_only_role_arns,
                "clusterSmallStackDeployerRoleArns": config.cluster.small_stack_deployer_role_arns,
            }
            for key, roles in keys.items():
                arns = [f"arn:{partition}:iam::{account}:role/{role}" for role in roles]
                missing = [arn for arn in arns if arn not in listed[key]]
                if missing:
                    problems.append(
                        StackProblem(
                            environment,
                            Problem(
                                f"stagecraft:{key}",
                                listed[key],
                                f"does not list {', '.join(missing)}, which the bootstrap "
                                f"stack '{bootstrap_stack}' made for this environment's "
                                "workflows (its stackFileAccess output): without it the "
                                "workflow cannot reach the cluster",
                            ),
                        )
                    )
    return problems


def _domain_problems(stacks: StackSet) -> list[StackProblem]:
    """Each environment's zone is its own: one domain, never another's."""
    problems: list[StackProblem] = []
    owners: dict[str, str] = {}
    for name, config in sorted(stacks.full.items()):
        domain = config.addons.domain
        if not domain:
            continue
        for other_name, other in sorted(stacks.full.items()):
            parent = other.addons.domain
            if other_name != name and parent and domain.endswith(f".{parent}"):
                problems.append(
                    StackProblem(
                        name,
                        Problem(
                            "stagecraft:domain",
                            domain,
                            f"lies inside {other_name}'s domain {parent}: its wildcard "
                            f"certificate and its external-dns would reach {name}'s "
                            "hostnames; give each environment a domain of its own",
                        ),
                    )
                )
        if domain in owners:
            problems.append(
                StackProblem(
                    name,
                    Problem(
                        "stagecraft:domain",
                        domain,
                        f"is {owners[domain]}'s domain too; two public zones of one name "
                        "cannot both be delegated to, and their certificates would cover "
                        "each other's hostnames",
                    ),
                )
            )
        owners.setdefault(domain, name)
    return problems


def policy_config_problems(project: Project, stacks: StackSet) -> list[StackProblem]:
    """The policy pack's view of the account agrees with the bootstrap stack file.

    `iam-web-identity-trust-pinned` judges the CI roles' trust against the
    repository in policy/config/bootstrap.json (what the auditors approved);
    a bootstrap naming another repository would fail it at `pulumi up`.
    """
    from policy.harness import CONFIG_DIR, PolicyConfigError, load_policy_config

    problems: list[StackProblem] = []
    # The project's own pack where it has one (a checkout), else the installed pack's.
    local = project.directory / "policy" / "config" / "bootstrap.json"
    path = local if local.is_file() else CONFIG_DIR / "bootstrap.json"
    if not stacks.bootstrap or not path.is_file():
        return problems
    try:
        config = load_policy_config(path)
    except PolicyConfigError as exc:
        return [StackProblem("bootstrap", Problem("policy/config/bootstrap.json", "", str(exc)))]
    approved = (config.get("iam-web-identity-trust-pinned") or {}).get("githubRepository")
    for name, bootstrap in sorted(stacks.bootstrap.items()):
        repository = bootstrap.bootstrap.github_repository
        if approved and approved != repository:
            problems.append(
                StackProblem(
                    name,
                    Problem(
                        "stagecraft:githubRepository",
                        repository,
                        f"is not the repository policy/config/bootstrap.json approves "
                        f"({approved}); set the same in both (README 'Deploy for real', "
                        "step 3)",
                    ),
                )
            )
    return problems


def _monitoring_keys_without_monitoring(
    project: str, stack: str, raw: Mapping[str, Any]
) -> list[str]:
    """Monitoring keys written in a stack file that turns monitoring off.

    The program sees every key with its default filled in (as the Pulumi CLI
    hands them over), so it refuses only values that differ from a default;
    the file itself shows what was written.
    """
    if raw.get(f"{project}:monitoring") is not False:
        return []
    written = [
        alias
        for name, info in MonitoringSpec.model_fields.items()
        if (alias := str(info.alias)) != "monitoring" and f"{project}:{alias}" in raw
    ]
    return [
        f"Pulumi.{stack}.yaml: {project}:{alias} is a setting of the in-cluster monitoring "
        f"stack, which {project}:monitoring: false turns off; remove it"
        for alias in written
    ]


def _trail_problems(stacks: StackSet) -> list[StackProblem]:
    """One trail per account: a second records (and bills) every event again."""
    problems: list[StackProblem] = []
    owners: dict[str, str] = {}
    for name, config in sorted(stacks.full.items()):
        if not config.tier.cloud_trail:
            continue
        account = config.general.aws_account_id
        if account in owners:
            problems.append(
                StackProblem(
                    name,
                    Problem(
                        "stagecraft:cloudTrail",
                        True,
                        f"{owners[account]} already keeps account {account}'s trail; a second "
                        "one pays for every management event again: set it false here",
                    ),
                )
            )
        else:
            owners[account] = name
    return problems


def cross_stack_problems(stacks: StackSet) -> list[StackProblem]:
    problems: list[StackProblem] = (
        _ci_access_problems(stacks) + _domain_problems(stacks) + _trail_problems(stacks)
    )
    for (name_a, a), (name_b, b) in combinations(sorted(stacks.full.items()), 2):
        if _overlap(a.network.vpc_cidr, b.network.vpc_cidr):
            problems.append(
                StackProblem(
                    name_b,
                    Problem(
                        "stagecraft:vpcCidr",
                        b.network.vpc_cidr,
                        f"overlaps {name_a}'s VPC ({a.network.vpc_cidr}); environments share "
                        "the VPN and transit gateway, so every VPC needs a range of its own",
                    ),
                )
            )
    for name, config in sorted(stacks.full.items()):
        for other_name, other in sorted(stacks.full.items()):
            for key, network in _operator_networks(other):
                if _overlap(config.network.vpc_cidr, network) and not _inside(
                    network, other.network.vpc_cidr
                ):
                    problems.append(
                        StackProblem(
                            name,
                            Problem(
                                "stagecraft:vpcCidr",
                                config.network.vpc_cidr,
                                f"overlaps {network}, an operator network in {other_name}'s "
                                f"{key}; traffic to it would stay inside this VPC",
                            ),
                        )
                    )
    problems += _small_stack_problems(stacks)
    return problems


def _inside(inner: str, outer: str) -> bool:
    a, b = ipaddress.ip_network(inner), ipaddress.ip_network(outer)
    return a.version == b.version and a.subnet_of(b)  # type: ignore[arg-type]


def _small_stack_problems(stacks: StackSet) -> list[StackProblem]:
    problems: list[StackProblem] = []
    claimed: dict[str, str] = {}
    for name, config in sorted(stacks.small.items()):
        parent_name = config.shared.parent_stack
        parent = stacks.full.get(parent_name)
        if parent is None:
            problems.append(
                StackProblem(
                    name,
                    Problem(
                        "stagecraft:sharedStack",
                        config.shared.shared_stack,
                        f"names stack '{parent_name}', which has no valid "
                        f"Pulumi.{parent_name}.yaml here",
                    ),
                )
            )
            continue
        if not (parent.addons.domain and parent.addons.load_balancer_controller):
            problems.append(
                StackProblem(
                    name,
                    Problem(
                        "stagecraft:sharedStack",
                        config.shared.shared_stack,
                        f"'{parent_name}' serves no ingress (its domain and "
                        "loadBalancerController): a small stack is reached through its "
                        "shared stack's ALB, at <stack>.<domain>",
                    ),
                )
            )
        if config.general.aws_account_id != parent.general.aws_account_id:
            problems.append(
                StackProblem(
                    name,
                    Problem(
                        "stagecraft:awsAccountId",
                        config.general.aws_account_id,
                        f"is not {parent_name}'s account ({parent.general.aws_account_id}); a "
                        "small stack lives on its shared stack's cluster, in its account",
                    ),
                )
            )
        namespace = config.workloads.namespace
        taken = {
            parent.workloads.namespace: f"{parent_name}'s application namespace",
            parent.workloads.ingress_namespace: f"{parent_name}'s ingress namespace",
        }
        owner = claimed.get(f"{parent_name}/{namespace}")
        if owner is not None:
            taken.setdefault(namespace, f"{owner}'s namespace on the same cluster")
        if namespace in taken:
            problems.append(
                StackProblem(
                    name,
                    Problem(
                        "stagecraft:namespace",
                        namespace,
                        f"is {taken[namespace]}; a small stack's namespace must be its own",
                    ),
                )
            )
        claimed.setdefault(f"{parent_name}/{namespace}", name)
    return problems
