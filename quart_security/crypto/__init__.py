"""Password hashing, password policy, tokens and one-time codes (no I/O except HIBP)."""

from __future__ import annotations
