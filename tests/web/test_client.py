"""The client address every per-client budget is keyed by (web/client.py), behind proxies or not."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest

from quart_security.web.client import budget_key, client_address, client_key, trusted_networks


def port_with(remote_addr: str | None, forwarded: str | None = None) -> Any:
    # A server that gives no peer address (a Unix socket, some ASGI servers) is
    # the case no test client produces, so the port is a plain stand-in here.
    headers = {"X-Forwarded-For": forwarded} if forwarded else {}
    return SimpleNamespace(
        request=SimpleNamespace(remote_addr=remote_addr, headers=headers), g=SimpleNamespace()
    )


def security_with(trusted: Any = 0) -> Any:
    return SimpleNamespace(trusted_proxies=trusted_networks(trusted))


def test_no_peer_address_is_one_named_bucket_not_none() -> None:
    assert client_key(security_with(), port_with(None)) == "unknown"
    assert client_key(security_with(), port_with("")) == "unknown"
    assert client_key(security_with(), port_with("not an address")) == "unknown"


def test_without_trusted_proxies_the_header_is_never_read() -> None:
    assert client_address("192.0.2.1", "203.0.113.9", 0) == "192.0.2.1"


@pytest.mark.parametrize(
    ("forwarded", "hops", "client"),
    [
        ("203.0.113.9", 1, "203.0.113.9"),
        ("10.0.0.1, 203.0.113.9", 1, "203.0.113.9"),  # a spoofed left part is not read
        ("6.6.6.6, 203.0.113.9, 198.51.100.2", 2, "203.0.113.9"),
        ("203.0.113.9", 2, "192.0.2.1"),  # fewer hops than proxies: not the proxies' header
        ("junk, 203.0.113.9", 1, "203.0.113.9"),
        (None, 1, "192.0.2.1"),
    ],
)
def test_a_count_of_trusted_proxies(forwarded: str | None, hops: int, client: str) -> None:
    assert client_address("192.0.2.1", forwarded, hops) == client


def test_trusted_networks_walk_from_the_right_past_the_proxies() -> None:
    nets = trusted_networks(["10.0.0.0/8", "fd00::/8"])
    assert client_address("10.0.0.5", "6.6.6.6, 203.0.113.9, 10.1.2.3", nets) == "203.0.113.9"
    # A connection that is not a trusted proxy: its own address, whatever it says.
    assert client_address("192.0.2.1", "203.0.113.9", nets) == "192.0.2.1"
    # Only proxies in the chain: the leftmost.
    assert client_address("10.0.0.5", "10.9.9.9", nets) == "10.9.9.9"


def test_ipv6_clients_share_a_budget_per_64_and_mapped_ipv4_is_ipv4() -> None:
    assert budget_key("2001:db8:1:2:aaaa::1") == budget_key("2001:db8:1:2:bbbb::2")
    assert budget_key("2001:db8:1:2::1") != budget_key("2001:db8:1:3::1")
    assert budget_key("::ffff:192.0.2.7") == "192.0.2.7"
    assert budget_key("192.0.2.7") == "192.0.2.7"


@pytest.mark.parametrize("value", [-1, True, "10.0.0.0/8", ["not a network"], 1.5])
def test_a_trusted_proxies_setting_that_is_neither_is_refused(value: Any) -> None:
    with pytest.raises(ValueError, match="TRUSTED_PROXIES"):
        trusted_networks(value)


def test_the_key_is_worked_out_once_per_request() -> None:
    port = port_with("192.0.2.1")
    port.g = SimpleNamespace()
    first = client_key(security_with(), port)
    port.request.remote_addr = "198.51.100.1"  # the same request: the key stays
    assert client_key(security_with(), port) == first == "192.0.2.1"
