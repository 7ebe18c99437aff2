"""A-05 open-redirect corpus (C-01, C-02, C-03, C-18) against ``safe_next``.

Every result is resolved with ada (a WHATWG URL parser, the algorithm browsers use)
against the login page, so "safe" means what a browser would do with the ``Location``
header, not what ``urllib`` thinks.
"""

from __future__ import annotations

import string
from typing import Any
from urllib.parse import unquote

import pytest
from ada_url import URL
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from quart_security.web.redirects import safe_next

HOST = "good.example"
ORIGIN = "https://good.example"
LOGIN = "https://good.example/login"
REJECT = None

DEFAULT: dict[str, Any] = {"request_host": HOST, "request_scheme": "https"}
SUBDOMAINS: dict[str, Any] = {**DEFAULT, "server_name": HOST, "allow_subdomains": True}
SIDE_DOMAINS: dict[str, Any] = {
    **DEFAULT,
    "base_domain": HOST,
    "allowed_subdomains": ["blog", "my.photo"],
}
MODES = {"default": DEFAULT, "subdomains": SUBDOMAINS, "side-domains": SIDE_DOMAINS}


def lands_home(result: str, *, subdomains_ok: bool = False) -> bool:
    """What a browser does with ``Location: result`` on the login page stays with us."""
    if any(c in result for c in "\r\n\x00") or not (result.isascii() and result.isprintable()):
        return False
    resolved = URL(result, LOGIN)
    if resolved.origin == ORIGIN:
        return True
    return (
        subdomains_ok
        and resolved.protocol == "https:"
        and resolved.port == ""
        and resolved.hostname.endswith("." + HOST)
    )


def check(result: str | None, *, subdomains_ok: bool = False) -> None:
    if result is not None:
        assert lands_home(result, subdomains_ok=subdomains_ok), result


# Every payload of A-05 rows 1-17: (row, payload, result for the raw payload, result
# for the payload percent-decoded once as a query argument reaches the app). REJECT for
# attacks; the exact serialisation for payloads that are harmless once re-serialised.
def attack(row: int, payload: str) -> tuple[int, str, str | None, str | None]:
    return (row, payload, REJECT, REJECT)


def benign(
    row: int, payload: str, raw: str, decoded: str | None = None
) -> tuple[int, str, str | None, str | None]:
    return (row, payload, raw, raw if decoded is None else decoded)


CORPUS: list[tuple[int, str, str | None, str | None]] = [
    attack(1, "https://evil.example"),
    attack(2, "//evil.example"),
    attack(2, "///evil.example"),
    attack(2, "////evil.example"),
    attack(3, "/\\evil.example"),
    attack(3, "\\/evil.example"),
    attack(3, "\\\\evil.example"),
    attack(3, "\\\\\\evil.example"),
    attack(4, "/\\\\evil.example"),
    attack(4, "\\\\/evil.example"),
    attack(5, " //evil.example"),
    attack(5, "\t//evil.example"),
    attack(5, "\n//evil.example"),
    attack(5, "/\t/evil.example"),
    benign(5, "/ /evil.example", "/%20/evil.example"),
    attack(6, "%2F%2Fevil.example"),
    attack(6, "%2F%5Cevil.example"),
    attack(6, "/%2F/evil.example"),
    attack(6, "%252F%252Fevil.example"),
    attack(7, "https:evil.example"),
    attack(7, "http:/evil.example"),
    attack(7, "https:/\\evil.example"),
    attack(7, "https:\\\\evil.example"),
    attack(8, "javascript:alert(1)"),
    attack(8, "JaVaScRiPt:alert(1)"),
    attack(8, "java%0ascript:alert(1)"),
    attack(8, "\x01javascript:alert(1)"),
    attack(8, "data:text/html,<script>alert(1)</script>"),
    attack(8, "vbscript:x"),
    attack(9, "https://good.example@evil.example"),
    attack(9, "//good.example@evil.example"),
    attack(9, "https://good.example:443@evil.example"),
    attack(9, "https://user:pw@evil.example"),
    attack(10, "https://good.example.evil.example"),
    attack(10, "https://evilgood.example"),
    attack(10, "https://evil.example/good.example"),
    attack(11, "https://evil.example\\.good.example"),
    attack(11, "https://evil.example%5C.good.example"),
    attack(11, "https://u:p@evil.example\\.good.example"),
    attack(12, "//evil\u3002example"),
    attack(12, "//evil\uff0eexample"),
    attack(12, "\uff0f\uff0fevil.example"),
    attack(12, "//\uff45\uff56\uff49\uff4c.example"),
    attack(13, "\x00//evil.example"),
    attack(13, "%00//evil.example"),
    attack(14, "/path%0d%0aSet-Cookie:%20x=y"),
    attack(14, "/path\r\nLocation: //evil.example"),
    # A nested next is only a path plus a query here; the hop that reads it validates it.
    benign(15, "/login?next=//evil.example", "/login?next=//evil.example"),
    benign(
        15,
        "/login?next=%2F%2Fevil.example",
        "/login?next=%2F%2Fevil.example",
        "/login?next=//evil.example",
    ),
    benign(
        15,
        "/tf-validate?next=/login%3Fnext%3D%252F%252Fevil.example",
        "/tf-validate?next=/login%3Fnext%3D%252F%252Fevil.example",
        "/tf-validate?next=/login?next=%2F%2Fevil.example",
    ),
    attack(15, "/login?next=//evil.example#\r\nx"),
    attack(16, "/" + "a" * 100_000),
    attack(16, "/?next=" + "%2F" * 40_000),
    benign(17, "https://GOOD.example/ok", "https://good.example/ok"),
    benign(17, "https://good.example:443/ok", "https://good.example/ok"),
    benign(17, "/ok?x=//evil", "/ok?x=//evil"),
]


def corpus_cases() -> list[Any]:
    cases = []
    for index, (row, payload, raw_expected, decoded_expected) in enumerate(CORPUS):
        label = f"row{row:02d}-{index:02d}"
        for mode in MODES:
            cases.append(pytest.param(payload, raw_expected, mode, id=f"{label}-raw-{mode}"))
            cases.append(
                pytest.param(unquote(payload), decoded_expected, mode, id=f"{label}-decoded-{mode}")
            )
    return cases


def test_corpus_covers_every_a05_row() -> None:
    assert {row for row, *_ in CORPUS} == set(range(1, 18))


@pytest.mark.parametrize(("payload", "expected", "mode"), corpus_cases())
def test_a05_corpus(payload: str, expected: str | None, mode: str) -> None:
    result = safe_next(payload, **MODES[mode])
    check(result, subdomains_ok=mode != "default")
    assert result == expected


# --- subdomain settings (REDIRECT_ALLOW_SUBDOMAINS, REDIRECT_BASE_DOMAIN) -----------


@pytest.mark.parametrize(
    ("target", "expected"),
    [
        ("https://blog.good.example/post", "https://blog.good.example/post"),
        ("https://a.b.good.example/", "https://a.b.good.example/"),
        ("https://BLOG.Good.Example/x", "https://blog.good.example/x"),
        ("https://good.example/x", "https://good.example/x"),
        # GHSA-w2j7-f3c6-g8cw: "\" ends the authority in a browser.
        ("https://evil.example\\.good.example", REJECT),
        ("https://evil.example\\.good.example/", REJECT),
        ("https://u:p@evil.example\\.good.example", REJECT),
        ("https://evil.example%5C.good.example", REJECT),
        ("https://evil.example%2F.good.example", REJECT),
        ("https://evil.example%2E.good.example", REJECT),
        ("https://evil.example?.good.example", REJECT),
        ("https://evil.example#.good.example", REJECT),
        ("https://evil.example/.good.example", REJECT),
        ("https://evil.example:443.good.example", REJECT),
        ("https://evilgood.example", REJECT),
        ("https://good.example.evil.example", REJECT),
        ("https://blog.good.example:8443/", REJECT),
        ("https://blog.good.example\u3002evil.example", REJECT),
        ("https://.good.example/", REJECT),
    ],
)
def test_allow_subdomains(target: str, expected: str | None) -> None:
    assert safe_next(target, **SUBDOMAINS) == expected
    decoded = safe_next(unquote(target), **SUBDOMAINS)
    check(decoded, subdomains_ok=True)
    assert decoded in (expected, None)


def test_allow_subdomains_needs_server_name() -> None:
    config = {**DEFAULT, "allow_subdomains": True}
    assert safe_next("https://blog.good.example/", **config) is None
    assert safe_next("https://good.example/", **config) == "https://good.example/"


def test_allow_subdomains_respects_server_name_port() -> None:
    config = {**DEFAULT, "server_name": "good.example:8443", "allow_subdomains": True}
    assert safe_next("https://a.good.example:8443/", **config) == "https://a.good.example:8443/"
    assert safe_next("https://a.good.example/", **config) is None


@pytest.mark.parametrize(
    ("target", "expected"),
    [
        ("https://blog.good.example/p", "https://blog.good.example/p"),
        ("http://my.photo.good.example/image", None),  # https request: no downgrade
        ("https://my.photo.good.example/image", "https://my.photo.good.example/image"),
        ("https://blog2.good.example/", REJECT),
        ("https://photo.good.example/", REJECT),
        ("https://x.blog.good.example/", REJECT),
        ("https://evil.example\\.blog.good.example", REJECT),
        ("https://blog.good.example\\@evil.example", REJECT),
    ],
)
def test_base_domain_allowed_subdomains(target: str, expected: str | None) -> None:
    assert safe_next(target, **SIDE_DOMAINS) == expected


def test_base_domain_upstream_example_over_http() -> None:
    # Flask-Security's own example (REDIRECT_BASE_DOMAIN="bigidea.org").
    config: dict[str, Any] = {
        "request_host": "app.bigidea.org",
        "request_scheme": "http",
        "base_domain": "bigidea.org",
        "allowed_subdomains": ["my.photo", "blog"],
    }
    url = "http://my.photo.bigidea.org/image"
    assert safe_next(url, **config) == url
    assert safe_next("http://blog2.bigidea.org", **config) is None
    assert safe_next("http://bigidea.org/", **config) is None


def test_a_bare_string_of_subdomains_is_one_entry_not_letters() -> None:
    config = {**DEFAULT, "base_domain": HOST, "allowed_subdomains": "blog"}
    assert safe_next("https://blog.good.example/", **config) == "https://blog.good.example/"
    assert safe_next("https://b.good.example/", **config) is None


def test_wildcards_and_garbage_in_config_allow_nothing() -> None:
    config = {**DEFAULT, "base_domain": HOST, "allowed_subdomains": ["*", "", "a/b", "x@y"]}
    for target in (
        "https://evil.good.example/",
        "https://a.good.example/",
        "https://x.good.example/",
    ):
        assert safe_next(target, **config) is None


# --- host, port and scheme -----------------------------------------------------------


@pytest.mark.parametrize(
    ("target", "request_host", "request_scheme", "expected"),
    [
        ("https://good.example:443/ok", "good.example:443", "https", "https://good.example/ok"),
        ("https://good.example/ok", "good.example:443", "https", "https://good.example/ok"),
        (
            "https://good.example:8443/ok",
            "good.example:8443",
            "https",
            "https://good.example:8443/ok",
        ),
        ("https://good.example/ok", "good.example:8443", "https", None),
        ("https://good.example:8443/ok", "good.example", "https", None),
        ("http://good.example/ok", "good.example", "https", None),  # downgrade
        ("https://good.example/ok", "good.example", "http", "https://good.example/ok"),  # upgrade
        ("http://good.example:443/ok", "good.example", "http", None),
        ("https://good.example:/ok", "good.example", "https", "https://good.example/ok"),
        ("https://good.example:0443/ok", "good.example", "https", "https://good.example/ok"),
        ("https://good.example:99999/ok", "good.example", "https", None),
        ("https://good.example:+443/ok", "good.example", "https", None),
        ("https://good.example.:443/ok", "good.example", "https", None),
        ("HTTPS://good.example/ok", "good.example", "https", None),
        ("https://[::1]:8000/x", "[::1]:8000", "https", "https://[::1]:8000/x"),
        ("https://[0:0::1]:8000/x", "[::1]:8000", "https", "https://[::1]:8000/x"),
        ("https://[::2]:8000/x", "[::1]:8000", "https", None),
        ("https://127.0.0.1:5000/x", "127.0.0.1:5000", "https", "https://127.0.0.1:5000/x"),
        ("https://0x7f.0.0.1:5000/x", "127.0.0.1:5000", "https", None),
        ("https://2130706433:5000/x", "127.0.0.1:5000", "https", None),
        ("https://127.0.0.01:5000/x", "127.0.0.1:5000", "https", None),
        (
            "https://b\u00fccher.example/x",
            "xn--bcher-kva.example",
            "https",
            "https://xn--bcher-kva.example/x",
        ),
        (
            "https://B\u00dcCHER.example/x",
            "xn--bcher-kva.example",
            "https",
            "https://xn--bcher-kva.example/x",
        ),
        # UTS 46 non-transitional, as browsers: "ß" is not "ss".
        ("https://gro\u00df.example/x", "gross.example", "https", None),
        # A browser ends the authority at "\\", urllib does not: refused either way.
        ("https://good.example\\ok", "good.example", "https", None),
        ("https://good.example\\@evil.example", "good.example", "https", None),
        ("https://good.example/a\\b", "good.example", "https", "https://good.example/a/b"),
        ("https://good.example/x", "evil.example/", "https", None),
        ("https://good.example/x", "u@good.example", "https", None),
    ],
)
def test_host_port_scheme(
    target: str, request_host: str, request_scheme: str, expected: str | None
) -> None:
    assert safe_next(target, request_host=request_host, request_scheme=request_scheme) == expected


def test_server_name_beats_a_poisoned_host_header() -> None:
    poisoned: dict[str, Any] = {
        "request_host": "evil.example",
        "request_scheme": "https",
        "server_name": HOST,
    }
    assert safe_next("https://evil.example/x", **poisoned) is None
    assert safe_next("https://good.example/x", **poisoned) == "https://good.example/x"
    assert safe_next("/x", **poisoned) == "/x"


# --- inputs that are not targets -----------------------------------------------------


@pytest.mark.parametrize("value", [None, b"/ok", 42, ["/ok"], {"next": "/ok"}, ""])
def test_non_str_or_empty_is_none(value: Any) -> None:
    assert safe_next(value, **DEFAULT) is None
    assert safe_next(value, **DEFAULT) is None


def test_str_subclass_is_read_as_plain_text() -> None:
    class Sneaky(str):
        def startswith(self, *args: Any, **kwargs: Any) -> bool:
            return False

        def __str__(self) -> str:
            return "//evil.example"

    assert safe_next(Sneaky("//evil.example"), **DEFAULT) is None
    assert safe_next(Sneaky("/ok"), **DEFAULT) == "/ok"


def test_max_length() -> None:
    ok = "/" + "a" * 99
    assert safe_next(ok, **DEFAULT, max_length=100) == ok
    assert safe_next(ok + "a", **DEFAULT, max_length=100) is None
    # The serialised result is bounded too (each "é" becomes six characters).
    assert safe_next("/" + "\u00e9" * 20, **DEFAULT, max_length=100) is None


@pytest.mark.parametrize(
    "payload",
    [
        ".",
        "..",
        "/a/../b",
        "/a/%2e%2E/b",
        "/./\\/evil.example",
        "/.//evil.example",
        "a:b",
        "a%3Ab",
        "https%3A%2F%2Fevil.example",
        "mailto:x@evil.example",
        "/ok ",
        " /ok",
        "/ok\u00a0",
        "/ok\u200b",
        "/ok\u202e",
        "/ok\u2028",
        "/ok\x85",
        "/ok\x7f",
        "/ok\ud800",
        "/ok\uff05",
        "/\u2100",
        "/ok\uff61x",
        "/x%2525252541",  # four levels of encoding
    ],
)
def test_ambiguous_forms_are_refused(payload: str) -> None:
    assert safe_next(payload, **DEFAULT) is None


@pytest.mark.parametrize(
    ("payload", "expected"),
    [
        ("/ok", "/ok"),
        ("ok", "ok"),
        ("ok/x?y=1", "ok/x?y=1"),
        ("?tab=2", "?tab=2"),
        ("#section", "#section"),
        ("/a\\b", "/a/b"),  # what a browser does with "\" in an http(s) path
        ("/ok?q=a\\b", "/ok?q=a%5Cb"),
        ("/caf\u00e9?q=\u00fc#\u00e0", "/caf%C3%A9?q=%C3%BC#%C3%A0"),
        ('/ok?q=<script>"x"', "/ok?q=%3Cscript%3E%22x%22"),
        ("/100%", "/100%25"),
        ("/ok?q=100%25", "/ok?q=100%25"),
        ("/a%2Fb", "/a%2Fb"),
        ("/ok?next=https%3A%2F%2Fevil.example", "/ok?next=https%3A%2F%2Fevil.example"),
        ("/a:b@c", "/a:b@c"),
        ("/...", "/..."),
        ("/x%252541", "/x%252541"),  # three levels of encoding are still read
    ],
)
def test_serialisation(payload: str, expected: str) -> None:
    assert safe_next(payload, **DEFAULT) == expected


# --- properties ---------------------------------------------------------------------

# fmt: off
TOKENS = [
    "/", "\\", "//", "\\\\", ":", "@", ".", "..", "%", "%2F", "%2f", "%5C", "%2E", "%25",
    "%252F", "%0d", "%0A", "%00", "%20", "?", "#", " ", "\t", "\n", "\r", "\x00", "\x01",
    "\x7f", "\x85", "http", "https", "HTTP", "http:", "https:", "javascript:", "data:",
    "evil.example", "good.example", "GOOD.example", "blog.good.example", "evil", ":443",
    ":80", ":8443", "[::1]", "127.0.0.1", "0x7f", "u:p@", "\u3002", "\uff0e", "\uff0f",
    "\uff3c", "\uff61", "\uff45", "\u00df", "\u00e9", "\u200b", "\u202e", "xn--", "a",
]
# fmt: on
urlish = st.lists(st.sampled_from(TOKENS), max_size=12).map("".join)
anything = st.text(max_size=200)
PROPERTY_SETTINGS = settings(
    max_examples=400, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow]
)


def assert_property(text: str, mode: str) -> None:
    subdomains_ok = mode != "default"
    result = safe_next(text, **MODES[mode])
    if result is None:
        return
    assert lands_home(result, subdomains_ok=subdomains_ok), (text, result)
    # The next hop may decode it once more; that must still be safe.
    decoded = unquote(result)
    assert not any(c in decoded for c in "\r\n\x00"), (text, result)
    assert lands_home(safe_next(decoded, **MODES[mode]) or "/", subdomains_ok=subdomains_ok)
    # Stable: our own output passes unchanged.
    assert safe_next(result, **MODES[mode]) == result, (text, result)


@PROPERTY_SETTINGS
@given(text=urlish, mode=st.sampled_from(sorted(MODES)))
def test_property_urlish_text_never_leaves_origin(text: str, mode: str) -> None:
    assert_property(text, mode)


@PROPERTY_SETTINGS
@given(text=anything, mode=st.sampled_from(sorted(MODES)))
def test_property_arbitrary_text_never_leaves_origin(text: str, mode: str) -> None:
    assert_property(text, mode)


@PROPERTY_SETTINGS
@given(
    path=st.text(alphabet=string.ascii_letters + string.digits + "-_~", min_size=1, max_size=20),
    query=st.text(alphabet=string.ascii_letters + string.digits + "=&", max_size=20),
)
def test_property_plain_local_paths_are_kept(path: str, query: str) -> None:
    target = f"/{path}?{query}"
    assert safe_next(target, **DEFAULT) == target
    assert safe_next(ORIGIN + target, **DEFAULT) == ORIGIN + target
