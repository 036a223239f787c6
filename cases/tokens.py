"""API keys: generated once, shown once, stored only as a SHA-256 digest."""

from __future__ import annotations

import hashlib
import secrets

KEY_PREFIX = "lg_"


def generate_key() -> str:
    return KEY_PREFIX + secrets.token_urlsafe(32)


def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


def display_prefix(key: str) -> str:
    return key[:10]
