"""quart_security/helpers.py without an app: transform_url and naive_utcnow.

The helpers that need an app (get_hmac, check_and_get_token_status) are tested
on both frameworks in tests/web/test_public_helpers.py.
"""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

import flask_compat
import quart_security
from quart_security.helpers import naive_utcnow, transform_url


@pytest.mark.parametrize(
    ("url", "qparams", "parts", "expected"),
    [
        ("/login", None, {}, "/login"),
        ("/login", {"next": "/x"}, {}, "/login?next=%2Fx"),
        ("/login?a=1", {"b": "2"}, {}, "/login?a=1&b=2"),
        # qparams win over the URL's own value of the same name
        ("/login?a=1", {"a": "9"}, {}, "/login?a=9"),
        ("https://spa.example/r?x=1#frag", {"y": "2"}, {}, "https://spa.example/r?x=1&y=2#frag"),
        ("/reset", None, {"netloc": "localhost:8080"}, "//localhost:8080/reset"),
        ("http://a.example/p", {"q": "1"}, {"netloc": "b.example"}, "http://b.example/p?q=1"),
        ("http://a.example/p", None, {"scheme": "https"}, "https://a.example/p"),
        # Without qparams the query is kept exactly; with them it is re-encoded
        # and empty values go (Flask-Security's parse_qsl / urlencode).
        ("/p?a=&b=1", None, {}, "/p?a=&b=1"),
        ("/p?a=&b=1", {"c": "2"}, {}, "/p?b=1&c=2"),
        ("/p?a=1", {}, {}, "/p?a=1"),
    ],
)
def test_transform_url(
    url: str, qparams: dict[str, str] | None, parts: dict[str, str], expected: str
) -> None:
    assert transform_url(url, qparams, **parts) == expected


def test_naive_utcnow_is_utc_without_tzinfo() -> None:
    before = datetime.now(UTC).replace(tzinfo=None)
    now = naive_utcnow()
    after = datetime.now(UTC).replace(tzinfo=None)
    assert now.tzinfo is None
    assert before <= now <= after


def test_the_framework_neutral_helpers_are_the_same_objects_in_both_packages() -> None:
    for name in ("naive_utcnow", "get_hmac", "transform_url", "check_and_get_token_status"):
        assert getattr(flask_compat, name) is getattr(quart_security, name), name
