"""Open-redirect defence for user-supplied redirect targets (``next`` and friends).

Every past bypass in this area (CVE-2021-32618, CVE-2023-49438, GHSA-w2j7-f3c6-g8cw,
Flask-Login's ``is_safe_url`` snippet) lived in the gap between what ``urlsplit`` sees
and what a browser does with the same string: browsers strip control characters, read
``\\`` as ``/``, skip extra slashes after ``https:``, map fullwidth dots in host names and
percent-decode host names. So this module does not ask "does urllib see a netloc?".
It accepts only a narrow grammar that a WHATWG URL parser and an RFC 3986 parser read
the same way, checks every percent-decoded form of the input with the same rules (the
next hop may decode again), and hands back its own serialisation, never the input.

Pure functions: no Quart/Flask import, so the Quart and Flask adapters share it.
"""

from __future__ import annotations

import ipaddress
import re
import string
import unicodedata
from collections.abc import Collection
from dataclasses import dataclass
from functools import lru_cache
from typing import Final
from urllib.parse import unquote

import idna

__all__ = ["safe_next"]

_DEFAULT_PORTS: Final = {"http": 80, "https": 443}

# WHATWG "scheme state": ALPHA *( ALPHA / DIGIT / "+" / "-" / "." ) ":".
_SCHEME: Final = re.compile(r"[A-Za-z][A-Za-z0-9+.\-]*:")
# Host labels after IDNA and lower-casing. "_" is allowed because browsers allow it;
# anything else a browser might rewrite is refused.
_LABEL: Final = re.compile(r"[a-z0-9_\-]{1,63}")
_HEXDIGITS: Final = frozenset(string.hexdigits)

# Dots and slashes that IDNA (UTS 46) or NFKC turn into ".", "/" or "\": U+3002
# IDEOGRAPHIC FULL STOP and U+FF61 HALFWIDTH IDEOGRAPHIC FULL STOP are listed because
# NFKC leaves them alone while UTS 46 maps them to "."; the rest NFKC also catches.
_LOOKALIKE_DELIMITERS: Final = frozenset("\u3002\uff61\uff0e\uff0f\uff3c")
# ASCII characters that structure a URL; a non-ASCII character whose compatibility
# form contains one of these could turn into a delimiter in some normaliser downstream.
_URL_DELIMITERS: Final = frozenset("/\\.:@?#%[]")
# Control, format (bidi overrides, zero-width), surrogate, unassigned and non-ASCII
# separator characters: none belongs in a redirect target.
_REJECTED_CATEGORIES: Final = frozenset({"Cc", "Cf", "Cs", "Cn", "Zs", "Zl", "Zp"})

# Serialisation: RFC 3986 unreserved + sub-delims + ":" "@" (pchar) and "/", plus "?"
# outside the path. Everything else is percent-encoded as UTF-8, so the result is
# printable ASCII without spaces and cannot split a header or be re-read differently.
_PCHAR: Final = frozenset(string.ascii_letters + string.digits + "-._~" + "!$&'()*+,;=" + ":@")
_PATH_SAFE: Final = _PCHAR | {"/"}
_QUERY_SAFE: Final = _PATH_SAFE | {"?"}

# A legitimate target is encoded once, sometimes twice (a next inside a next). One that
# still changes on decode number _MAX_ENCODING_LEVELS + 1 is refused, not chased.
_MAX_ENCODING_LEVELS: Final = 3


@dataclass(frozen=True, slots=True)
class _Authority:
    host: str  # lower-case A-label domain, canonical dotted quad, or "[ipv6]"
    port: int | None  # None: the scheme's default port

    @property
    def is_domain(self) -> bool:
        return not self.host.startswith("[") and not _ends_in_number(self.host)


@dataclass(frozen=True, slots=True)
class _Target:
    scheme: str | None  # "http"/"https" for absolute targets, None for relative ones
    authority: _Authority | None
    path: str  # with "\" already read as "/", as browsers do for http(s)
    query: str | None
    fragment: str | None


@dataclass(frozen=True, slots=True)
class _Policy:
    schemes: frozenset[str]
    exact: tuple[_Authority, ...]
    parent: _Authority | None  # REDIRECT_ALLOW_SUBDOMAINS: any subdomain of this


def safe_next(
    target: str | None,
    *,
    request_host: str,
    request_scheme: str,
    server_name: str | None = None,
    allow_subdomains: bool = False,
    base_domain: str | None = None,
    allowed_subdomains: Collection[str] = (),
    max_length: int = 2048,
) -> str | None:
    """Return a redirect target that is safe for a ``Location`` header, or ``None``.

    ``None`` means "ignore it and use the configured view". Accepted are relative
    references without an authority (``/x``, ``x?y``) and absolute ``http``/``https``
    URLs whose host is trusted: ``server_name`` when configured (a Host header is
    attacker-controlled, SERVER_NAME is not), else ``request_host``; with
    ``allow_subdomains`` any subdomain of ``server_name``; with ``base_domain`` each
    ``<sub>.<base_domain>`` for ``sub`` in ``allowed_subdomains``. Ports compare with
    defaults filled in. The scheme must be the request's or ``https`` (an upgrade,
    never a downgrade). The limit applies to the input and to the serialised result.
    """
    if not isinstance(target, str):
        return None
    text = str.__str__(target)  # a plain str even for str subclasses
    if not text or len(text) > max_length:
        return None
    policy = _build_policy(
        request_host=request_host,
        request_scheme=request_scheme,
        server_name=server_name,
        allow_subdomains=allow_subdomains,
        base_domain=base_domain,
        allowed_subdomains=allowed_subdomains,
    )
    parsed = _parse(text)
    if parsed is None or not _is_allowed(parsed, policy):
        return None
    # Query arguments arrive decoded once; a form field does not; the next hop may
    # decode again. Every decoded form must be safe on its own.
    current = text
    for _ in range(_MAX_ENCODING_LEVELS + 1):
        decoded = unquote(current)
        if decoded == current:
            break
        again = _parse(decoded)
        if again is None or not _is_allowed(again, policy):
            return None
        current = decoded
    else:
        return None
    result = _serialise(parsed)
    return result if len(result) <= max_length else None


# --- policy ------------------------------------------------------------------------


def _build_policy(
    *,
    request_host: str,
    request_scheme: str,
    server_name: str | None,
    allow_subdomains: bool,
    base_domain: str | None,
    allowed_subdomains: Collection[str],
) -> _Policy:
    scheme = request_scheme.lower() if isinstance(request_scheme, str) else ""
    schemes = frozenset({scheme, "https"} & _DEFAULT_PORTS.keys())

    configured = _parse_config_authority(server_name)
    trusted = configured if server_name else _parse_config_authority(request_host)
    exact: list[_Authority] = [trusted] if trusted is not None else []

    parent = configured if allow_subdomains and configured and configured.is_domain else None

    base = _parse_config_authority(base_domain)
    if base is not None and base.is_domain:
        subs = (allowed_subdomains,) if isinstance(allowed_subdomains, str) else allowed_subdomains
        for sub in subs:
            if not isinstance(sub, str) or not sub:
                continue  # fail closed on a malformed config entry
            host = _normalise_host(f"{sub}.{base.host}")
            if host is not None:
                exact.append(_Authority(host, base.port))
    return _Policy(schemes=schemes, exact=tuple(exact), parent=parent)


def _parse_config_authority(value: str | None) -> _Authority | None:
    if not isinstance(value, str) or not value or any(_is_rejected_char(c) for c in value):
        return None
    return _parse_authority(value.replace("\\", "/"))


def _is_allowed(target: _Target, policy: _Policy) -> bool:
    if target.authority is None:
        return True  # relative: resolves against the URL the browser is already on
    scheme = target.scheme
    if scheme is None or scheme not in policy.schemes:
        return False
    auth = target.authority
    default = _DEFAULT_PORTS[scheme]
    port = default if auth.port is None else auth.port

    def port_ok(allowed: _Authority) -> bool:
        return port == (default if allowed.port is None else allowed.port)

    if any(auth.host == allowed.host and port_ok(allowed) for allowed in policy.exact):
        return True
    parent = policy.parent
    if parent is not None and auth.is_domain and port_ok(parent):
        return auth.host == parent.host or auth.host.endswith("." + parent.host)
    return False


# --- parsing -----------------------------------------------------------------------


def _parse(text: str) -> _Target | None:
    """Parse one form of the target, or None if any parser could read it two ways."""
    if not text or text[0] == " " or text[-1] == " ":
        return None  # browsers strip these; refuse rather than guess what was meant
    if any(_is_rejected_char(c) for c in text):
        return None
    rest, has_fragment, fragment = text.partition("#")
    rest, has_query, query = rest.partition("?")
    head = rest.replace("\\", "/")
    query_part = query if has_query else None
    fragment_part = fragment if has_fragment else None

    match = _SCHEME.match(head)
    if match is not None:
        scheme = match.group()[:-1]
        if scheme not in _DEFAULT_PORTS:  # case-sensitive: "HTTPS:" and "JaVaScRiPt:" fail
            return None
        after = rest[match.end() :]
        # Only "scheme://host": WHATWG reads "https:host", "https:/host", "https:\\host"
        # and "https:///host" as host references too, other parsers as paths. A "\"
        # in the authority ends it for a browser but not for urllib: refuse it too.
        if not after.startswith("//") or after[2:3] in ("", "/", "\\"):
            return None
        if "\\" in after[2:].partition("/")[0]:
            return None
        after = after.replace("\\", "/")
        authority_text, slash, path_rest = after[2:].partition("/")
        authority = _parse_authority(authority_text)
        path = slash + path_rest
        if authority is None or _has_dot_segment(path):
            return None
        return _Target(scheme, authority, path, query_part, fragment_part)

    if head.startswith("//"):
        return None  # scheme-relative: names a host
    if ":" in head.split("/", 1)[0]:
        return None  # RFC 3986 4.2: a first segment with ":" reads as a scheme
    if _has_dot_segment(head):
        return None
    return _Target(None, None, head, query_part, fragment_part)


def _parse_authority(text: str) -> _Authority | None:
    # "@": userinfo confusion. "%": browsers percent-decode hosts before IDNA.
    if not text or "@" in text or "%" in text or "/" in text:
        return None
    if text.startswith("["):
        end = text.find("]")
        if end < 0:
            return None
        host_text, port_text = text[: end + 1], text[end + 1 :]
        if port_text and not port_text.startswith(":"):
            return None
        port_text = port_text[1:]
    else:
        host_text, _, port_text = text.partition(":")
    host = _normalise_host(host_text)
    if host is None:
        return None
    if not port_text:
        return _Authority(host, None)
    if len(port_text) > 5 or not (port_text.isascii() and port_text.isdigit()):
        return None
    port = int(port_text)
    return _Authority(host, port) if port <= 65535 else None


def _normalise_host(text: str) -> str | None:
    """Lower-case A-label form, as a browser would send it, or None if ambiguous."""
    if not text:
        return None
    if text.startswith("["):
        if not text.endswith("]"):
            return None
        try:
            address = ipaddress.IPv6Address(text[1:-1])
        except ValueError:
            return None
        return None if address.scope_id else f"[{address.compressed}]"
    if text.isascii():
        host = text.lower()
    else:
        try:
            # Browsers use UTS 46 non-transitional processing ("ß" stays "ß").
            host = idna.encode(text, uts46=True, transitional=False).decode("ascii").lower()
        except (UnicodeError, ValueError):
            return None
    if len(host) > 253:
        return None
    if not all(_LABEL.fullmatch(label) for label in host.split(".")):
        return None
    if _ends_in_number(host):
        # WHATWG parses this as IPv4 ("0x7f.1", "017.0.0.1", "2130706433"); only the
        # canonical dotted quad means the same thing everywhere.
        try:
            address4 = ipaddress.IPv4Address(host)
        except ValueError:
            return None
        if str(address4) != host:
            return None
    return host


def _ends_in_number(host: str) -> bool:
    last = host.rsplit(".", 1)[-1]
    if last.isascii() and last.isdigit():
        return True
    return last[:2] in ("0x", "0X") and all(c in _HEXDIGITS for c in last[2:])


def _has_dot_segment(path: str) -> bool:
    # Refused instead of resolved: "/a/..//evil" collapses to "//evil" in any component
    # downstream that normalises paths without knowing the host is already fixed.
    for segment in path.split("/"):
        if segment.lower().replace("%2e", ".") in (".", ".."):
            return True
    return False


def _is_rejected_char(char: str) -> bool:
    code = ord(char)
    if code < 0x80:
        return code < 0x20 or code == 0x7F
    return _is_rejected_non_ascii(char)


@lru_cache(maxsize=2048)
def _is_rejected_non_ascii(char: str) -> bool:
    if char in _LOOKALIKE_DELIMITERS or unicodedata.category(char) in _REJECTED_CATEGORIES:
        return True
    folded = unicodedata.normalize("NFKC", char)
    return any(c in _URL_DELIMITERS or ord(c) <= 0x20 or ord(c) == 0x7F for c in folded)


# --- serialisation -----------------------------------------------------------------


def _serialise(target: _Target) -> str:
    parts: list[str] = []
    if target.authority is not None and target.scheme is not None:
        auth = target.authority
        parts.append(f"{target.scheme}://{auth.host}")
        if auth.port is not None and auth.port != _DEFAULT_PORTS[target.scheme]:
            parts.append(f":{auth.port}")
        parts.append(_quote(target.path, _PATH_SAFE) or "/")
    else:
        parts.append(_quote(target.path, _PATH_SAFE))
    if target.query is not None:
        parts.append("?" + _quote(target.query, _QUERY_SAFE))
    if target.fragment is not None:
        parts.append("#" + _quote(target.fragment, _QUERY_SAFE))
    return "".join(parts)


def _quote(text: str, safe: frozenset[str]) -> str:
    """Percent-encode what is not ``safe``; keep existing valid ``%XX`` escapes as they are."""
    out: list[str] = []
    i, n = 0, len(text)
    while i < n:
        char = text[i]
        if char == "%" and i + 2 < n and text[i + 1] in _HEXDIGITS and text[i + 2] in _HEXDIGITS:
            out.append(text[i : i + 3])
            i += 3
            continue
        if char in safe:
            out.append(char)
        else:
            out.extend(f"%{byte:02X}" for byte in char.encode("utf-8"))
        i += 1
    return "".join(out)
