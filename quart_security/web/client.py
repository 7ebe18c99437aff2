"""Who the client of a request is, for per-client budgets (the hashing pool's share).

One function so that every budget keys clients the same way; it will learn
trusted proxies (issue 17) without its callers changing.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ..extension import Security
    from .port import WebPort


def client_key(security: Security, port: WebPort) -> str:
    """The connection's peer address, or "unknown" when the server gives none."""
    return port.request.remote_addr or "unknown"
