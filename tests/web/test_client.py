"""client_key: the address every per-client budget is keyed by."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

from quart_security.web.client import client_key


def port_with(remote_addr: str | None) -> Any:
    # A server that gives no peer address (a Unix socket, some ASGI servers) is
    # the case no test client produces, so the port is a plain stand-in here.
    return SimpleNamespace(request=SimpleNamespace(remote_addr=remote_addr))


def test_no_peer_address_is_one_named_bucket_not_none() -> None:
    # (The address as the server saw it, from a real request, is checked in
    # test_hashing_share.py: the flooder's calls are held under its address.)
    security: Any = None  # not consulted yet; trusted proxies will use it
    assert client_key(security, port_with(None)) == "unknown"
    assert client_key(security, port_with("")) == "unknown"
    assert client_key(security, port_with("2001:db8::1")) == "2001:db8::1"
