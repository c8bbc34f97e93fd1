"""The key that lets two plans say "this secret changed" without either showing it.

A fingerprint is an HMAC under a key that lives only in this process and the
child processes it starts (the other side of a diff), never written anywhere,
so a fingerprint cannot be turned back into the value.  Kept apart from the
engine so the key can be made before a child starts, without the SDK.
"""

from __future__ import annotations

import os
import secrets

FINGERPRINT_KEY_ENV = "STAGECRAFT_FINGERPRINT_KEY"


def fingerprint_key() -> bytes:
    """This run's key, made on first use and inherited by every child process."""
    key = os.environ.get(FINGERPRINT_KEY_ENV)
    if key is None:
        key = secrets.token_hex(32)
        os.environ[FINGERPRINT_KEY_ENV] = key
    return key.encode()
