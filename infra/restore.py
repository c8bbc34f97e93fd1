"""Point-in-time restore of an environment's database: names and timestamps.

A restore brings the database back as a NEW RDS instance (RDS never rewinds
an instance in place), built by `RestoreDBInstanceToPointInTime` from the
automated backups of a source instance, and the environment switches to it
through config (README "Restoring a database to a point in time").  The
primary's identifier is explicit (alarms, log groups and the off-hours
schedule name it), so the restored one needs an identifier of its own, or
Pulumi's create-before-delete replacement would collide with the instance it
replaces: ``<resource prefix>-<dbRestoreName>``.

Pure functions only: the config model (infra/config.py), the Database
component and the `stagecraft restore` command share them.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime

from infra.aws_types import NAME_RULES

# dbRestoreTime's value for "the latest restorable time" (typically within the
# last five minutes: RDS uploads the transaction logs every five minutes).
# https://docs.aws.amazon.com/AmazonRDS/latest/UserGuide/USER_PIT.html
LATEST = "latest"

# The provider parses restore_time as RFC 3339 and AWS takes it in UTC
# (terraform-provider-aws `verify.ValidUTCTimestamp`); seconds and the `Z`
# are required here so the stack file says exactly which instant was chosen.
_RESTORE_TIME = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$")

# RDS DB instance identifiers: 1-63 letters, digits or hyphens, starting with a
# letter, no two consecutive hyphens, not ending with one; RDS stores them in
# lowercase.  https://docs.aws.amazon.com/AmazonRDS/latest/APIReference/API_CreateDBInstance.html
RDS_IDENTIFIER_LIMIT = NAME_RULES["aws:rds/instance:Instance"].limit
_RDS_IDENTIFIER = re.compile(r"^[a-z](?:[a-z0-9]|-(?!-))*(?<!-)$")

# dbRestoreName: the suffix of the restored instance's identifier.  Short, so
# the identifier and its replicas' (`-replica-<n>`) stay within 63 characters.
RESTORE_NAME_LIMIT = 20
_RESTORE_NAME = re.compile(r"^[a-z][a-z0-9]*(?:-[a-z0-9]+)*$")


def restore_identifier(resource_prefix: str, restore_name: str) -> str:
    """The primary's identifier: the prefix alone, or ``<prefix>-<restore name>`` once restored."""
    return f"{resource_prefix}-{restore_name}" if restore_name else resource_prefix


def parse_restore_time(value: str) -> datetime:
    """``value`` (`YYYY-MM-DDTHH:MM:SSZ`) as an aware UTC datetime; ValueError if malformed."""
    if not _RESTORE_TIME.fullmatch(value):
        raise ValueError(
            "must be an RFC 3339 UTC timestamp with seconds, e.g. '2026-12-01T09:30:00Z', "
            f"or '{LATEST}'"
        )
    # fromisoformat rejects impossible dates (2026-02-30) with its own message.
    return datetime.fromisoformat(value.replace("Z", "+00:00")).astimezone(UTC)


def restore_time_problem(value: str, now: datetime) -> str | None:
    """Why ``value`` cannot be a dbRestoreTime at ``now``, or None."""
    if value == LATEST:
        return None
    try:
        moment = parse_restore_time(value)
    except ValueError as exc:
        if "RFC 3339" in str(exc):
            return str(exc)
        return f"is not a real date and time ({exc})"
    if moment > now:
        return (
            "is in the future: RDS restores only to a time before the source's latest "
            "restorable time (a few minutes ago at best)"
        )
    return None


def rds_identifier_problem(value: str) -> str | None:
    """Why ``value`` is not a valid RDS DB instance identifier, or None."""
    if len(value) > RDS_IDENTIFIER_LIMIT:
        return f"is {len(value)} characters; RDS allows at most {RDS_IDENTIFIER_LIMIT}"
    if not _RDS_IDENTIFIER.fullmatch(value):
        return (
            "must be an RDS instance identifier: lowercase letters, digits and hyphens, "
            "starting with a letter, without two hyphens in a row or one at the end"
        )
    return None


def restore_name_problem(value: str) -> str | None:
    """Why ``value`` cannot be a dbRestoreName, or None."""
    if len(value) > RESTORE_NAME_LIMIT or not _RESTORE_NAME.fullmatch(value):
        return (
            f"must be 1-{RESTORE_NAME_LIMIT} lowercase letters, digits and single hyphens, "
            "starting with a letter (it ends the restored instance's identifier), e.g. "
            "'r202612010930'"
        )
    return None


def default_restore_name(moment: datetime) -> str:
    """The name `stagecraft restore` gives a restore to ``moment`` (or run at it, for latest)."""
    return "r" + moment.astimezone(UTC).strftime("%Y%m%d%H%M")
