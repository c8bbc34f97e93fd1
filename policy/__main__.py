"""Entry point of the policy pack: `pulumi preview --policy-pack policy`."""

import sys
from pathlib import Path

# The analyzer runs this file from inside policy/; the package lives one up.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from pulumi_policy import EnforcementLevel, PolicyPack

from policy.rules import policies

PolicyPack(
    name="stagecraft",
    policies=policies(),
    # Enforcement comes from each environment's policy config
    # (policy/config/<stack>.json): mandatory in production, advisory elsewhere.
    enforcement_level=EnforcementLevel.ADVISORY,
)
