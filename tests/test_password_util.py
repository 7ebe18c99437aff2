"""quart_security/password_util.py: pwned() and Flask-Security's validators against a
local range API (counts, thresholds, a site that is down, one that never answers),
and the start-up checks of password_util_cls / username_util_cls and the new keys.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from quart_security import (
    PasswordUtil,
    Security,
    UsernameUtil,
    password_breached_validator,
    password_complexity_validator,
    password_length_validator,
    pwned,
)
from quart_security.crypto.password_policy import HIBP_RANGE_URL
from quart_security.errors import ConfigurationError, MessageText
from tests.support.app_factory import BuiltApp, create_test_app, sql_store
from tests.support.range_api import RangeApi, Silent, closed_port, range_api, sha1_hex

SEEN = "correct horse battery"  # the local API counts it 3 times

Build = Callable[..., Awaitable[BuiltApp]]


@pytest.fixture
def api() -> Iterator[RangeApi]:
    with range_api({SEEN: 3}) as server:
        yield server


@pytest.fixture
async def build(tmp_path: Path) -> AsyncIterator[Build]:
    """``await build(**settings)``: a Quart app (closed afterwards)."""
    made: list[BuiltApp] = []

    async def factory(**settings: Any) -> BuiltApp:
        directory = tmp_path / f"app{len(made)}"
        directory.mkdir()
        built = await create_test_app("sqlite", directory, settings=settings)
        made.append(built)
        return built

    yield factory
    for built in made:
        built.security.hashing_pool.shutdown()
        await built.close()


def keys(errors: list[str] | None) -> list[str] | None:
    return None if errors is None else [e.key for e in errors if isinstance(e, MessageText)]


# ---------------------------------------------------------------------- pwned
async def test_pwned_counts_and_sends_only_the_prefix(build: Build, api: RangeApi) -> None:
    built = await build(password_breached_range_url=api.url)
    async with built.app.app_context():
        assert await pwned(SEEN) == 3
        assert await pwned("never seen anywhere") == 0
    assert api.paths == [
        f"/range/{sha1_hex(SEEN)[:5]}",
        f"/range/{sha1_hex('never seen anywhere')[:5]}",
    ]


async def test_pwned_raises_when_the_site_is_down(build: Build) -> None:
    built = await build(password_breached_range_url=closed_port())
    async with built.app.app_context():
        with pytest.raises(OSError):
            await pwned(SEEN)


async def test_pwned_raises_on_an_http_error(build: Build, api: RangeApi) -> None:
    api.status = 503
    built = await build(password_breached_range_url=api.url)
    async with built.app.app_context():
        with pytest.raises(Exception, match="HTTP 503"):
            await pwned(SEEN)


async def test_a_site_that_never_answers_ends_at_the_timeout(build: Build) -> None:
    silent = Silent()
    try:
        built = await build(
            password_breached_range_url=silent.url,
            password_breached_timeout=0.2,
            password_check_breached="strict",
        )
        async with built.app.app_context():
            with pytest.raises(TimeoutError):
                await pwned(SEEN)
            errors = await password_breached_validator(SEEN)
            assert keys(errors) == ["PASSWORD_BREACHED_SITE_ERROR"]
    finally:
        silent.close()


# ---------------------------------------------------------------------- the validators
@pytest.mark.parametrize(("count", "refused"), [(1, True), (3, True), (4, False)])
async def test_breached_count_is_the_threshold(
    build: Build, api: RangeApi, count: int, refused: bool
) -> None:
    built = await build(
        password_check_breached=True,
        password_breached_count=count,
        password_breached_range_url=api.url,
    )
    async with built.app.app_context():
        errors = await password_breached_validator(SEEN)
        assert keys(errors) == (["PASSWORD_BREACHED"] if refused else None)
        if errors:
            assert errors == [built.security.message("PASSWORD_BREACHED")]
        # And the default PasswordUtil applies the same rule.
        util_errors, _ = await built.security.password_util.validate(SEEN, True, email="a@b.c")
        assert keys(util_errors) == keys(errors)


async def test_breached_check_off_asks_no_one(build: Build, api: RangeApi) -> None:
    built = await build(password_breached_range_url=api.url)
    async with built.app.app_context():
        assert await password_breached_validator(SEEN) is None
        assert await built.security.password_util.validate(SEEN, True) == (None, SEEN)
    assert api.paths == []


@pytest.mark.parametrize(("mode", "expected"), [(True, None), ("strict", "site")])
async def test_site_down_by_mode(build: Build, mode: Any, expected: str | None) -> None:
    built = await build(password_check_breached=mode, password_breached_range_url=closed_port())
    async with built.app.app_context():
        errors = await password_breached_validator(SEEN)
    assert keys(errors) == (None if expected is None else ["PASSWORD_BREACHED_SITE_ERROR"])


async def test_length_validator_reads_the_settings(build: Build) -> None:
    built = await build(password_length_min=10)
    async with built.app.app_context():
        assert password_length_validator("x" * 10) is None
        errors = password_length_validator("x" * 9)
        assert keys(errors) == ["PASSWORD_INVALID_LENGTH"]
        assert errors == [built.security.message("PASSWORD_INVALID_LENGTH", length=10)]
        assert keys(password_length_validator("x" * 129)) == ["PASSWORD_INVALID_LENGTH"]


async def test_complexity_validator_never_fakes_a_score(build: Build) -> None:
    built = await build()
    async with built.app.app_context():
        assert password_complexity_validator("aaaaaaaa", True, email="a@b.c") is None
        # Refused at start-up; forced in anyway, it says why instead of scoring.
        built.app.config["SECURITY_PASSWORD_COMPLEXITY_CHECKER"] = "zxcvbn"
        with pytest.raises(NotImplementedError, match="zxcvbn"):
            password_complexity_validator("aaaaaaaa", True)


async def test_validators_need_an_app() -> None:
    with pytest.raises(RuntimeError, match="current app"):
        password_length_validator("whatever you like")


async def test_default_validate_normalises_and_returns_keyed_text(build: Build) -> None:
    built = await build()
    util = built.security.password_util
    async with built.app.app_context():
        assert await util.validate("ﬁne password", True) == (None, "fine password")
        errors, _ = await util.validate("short", True)
        assert errors == [built.security.message("PASSWORD_INVALID_LENGTH", length=8)]
        assert keys(errors) == ["PASSWORD_INVALID_LENGTH"]
        errors, _ = await util.validate("joe@lp.com", True, email="joe@lp.com")
        assert keys(errors) == ["PASSWORD_TOO_SIMPLE"]


# ---------------------------------------------------------------------- start-up checks
class NoValidate:
    def __init__(self, app: Any) -> None:
        pass

    def normalize(self, password: str) -> str:
        return password


class AsyncNormalize(UsernameUtil):
    async def normalize(self, username: str) -> str | None:  # type: ignore[override]
        return username


async def refusal(tmp_path: Path, settings: dict[str, Any], **kwargs: Any) -> str:
    """The ConfigurationError of Security() on a fresh Quart app with ``settings``."""
    from quart import Quart

    store, close = await sql_store("sqlite", tmp_path)
    try:
        app = Quart(__name__)
        app.config.update(SECRET_KEY="k" * 32, SECURITY_PASSWORD_SALT="salt")
        app.config.update({"SECURITY_" + k.upper(): v for k, v in settings.items()})
        with pytest.raises(ConfigurationError) as info:
            Security(app, store, **kwargs)
        return str(info.value)
    finally:
        await close()


@pytest.mark.parametrize(
    ("argument", "value", "match"),
    [
        ("password_util_cls", object, "password_util_cls must be a class with normalize"),
        ("password_util_cls", NoValidate, "password_util_cls must be a class with normalize"),
        ("password_util_cls", PasswordUtil(None), "password_util_cls must be a class"),
        ("username_util_cls", NoValidate, "username_util_cls must be a class with normalize"),
        ("username_util_cls", AsyncNormalize, "normalize must be a plain function"),
    ],
)
async def test_a_bad_util_class_is_refused_at_start_up(
    tmp_path: Path, argument: str, value: Any, match: str
) -> None:
    assert match in await refusal(tmp_path, {}, **{argument: value})


@pytest.mark.parametrize(
    ("settings", "match"),
    [
        ({"password_check_breached": "maybe"}, "PASSWORD_CHECK_BREACHED must be"),
        ({"password_breached_count": 0}, "PASSWORD_BREACHED_COUNT must be"),
        ({"password_breached_timeout": 0}, "PASSWORD_BREACHED_TIMEOUT must be"),
        ({"password_breached_timeout": "5"}, "PASSWORD_BREACHED_TIMEOUT must be"),
        ({"password_breached_range_url": "ftp://x/range/"}, "RANGE_URL must be an http"),
    ],
)
async def test_bad_breached_settings_are_refused_at_start_up(
    tmp_path: Path, settings: dict[str, Any], match: str
) -> None:
    assert match in await refusal(tmp_path, {"password_check_breached": True, **settings})


def test_the_default_range_url_is_the_hibp_one() -> None:
    from quart_security.config import DEFAULT_CONFIG

    assert DEFAULT_CONFIG["PASSWORD_BREACHED_RANGE_URL"] == HIBP_RANGE_URL
    assert DEFAULT_CONFIG["PASSWORD_BREACHED_TIMEOUT"] == 5.0
