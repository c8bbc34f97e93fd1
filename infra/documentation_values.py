"""Values reserved for documentation, which no real deployment can use.

The shipped stack files are examples: their accounts, networks and ids are
the ones AWS and the RFCs set aside for documentation, so that they plan
offline and can never reach anything real by accident. A real `pulumi up`
with them would fail late (the cluster built, then unreachable from a
TEST-NET range, or an access entry for a role that does not exist), so the
config model refuses them up front unless `allowPlaceholderValues` says
otherwise (README "Deploy for real").

Pure functions of the values, tested without Pulumi.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterator
from dataclasses import dataclass

# Account ids the AWS documentation uses in its examples.
# https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_identifiers.html
DOCUMENTATION_ACCOUNTS = frozenset({"123456789012", "111122223333", "444455556666", "777788889999"})

# RFC 5737 (IPv4) and RFC 3849 (IPv6): never routed on the internet.
DOCUMENTATION_NETWORKS: tuple[tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, str], ...] = (
    (ipaddress.ip_network("192.0.2.0/24"), "RFC 5737 TEST-NET-1"),
    (ipaddress.ip_network("198.51.100.0/24"), "RFC 5737 TEST-NET-2"),
    (ipaddress.ip_network("203.0.113.0/24"), "RFC 5737 TEST-NET-3"),
    (ipaddress.ip_network("2001:db8::/32"), "RFC 3849 IPv6 documentation prefix"),
)

# RFC 2606 / RFC 6761: reserved example and invalid domain names.
_DOCUMENTATION_DOMAIN = re.compile(
    r"(?:^|[@./])(example\.(?:com|net|org)|[a-z0-9-]+\.(?:example|invalid))$", re.IGNORECASE
)
_NAME_OF_ACCOUNT = re.compile(r"^[a-z0-9][a-z0-9.-]*-(\d{12})$")
_ARN_ACCOUNT = re.compile(r"^arn:aws(?:-cn|-us-gov)?:[a-z0-9-]+:[a-z0-9-]*:(\d{12}):")
# GitHub's documentation owners (docs.github.com's examples: octo-org/octo-repo).
_GITHUB_DOCUMENTATION_REPOSITORY = re.compile(r"^(octo-org|octocat)/[\w.-]+$", re.IGNORECASE)
# AWS documentation ids end in EXAMPLE (tgw-0262a0e521EXAMPLE); a run of
# hex digits in order is this repository's own placeholder id.
_PLACEHOLDER_ID = re.compile(r"^[a-z]+(?:-[a-z]+)*-(?:[0-9a-f]*EXAMPLE|0123456789abcdef0?)$")
# Slack workspace and channel ids written the AWS way (T0EXAMPLE, C0EXAMPLE1).
_SLACK_PLACEHOLDER_ID = re.compile(r"^[TCG][A-Z0-9]*EXAMPLE[A-Z0-9]*$")


# What the shipped stack files' `secure:` values stand for: their ciphertext is
# `documentation value`, which no key decrypts (stagecraft/offline/stackfiles.py
# hands this text over instead); set yours with `pulumi config set --secret`.
DOCUMENTATION_CIPHERTEXT = "documentation value"
DOCUMENTATION_SECRET = "(secure documentation value: set yours with pulumi config set --secret)"


@dataclass(frozen=True)
class DocumentationValue:
    """One documentation value found at ``path`` (``key`` or ``key[2]``)."""

    path: str
    value: str
    reason: str


def find(path: str, value: object) -> Iterator[DocumentationValue]:
    """Every documentation value in ``value`` (a string, or lists and maps of them)."""
    if isinstance(value, str):
        reason = _reason(value)
        if reason is not None:
            yield DocumentationValue(path, value, reason)
    elif isinstance(value, list | tuple):
        for index, item in enumerate(value):
            yield from find(f"{path}[{index}]", item)
    elif isinstance(value, dict):
        for key, item in value.items():
            yield from find(f"{path}.{key}", item)


def _reason(text: str) -> str | None:
    text = text.strip()
    if text == DOCUMENTATION_SECRET:
        return "a documentation secret, which no key decrypts"
    account = _ARN_ACCOUNT.match(text)
    if account and account.group(1) in DOCUMENTATION_ACCOUNTS:
        return f"the AWS documentation account {account.group(1)}, not yours"
    if text in DOCUMENTATION_ACCOUNTS:
        return "the AWS documentation account, not yours"
    # A name that ends in an account, as stagecraft names buckets
    # (`<prefix>-<purpose>-<account>`): another stack's output.
    owned = _NAME_OF_ACCOUNT.match(text)
    if owned and owned.group(1) in DOCUMENTATION_ACCOUNTS:
        return f"a name in the AWS documentation account {owned.group(1)}, not yours"
    network = _network(text)
    if network is not None:
        for reserved, name in DOCUMENTATION_NETWORKS:
            if network.version == reserved.version and network.overlaps(reserved):
                return f"inside {reserved} ({name}), a range no real traffic comes from"
    domain = _DOCUMENTATION_DOMAIN.search(text.rstrip("."))
    if domain:
        return f"the reserved domain {domain.group(1)} (RFC 2606), not one you own"
    if _PLACEHOLDER_ID.match(text):
        return "a placeholder id, not one of your resources"
    if _SLACK_PLACEHOLDER_ID.match(text):
        return "a placeholder Slack id, not your workspace or channel"
    repository = _GITHUB_DOCUMENTATION_REPOSITORY.match(text)
    if repository:
        return f"GitHub's documentation owner {repository.group(1)}, not your repository"
    return None


def _network(text: str) -> ipaddress.IPv4Network | ipaddress.IPv6Network | None:
    if not re.fullmatch(r"[0-9a-fA-F:.]+(/\d{1,3})?", text) or not any(c in text for c in ".:"):
        return None
    try:
        return ipaddress.ip_network(text, strict=False)
    except ValueError:
        return None
