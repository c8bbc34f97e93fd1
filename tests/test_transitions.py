"""Changes between two stack files that AWS refuses on a running environment."""

from __future__ import annotations

import pytest

from stagecraft.transitions import refused_transitions


def _values(**keys: str) -> dict[str, str]:
    return {f"stagecraft:{k}": v for k, v in keys.items()}


BASE = _values(
    kubernetesVersion="1.33", availabilityZoneCount="2", dbEngineVersion="16",
    cacheEngineVersion="6.2", vpcCidr="10.20.0.0/16",
)  # fmt: skip


@pytest.mark.parametrize(
    ("changes", "refused"),
    [
        ({"kubernetesVersion": "1.34"}, []),
        ({"kubernetesVersion": "1.35"}, ["kubernetesVersion"]),
        ({"kubernetesVersion": "1.32"}, ["kubernetesVersion"]),
        ({"availabilityZoneCount": "3"}, ["availabilityZoneCount"]),
        ({"vpcCidr": "10.21.0.0/16"}, ["vpcCidr"]),
        ({"dbEngineVersion": "16.4"}, []),
        ({"dbEngineVersion": "17"}, ["dbEngineVersion"]),
        ({"dbEngineVersion": "17", "dbApplyImmediately": "true"}, []),
        ({"dbEngineVersion": "15"}, ["dbEngineVersion"]),
        ({"cacheEngineVersion": "7.1"}, ["cacheEngineVersion"]),
        ({"cacheEngineVersion": "7.1", "cacheApplyImmediately": "true"}, []),
    ],
)  # fmt: skip
def test_each_rule(changes, refused):
    after = {**BASE, **_values(**changes)}
    assert [r.key for r in refused_transitions(BASE, after)] == [f"stagecraft:{k}" for k in refused]


def test_a_skipped_minor_names_the_next_step():
    after = {**BASE, **_values(kubernetesVersion="1.35")}
    (refusal,) = refused_transitions(BASE, after)
    assert str(refusal) == (
        "stagecraft:kubernetesVersion: 1.33 -> 1.35: EKS upgrades one minor version at a "
        "time; go to 1.34 first, in its own deploy, then on"
    )


def test_a_cache_downgrade_would_replace_the_cache():
    base = {**BASE, **_values(cacheEngineVersion="7.1")}
    (refusal,) = refused_transitions(base, {**base, **_values(cacheEngineVersion="7.0")})
    assert "never downgrades" in refusal.rule


def test_a_base_without_a_key_compares_on_its_defaults():
    assert refused_transitions(_values(), _values(kubernetesVersion="1.34")) == []
