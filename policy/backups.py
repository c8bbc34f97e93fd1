"""The `backups-copied-and-locked` policy: a stack's AWS Backup survives its region and its admins.

Kept apart from rules.py (which registers it): it reads the backup plan, its
vaults, their keys and locks together, and where each vault lives (its
provider's region).
"""

from __future__ import annotations

from typing import Any

from pulumi_policy import ReportViolation, StackValidationArgs

BACKUP_PLAN = "aws:backup/plan:Plan"
BACKUP_VAULT = "aws:backup/vault:Vault"
VAULT_LOCK = "aws:backup/vaultLockConfiguration:VaultLockConfiguration"
RDS_INSTANCE = "aws:rds/instance:Instance"


def _plain(value: Any) -> Any:
    # Late import: rules.py imports this module.
    from policy.rules import _plain as plain

    return plain(value)


def region_of(resource: Any) -> str | None:
    """The region a resource is created in: its own `region`, else its provider's."""
    own = _plain(resource.props).get("region")
    if own:
        return str(own)
    provider = getattr(resource, "provider", None)
    if provider is None:
        return None
    region = _plain(provider.props).get("region")
    return str(region) if region else None


def _arn_region(arn: object) -> str | None:
    parts = str(arn).split(":")
    return parts[3] if len(parts) > 3 and parts[0] == "arn" and parts[3] else None


def backups_copied_and_locked(args: StackValidationArgs, report: ReportViolation) -> None:
    """A backup plan copies to a vault in another region; every vault has its own key and a lock."""
    plans = [r for r in args.resources if r.resource_type == BACKUP_PLAN]
    if not plans:
        if args.get_config().get("requireBackups"):
            database = next(
                (
                    r.urn
                    for r in args.resources
                    if r.resource_type == RDS_INSTANCE
                    and not _plain(r.props).get("replicateSourceDb")
                ),
                None,
            )
            report(
                "no AWS Backup plan: the database's only backups live and die with the "
                "instance and its region",
                database,
            )
        else:
            args.not_applicable("this stack has no backup plan, and its policy config asks none")
        return
    vaults = [r for r in args.resources if r.resource_type == BACKUP_VAULT]
    vault_regions = {str(_plain(v.props).get("name") or v.name): region_of(v) for v in vaults}
    for plan in plans:
        rules = _plain(plan.props).get("rules") or []
        home = next(
            (
                vault_regions.get(str(rule.get("targetVaultName")))
                for rule in rules
                if rule.get("targetVaultName") in vault_regions
            ),
            region_of(plan),
        )
        elsewhere = {region for region in vault_regions.values() if region and region != home}
        for rule in rules:
            copies = rule.get("copyActions") or []
            rule_name = rule.get("ruleName", "?")
            if not copies:
                report(f"{plan.name}: rule {rule_name} copies no backup to another region "
                       "(no copy action)", plan.urn)  # fmt: skip
                continue
            regions = {_arn_region(c.get("destinationVaultArn")) for c in copies} - {None}
            if home in regions:
                report(f"{plan.name}: rule {rule_name} copies into its own region ({home}): "
                       "lost with it", plan.urn)  # fmt: skip
            elif not regions and not elsewhere:
                report(f"{plan.name}: rule {rule_name} copies to no vault in another region",
                       plan.urn)  # fmt: skip
    locked = {
        str(_plain(lock.props).get("backupVaultName"))
        for lock in args.resources
        if lock.resource_type == VAULT_LOCK and _plain(lock.props).get("minRetentionDays")
    }
    for vault in vaults:
        props = _plain(vault.props)
        vault_name = str(props.get("name") or vault.name)
        if "kmsKeyArn" not in props and "kmsKeyArn" not in (vault.props or {}):
            report(f"{vault_name}: encrypted with AWS Backup's default key, not a customer "
                   "KMS key of its own", vault.urn)  # fmt: skip
        if vault_name not in locked:
            report(f"{vault_name}: no vault lock with a minimum retention: anyone with "
                   "backup:DeleteRecoveryPoint can empty it", vault.urn)  # fmt: skip
