"""HTTP basic auth, checked the same way on every listener that asks for it (API, /metrics)."""

from __future__ import annotations

import base64
import binascii
import hmac


def authorized(header: str, user: bytes, password: bytes) -> bool:
    """Whether an `Authorization` header carries exactly these basic credentials."""
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "basic":
        return False
    try:
        decoded = base64.b64decode(token.strip(), validate=True)
    except (binascii.Error, ValueError):
        return False
    given_user, sep, given_password = decoded.partition(b":")
    # Both comparisons always run, so timing tells nothing about which part was wrong.
    user_ok = hmac.compare_digest(given_user, user)
    password_ok = hmac.compare_digest(given_password, password)
    return bool(sep) and user_ok and password_ok
