"""Who is asking: the client address a rate limit counts, behind trusted proxies or not.

By default the address is the connection's: ``X-Forwarded-For`` is a header
anyone can send, so trusting it by default would let a client pick a fresh
budget per request (django-allauth's 65.14.2 fix; quart-rate-limiter still
trusts it). TRUSTED_PROXIES says otherwise, as Werkzeug's ProxyFix does:

- an int n: n proxies append to ``X-Forwarded-For``; the client is the n-th
  address from the right (a spoofed left part is never read);
- a list of networks: walk from the connection leftwards through the
  addresses that are trusted proxies; the first one that is not is the client.

IPv6 clients are counted per /64 (one host usually holds a whole /64, so per
address would be a budget per request).
"""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from ..state import request_state

if TYPE_CHECKING:
    from ..extension import Security
    from .port import WebPort

Network = ipaddress.IPv4Network | ipaddress.IPv6Network
UNKNOWN = "unknown"


def trusted_networks(value: Any) -> int | tuple[Network, ...]:
    """TRUSTED_PROXIES parsed: a hop count, or networks; ValueError when it is neither."""
    if isinstance(value, bool):
        raise ValueError("TRUSTED_PROXIES is a number of proxies or a list of networks")
    if isinstance(value, int):
        if value < 0:
            raise ValueError("TRUSTED_PROXIES must not be negative")
        return value
    if isinstance(value, str) or not isinstance(value, Sequence):
        raise ValueError("TRUSTED_PROXIES is a number of proxies or a list of networks")
    networks = []
    for entry in value:
        try:
            networks.append(ipaddress.ip_network(str(entry), strict=False))
        except ValueError as exc:
            raise ValueError(f"TRUSTED_PROXIES: {entry!r} is not a network") from exc
    return tuple(networks)


def _address(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    text = text.strip().strip("[]")
    if "%" in text:  # an IPv6 zone
        text = text.split("%", 1)[0]
    try:
        return ipaddress.ip_address(text)
    except ValueError:
        return None


def client_address(
    remote_addr: str | None, forwarded_for: str | None, trusted: int | tuple[Network, ...]
) -> str:
    """The client's address as text (see the module docstring), or "unknown"."""
    connection = _address(remote_addr or "")
    if connection is None:
        return UNKNOWN
    chain = [a for a in (_address(p) for p in (forwarded_for or "").split(",")) if a is not None]
    if isinstance(trusted, int):
        if trusted == 0 or not forwarded_for:
            return str(connection)
        if len(chain) < trusted:  # fewer hops than proxies: the header is not theirs
            return str(connection)
        return str(chain[-trusted])
    if not any(connection in net for net in trusted):
        return str(connection)
    for found in reversed(chain):
        if not any(found in net for net in trusted):
            return str(found)
    return str(chain[0]) if chain else str(connection)


def budget_key(address: str) -> str:
    """What one budget is counted for: the address, or its /64 for IPv6."""
    parsed = _address(address)
    if isinstance(parsed, ipaddress.IPv6Address):
        mapped = parsed.ipv4_mapped
        if mapped is not None:
            return str(mapped)
        return str(ipaddress.IPv6Network((parsed, 64), strict=False))
    return address


def client_key(security: Security, port: WebPort) -> str:
    """The key of this request's client budget (and of its hashing-pool share)."""
    state = request_state(port.g)
    if state.client_key is None:
        request = port.request
        address = client_address(
            request.remote_addr, request.headers.get("X-Forwarded-For"), security.trusted_proxies
        )
        state.client_key = budget_key(address)
    return state.client_key
