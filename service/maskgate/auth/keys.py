"""API keys: ``mg_`` + 32 random bytes (urlsafe base64), stored as a SHA-256 and a prefix.

The keys carry 256 bits of entropy, so a fast unsalted hash is enough: nothing can be
guessed, and the lookup by prefix plus one hash comparison stays cheap on every request.
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Iterable
from enum import StrEnum

KEY_MARKER = "mg_"
PREFIX_LENGTH = 8  # characters of the key kept in clear for lookup, the marker included
ENTROPY_BYTES = 32


class Scope(StrEnum):
    ENROL = "enrol"
    VERIFY = "verify"
    IDENTIFY = "identify"
    ADMIN = "admin"


def generate_key() -> str:
    """A new key: ``mg_`` + 43 urlsafe characters (256 random bits)."""
    return KEY_MARKER + secrets.token_urlsafe(ENTROPY_BYTES)


def hash_key(key: str) -> str:
    """The SHA-256 of the whole key, hex."""
    return hashlib.sha256(key.encode()).hexdigest()


def key_prefix(key: str) -> str:
    """The first ``PREFIX_LENGTH`` characters, stored in clear to find the key's row."""
    return key[:PREFIX_LENGTH]


def parse_scopes(scopes: str | Iterable[str]) -> list[Scope]:
    """Scopes from ``"enrol,verify"`` or a list, deduplicated, in ``Scope`` order.

    Raises ``ValueError`` naming the unknown scopes and the valid ones."""
    names = scopes.split(",") if isinstance(scopes, str) else list(scopes)
    wanted = {name.strip().lower() for name in names if name.strip()}
    unknown = sorted(wanted - set(Scope))
    if unknown:
        valid = ", ".join(Scope)
        raise ValueError(f"unknown scope(s) {', '.join(unknown)}: choose from {valid}")
    if not wanted:
        raise ValueError(f"no scope given: choose from {', '.join(Scope)}")
    return [scope for scope in Scope if scope in wanted]
