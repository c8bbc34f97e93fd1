"""The post-deploy smoke test's script (smoke.sh), shipped to the pod in a ConfigMap."""

from pathlib import Path

SMOKE_DIR = Path(__file__).resolve().parent
SCRIPT = SMOKE_DIR / "smoke.sh"


def script() -> str:
    return SCRIPT.read_text(encoding="utf-8")
