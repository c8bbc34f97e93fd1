"""The bootstrap program: an AWS account made ready for stagecraft's environments."""

import sys
from pathlib import Path

# `pulumi up` runs this file from inside bootstrap/; the package lives one up.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import pulumi

from infra.components.account.bootstrap import Bootstrap
from infra.config import load_bootstrap_config

config = load_bootstrap_config()
bootstrap = Bootstrap(f"{config.project}-{config.stack}", config)
for output_name, value in bootstrap.outputs.items():
    pulumi.export(output_name, value)
