"""Translations: the app's locale drives messages, subjects and pages; catalogs stay sound."""

from __future__ import annotations

import asyncio
import io
import re
import shutil
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
from babel.messages.mofile import read_mo, write_mo
from babel.messages.pofile import read_po
from jinja2.ext import babel_extract
from quart import Quart, g

from quart_security import Security
from quart_security.config import DEFAULT_CONFIG, DEFAULT_MESSAGES, MSG_PREFIX
from quart_security.errors import ConfigurationError
from quart_security.i18n import (
    BUILTIN_DIR,
    I18n,
    extract_config_messages,
    normalize_locale,
    subject_defaults,
    translation_directories,
)
from tests.support.app_factory import create_test_app
from tests.support.http import JSON, body, get_csrf

PACKAGE = Path(__file__).resolve().parent.parent / "quart_security"
POT = BUILTIN_DIR / "messages.pot"
DOMAIN = "flask_security"
SHIPPED = ("en", "fr_FR")
#: Templates whose strings this module guarantees are in every shipped catalog
#: (the account-flow templates are extracted too, but are still being written).
OWN_TEMPLATES = (
    "base.html",
    "login_user.html",
    "verify.html",
    "_macros.html",
    "_messages.html",
    "error.html",
    "two_factor_setup.html",
    "two_factor_verify_code.html",
    "two_factor_select.html",
    "mf_recovery_codes.html",
    "mf_recovery.html",
    "email/two_factor_instructions.txt",
    "email/two_factor_instructions.html",
    "email/two_factor_rescue.txt",
    "email/two_factor_rescue.html",
)
PLACEHOLDER = re.compile(r"%\((\w+)\)[#0 +-]*\d*(?:\.\d+)?[diouxXeEfFgGcrsa]")


def _marker_kwargs(request: pytest.FixtureRequest, name: str) -> dict[str, Any]:
    merged: dict[str, Any] = {}
    for marker in reversed(list(request.node.iter_markers(name))):
        merged.update(marker.kwargs)
    return merged


@pytest.fixture(params=["quart", "flask"])
async def built(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Any]:
    """A Quart or flask_compat app whose locale is the X-Locale request header."""
    settings = _marker_kwargs(request, "settings")
    if request.param == "flask":
        import flask

        from tests.support.flask_app_factory import flask_test_app

        async with flask_test_app("sqlite", tmp_path, settings) as flask_built:
            flask_built.security.locale_selector(lambda: flask.request.headers.get("X-Locale"))
            yield flask_built
        return
    import quart

    quart_built = await create_test_app("sqlite", tmp_path, settings=settings)
    quart_built.security.locale_selector(lambda: quart.request.headers.get("X-Locale"))
    try:
        yield quart_built
    finally:
        quart_built.security.hashing_pool.shutdown()
        await quart_built.close()


async def _failed_login(client: Any, locale: str | None, **fields: str) -> dict[str, Any]:
    csrf = await get_csrf(client)
    headers = {"X-CSRF-Token": csrf, **({"X-Locale": locale} if locale is not None else {})}
    response = await client.post("/login", json=fields, headers=headers)
    assert response.status_code == 400
    return (await body(response))["response"]  # type: ignore[no-any-return]


def _french(key: str, **kwargs: Any) -> str:
    """What the shipped fr_FR catalog says for SECURITY_MSG_<key>."""
    catalog = I18n(DOMAIN, [BUILTIN_DIR]).translations("fr_FR")
    assert catalog is not None
    text = catalog.gettext(DEFAULT_MESSAGES[key][0])
    return text % kwargs if kwargs else text


# ---------------------------------------------------------------------- over HTTP


@pytest.mark.parametrize("locale", ["fr", "fr-FR", "fr_fr", "FR-CA"])
async def test_json_errors_come_out_in_the_selected_locale(built: Any, locale: str) -> None:
    client = built.app.test_client()
    payload = await _failed_login(client, locale, email="", password="")
    assert payload["field_errors"] == {
        "email": ["Veuillez saisir une adresse e-mail."],
        "password": ["Veuillez saisir un mot de passe."],
    }
    payload = await _failed_login(client, locale, email="matt@lp.com", password="wrong")
    assert payload["errors"] == [_french("GENERIC_AUTHN_FAILED")]
    assert payload["errors"][0] != DEFAULT_MESSAGES["GENERIC_AUTHN_FAILED"][0]

    response = await client.get("/api/me", headers={**JSON, "X-Locale": locale})
    assert response.status_code == 401
    assert (await body(response))["response"]["errors"] == [_french("UNAUTHENTICATED")]


async def test_english_without_a_locale(built: Any) -> None:
    payload = await _failed_login(built.app.test_client(), None, email="", password="")
    assert payload["field_errors"]["email"] == [DEFAULT_MESSAGES["EMAIL_NOT_PROVIDED"][0]]


async def test_login_page_is_rendered_in_the_selected_locale(built: Any) -> None:
    client = built.app.test_client()
    response = await client.get("/login", headers={"X-Locale": "fr"})
    html = await response.get_data(as_text=True)
    assert response.status_code == 200
    assert '<html lang="fr-FR">' in html
    assert "<title>Connexion</title>" in html
    assert "<h1>Connexion</h1>" in html
    assert '<label for="email">Adresse e-mail</label>' in html
    assert '<label for="password">Mot de passe</label>' in html
    assert '<label for="remember">Se souvenir de moi</label>' in html
    for english in ("Sign in", "Email Address", "Remember Me"):
        assert english not in html

    csrf = await get_csrf(client)
    response = await client.post(
        "/login",
        form={"email": "matt@lp.com", "password": "wrong", "csrf_token": csrf},
        headers={"X-Locale": "fr"},
    )
    html = await response.get_data(as_text=True)
    assert response.status_code == 400
    # Jinja autoescapes the translation like any other text ("l'identifiant").
    assert _french("GENERIC_AUTHN_FAILED").replace("'", "&#39;") in html


# Every message a user sees goes through one API (Security.message_with_category):
# pages, JSON, flashes and the query of an SPA redirect are all translated.
FR = {"X-Locale": "fr"}


@pytest.mark.settings(confirmable=True)
async def test_confirmation_resend_page_is_translated(built: Any) -> None:
    client = built.app.test_client()
    page = await client.get("/confirm", headers={**FR, **JSON})
    csrf = (await body(page))["response"]["csrf_token"]
    response = await client.post(
        "/confirm", form={"email": "nobody@lp.com", "csrf_token": csrf}, headers=FR
    )
    assert response.status_code == 200
    html = await response.get_data(as_text=True)
    french = _french("CONFIRMATION_REQUEST", email="nobody@lp.com")
    assert french.replace("'", "&#39;") in html
    assert DEFAULT_MESSAGES["CONFIRMATION_REQUEST"][0] % {"email": "nobody@lp.com"} not in html


@pytest.mark.settings(confirmable=True)
async def test_flashed_messages_are_translated(built: Any) -> None:
    client = built.app.test_client()
    response = await client.get("/confirm/not-a-token", headers=FR)
    assert response.status_code == 302
    async with client.session_transaction() as session:
        flashes = list(session.get("_flashes", []))
    assert flashes == [("error", _french("INVALID_CONFIRMATION_TOKEN"))]


@pytest.mark.settings(confirmable=True, redirect_behavior="spa", confirm_error_view="/oops")
async def test_spa_redirect_messages_are_translated(built: Any) -> None:
    from urllib.parse import parse_qs, urlsplit

    response = await built.app.test_client().get("/confirm/not-a-token", headers=FR)
    assert response.status_code == 302
    query = parse_qs(urlsplit(response.headers["Location"]).query)
    assert query == {"error": [_french("INVALID_CONFIRMATION_TOKEN")]}


def test_no_message_skips_the_one_message_api() -> None:
    """Outside config.py nothing reads SECURITY_MSG_* untranslated."""
    offenders = [
        str(path.relative_to(PACKAGE))
        for path in PACKAGE.rglob("*.py")
        if path.name != "config.py" and "get_message(" in path.read_text()
    ]
    assert offenders == []


async def test_login_page_in_english_by_default(built: Any) -> None:
    html = await (await built.app.test_client().get("/login")).get_data(as_text=True)
    assert '<html lang="en">' in html
    assert "<h1>Sign in</h1>" in html
    assert '<label for="email">Email Address</label>' in html


@pytest.mark.parametrize(
    "locale",
    ["xx", "klingon", "../../../etc/passwd", "fr;q=0.8", "*", "", "fr_FR/../en", "é", "a" * 300],
)
async def test_unknown_or_hostile_locales_fall_back_to_english(built: Any, locale: str) -> None:
    client = built.app.test_client()
    payload = await _failed_login(client, locale, email="", password="")
    assert payload["field_errors"]["email"] == [DEFAULT_MESSAGES["EMAIL_NOT_PROVIDED"][0]]
    html = await (await client.get("/login", headers={"X-Locale": locale})).get_data(as_text=True)
    assert '<html lang="en">' in html and "<h1>Sign in</h1>" in html


@pytest.mark.settings(msg_email_not_provided=("Your email, please (%(nothing)s).", "error"))
async def test_an_app_override_is_used_even_in_another_locale(built: Any) -> None:
    payload = await _failed_login(built.app.test_client(), "fr", email="", password="")
    # The override is its own msgid: no catalog has it, so it is shown as written
    # (a placeholder without a value stays as written), while the rest is French.
    assert payload["field_errors"] == {
        "email": ["Your email, please (%(nothing)s)."],
        "password": ["Veuillez saisir un mot de passe."],
    }


# ---------------------------------------------------------------------- app catalogs


def _write_catalog(directory: Path, locale: str, entries: dict[str, str]) -> None:
    """An app's own compiled catalog, as pybabel compile would write it."""
    from babel.messages.catalog import Catalog

    catalog = Catalog(locale=locale, domain=DOMAIN)
    for msgid, msgstr in entries.items():
        catalog.add(msgid, msgstr)
    target = directory / locale / "LC_MESSAGES"
    target.mkdir(parents=True)
    with (target / f"{DOMAIN}.mo").open("wb") as fp:
        write_mo(fp, catalog)


async def test_app_directories_translate_overrides_and_win_over_builtin(tmp_path: Path) -> None:
    own = tmp_path / "app_translations"
    reworded = "Hi %(email)s, we need your password."
    _write_catalog(
        own,
        "fr_FR",
        {
            reworded: "Bonjour %(email)s, il nous faut le mot de passe.",
            DEFAULT_MESSAGES["EMAIL_NOT_PROVIDED"][0]: "Votre e-mail, s'il vous plaît.",
        },
    )
    _write_catalog(own, "es", {DEFAULT_MESSAGES["EMAIL_NOT_PROVIDED"][0]: "Falta el correo."})
    built = await create_test_app(
        "sqlite",
        tmp_path,
        settings={
            "i18n_dirname": ["builtin", str(own)],
            "msg_password_not_provided": (reworded, "error"),
        },
    )
    try:
        locale = {"value": "fr"}
        built.security.locale_selector(lambda: locale["value"])
        security = built.security
        assert security.i18n.available_locales == ["en", "es", "fr_FR"]
        # The app's catalog wins for the entry it has ...
        assert security.message("EMAIL_NOT_PROVIDED") == "Votre e-mail, s'il vous plaît."
        # ... translates the app's reworded message, formatting after translating ...
        assert (
            security.message("PASSWORD_NOT_PROVIDED", email="a@b.c")
            == "Bonjour a@b.c, il nous faut le mot de passe."
        )
        # ... and the builtin catalog still serves everything else.
        assert security.message("INVALID_PASSWORD") == _french("INVALID_PASSWORD")
        locale["value"] = "es-ES"
        assert security.message("EMAIL_NOT_PROVIDED") == "Falta el correo."
        assert security.message("INVALID_PASSWORD") == DEFAULT_MESSAGES["INVALID_PASSWORD"][0]
    finally:
        built.security.hashing_pool.shutdown()
        await built.close()


async def test_catalogs_are_read_once_at_init(tmp_path: Path) -> None:
    copy = tmp_path / "catalogs"
    shutil.copytree(BUILTIN_DIR, copy)
    built = await create_test_app("sqlite", tmp_path, settings={"i18n_dirname": str(copy)})
    try:
        built.security.locale_selector(lambda: "fr")
        shutil.rmtree(copy)  # no request may need the disk from now on
        payload = await _failed_login(built.app.test_client(), "fr", email="", password="")
        assert payload["field_errors"]["email"] == ["Veuillez saisir une adresse e-mail."]
    finally:
        built.security.hashing_pool.shutdown()
        await built.close()


async def test_other_domain_means_english(tmp_path: Path) -> None:
    built = await create_test_app("sqlite", tmp_path, settings={"i18n_domain": "myapp"})
    try:
        built.security.locale_selector(lambda: "fr")
        assert built.security.i18n.available_locales == []
        assert built.security.message("LOGIN") == DEFAULT_MESSAGES["LOGIN"][0]
    finally:
        built.security.hashing_pool.shutdown()
        await built.close()


@pytest.mark.parametrize(
    ("setting", "value"),
    [
        ("SECURITY_I18N_DOMAIN", "../../etc/passwd"),
        ("SECURITY_I18N_DOMAIN", ""),
        ("SECURITY_I18N_DIRNAME", 42),
        ("SECURITY_I18N_DIRNAME", []),
        ("SECURITY_I18N_DIRNAME", ["builtin", None]),
    ],
)
async def test_bad_i18n_settings_fail_at_init(tmp_path: Path, setting: str, value: Any) -> None:
    from tests.support.app_factory import sql_store

    store, close = await sql_store("sqlite", tmp_path)
    app = Quart(__name__)
    app.config.update(SECRET_KEY="k" * 32, SECURITY_PASSWORD_SALT="s", **{setting: value})
    try:
        with pytest.raises(ConfigurationError, match="I18N"):
            Security(app, store)
    finally:
        await close()


def test_missing_directory_is_logged_not_fatal(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    dirs = translation_directories(["builtin", "no-such-dir"], tmp_path)
    i18n = I18n(DOMAIN, dirs, lambda: "fr")
    assert i18n.translate("Password") == "Mot de passe"
    assert "no-such-dir" in caplog.text


@pytest.mark.parametrize("content", [b"", b"not a catalog at all"])
def test_a_corrupt_catalog_fails_at_init_naming_the_file(tmp_path: Path, content: bytes) -> None:
    target = tmp_path / "de" / "LC_MESSAGES"
    target.mkdir(parents=True)
    (target / f"{DOMAIN}.mo").write_bytes(content)
    with pytest.raises(ConfigurationError, match=re.escape("de/LC_MESSAGES/flask_security.mo")):
        I18n(DOMAIN, [tmp_path])


def test_relative_directories_resolve_against_the_app_root(tmp_path: Path) -> None:
    (tmp_path / "translations").mkdir()
    assert translation_directories("translations", tmp_path) == [tmp_path / "translations"]
    assert translation_directories(["builtin", "translations"], tmp_path)[0] == BUILTIN_DIR


# ---------------------------------------------------------------------- selector


async def test_selector_registered_before_init_app_is_kept(tmp_path: Path) -> None:
    from tests.support.app_factory import sql_store

    store, close = await sql_store("sqlite", tmp_path)
    app = Quart(__name__)
    app.config.update(SECRET_KEY="k" * 32, SECURITY_PASSWORD_SALT="s")
    security = Security()
    security.locale_selector(lambda: "fr")
    security.init_app(app, store)
    try:
        assert security.message("LOGIN") == _french("LOGIN")
    finally:
        security.hashing_pool.shutdown()
        await close()


async def test_async_app_sets_the_locale_in_before_request(tmp_path: Path) -> None:
    """The documented pattern: async work in before_request, a sync selector reading g."""
    built = await create_test_app("sqlite", tmp_path)
    app, security = built.app, built.security

    @app.before_request
    async def pick_locale() -> None:
        from quart import request

        await asyncio.sleep(0)  # e.g. load the user's saved preference
        g.locale = request.accept_languages.best_match(security.i18n.available_locales)

    security.locale_selector(lambda: g.get("locale"))
    try:
        client = app.test_client()
        csrf = await get_csrf(client)
        response = await client.post(
            "/login",
            json={"email": "", "password": "x"},
            headers={"X-CSRF-Token": csrf, "Accept-Language": "de;q=0.9, fr-FR;q=0.8"},
        )
        assert (await body(response))["response"]["errors"] == [_french("EMAIL_NOT_PROVIDED")]
    finally:
        security.hashing_pool.shutdown()
        await built.close()


def test_async_selectors_are_refused_at_registration() -> None:
    security = Security()

    async def selector() -> str:
        return "fr"

    with pytest.raises(TypeError, match="synchronous"):
        security.locale_selector(selector)
    with pytest.raises(TypeError):
        security.locale_selector("fr")  # type: ignore[arg-type]


def test_broken_selectors_mean_english(caplog: pytest.LogCaptureFixture) -> None:
    def raising() -> str:
        raise RuntimeError("no request context")

    i18n = I18n(DOMAIN, [BUILTIN_DIR], raising)
    assert i18n.translate("Password") == "Password"
    assert i18n.translate("Password") == "Password"
    assert caplog.text.count("locale selector raised") == 1  # warned once, not per string

    async def later() -> str:
        return "fr"

    # A coroutine slipped through (a lambda around an async function): closed
    # (no "never awaited" warning, which this suite turns into an error), English.
    i18n.selector = lambda: later()
    assert i18n.gettext("Password") == "Password"

    class BrokenStr:
        def __str__(self) -> str:
            raise ValueError("no")

    for value in (None, 42, object(), b"fr", ["fr"], BrokenStr()):
        i18n.selector = lambda value=value: value
        assert i18n.gettext("Password") == "Password"


@pytest.mark.parametrize(
    ("value", "resolved"),
    [
        ("fr", "fr_FR"),
        ("fr_FR", "fr_FR"),
        ("fr-ca", "fr_FR"),
        ("FR", "fr_FR"),
        ("en-US", "en"),
        ("en", "en"),
        ("de", None),
        ("zh-Hant-TW", None),
        ("fr_FR.UTF-8", None),
        ("fr_FR@euro", None),
        (None, None),
    ],
)
def test_locale_resolution(value: Any, resolved: str | None) -> None:
    assert I18n(DOMAIN, [BUILTIN_DIR]).resolve(value) == resolved


def test_babel_locale_objects_are_accepted() -> None:
    from babel import Locale

    assert normalize_locale(Locale.parse("fr_FR")) == "fr_FR"
    assert normalize_locale("zh-hant-tw") == "zh_Hant_TW"
    assert normalize_locale("es-419") == "es_419"


# ---------------------------------------------------------------------- formatting


@pytest.fixture
def french() -> I18n:
    return I18n(DOMAIN, [BUILTIN_DIR], lambda: "fr_FR")


def test_placeholders_are_filled_after_translation(french: I18n) -> None:
    text = french.gettext(DEFAULT_MESSAGES["USERNAME_INVALID_LENGTH"][0], min=4, max=32)
    assert text == "Le nom d'utilisateur doit comporter entre 4 et 32 caractères."


async def test_message_values_are_never_translated_or_reformatted(tmp_path: Path) -> None:
    built = await create_test_app("sqlite", tmp_path)
    try:
        built.security.locale_selector(lambda: "fr")
        hostile = "Password %(email)s %% <b>"
        assert built.security.message("EMAIL_ALREADY_ASSOCIATED", email=hostile) == (
            f"{hostile} est déjà utilisée par un autre compte."
        )
        assert built.security.message("PASSWORD_INVALID_LENGTH", length=12) == (
            "Le mot de passe doit comporter au moins 12 caractères."
        )
        # Flask-Security's gettext: translate, then format with the keywords.
        assert built.security.gettext("Welcome, %(email)s.", email="a@b.c") == "Bienvenue, a@b.c."
        assert built.security.gettext("100%% sure") == "100%% sure"  # no kwargs: no formatting
        with pytest.raises(KeyError, match="SECURITY_MSG_NOPE"):
            built.security.message("NOPE")
    finally:
        built.security.hashing_pool.shutdown()
        await built.close()


def test_mail_subjects_translate(french: I18n) -> None:
    subjects = subject_defaults(DEFAULT_CONFIG)
    assert {"EMAIL_SUBJECT_REGISTER", "CHANGE_EMAIL_SUBJECT", "US_EMAIL_SUBJECT"} <= set(subjects)
    assert french.gettext(subjects["EMAIL_SUBJECT_REGISTER"]) == "Bienvenue"
    for text in subjects.values():
        assert french.gettext(text) != text


def test_empty_string_is_not_the_catalog_header(french: I18n) -> None:
    assert french.gettext("") == ""
    assert french.ngettext("%(num)s code", "%(num)s codes", 2) == "2 codes"


# ---------------------------------------------------------------------- catalogs


def _po_files() -> Iterator[Path]:
    for locale in SHIPPED:
        yield BUILTIN_DIR / locale / "LC_MESSAGES" / f"{DOMAIN}.po"


def _translated(po: Path) -> dict[str, str]:
    with po.open("rb") as fp:
        catalog = read_po(fp)
    return {str(m.id): str(m.string) for m in catalog if m.id and m.string and not m.fuzzy}


@pytest.mark.parametrize("po", list(_po_files()), ids=lambda p: p.parent.parent.name)
def test_compiled_catalogs_match_their_sources(po: Path) -> None:
    """Fails when a .po was edited after its .mo was compiled.

    Compares content, not modification times (git does not keep those):
    run ``python -m babel.messages.frontend compile`` after editing a .po.
    """
    mo = po.with_suffix(".mo")
    assert mo.is_file(), f"{mo} is missing: compile the catalogs"
    with po.open("rb") as fp:
        source = read_po(fp)
    fresh = io.BytesIO()
    write_mo(fresh, source)
    fresh.seek(0)
    with mo.open("rb") as fp:
        shipped = read_mo(fp)
    expected = {m.id: m.string for m in read_mo(fresh) if m.id}
    assert {m.id: m.string for m in shipped if m.id} == expected, f"{mo} is stale"


@pytest.mark.parametrize("po", list(_po_files()), ids=lambda p: p.parent.parent.name)
def test_translations_keep_their_placeholders(po: Path) -> None:
    with po.open("rb") as fp:
        catalog = read_po(fp)
    assert list(catalog.check()) == []  # Babel's own python-format checks
    for msgid, msgstr in _translated(po).items():
        assert sorted(PLACEHOLDER.findall(msgstr)) == sorted(PLACEHOLDER.findall(msgid)), msgid
        assert msgstr.count("%%") == msgid.count("%%"), msgid


def _config_strings() -> dict[str, str]:
    strings = {text: MSG_PREFIX + key for key, (text, _) in DEFAULT_MESSAGES.items()}
    strings.update(
        {text: "SECURITY_" + key for key, text in subject_defaults(DEFAULT_CONFIG).items()}
    )
    return strings


def _own_template_strings() -> set[str]:
    found: set[str] = set()
    for name in OWN_TEMPLATES:
        with (PACKAGE / "templates" / "security" / name).open("rb") as fp:
            for _, _, message, _ in babel_extract(fp, ["_fsdomain"], [], {}):
                if isinstance(message, str):  # None: a computed argument (a label)
                    found.add(message)
    return found


def _form_labels() -> set[str]:
    from quart_security.web import forms

    labels: set[str] = set()
    for form in (forms.LoginForm, forms.VerifyForm, forms.LogoutForm):
        for field in form():
            if field.label.text and field.type != "HiddenField":
                labels.add(field.label.text)
    return labels


def test_every_message_subject_and_own_template_string_is_in_the_pot() -> None:
    with POT.open("rb") as fp:
        pot_ids = {str(m.id) for m in read_po(fp) if m.id}
    wanted = set(_config_strings()) | _own_template_strings() | _form_labels()
    assert {"Sign in", "Confirm it is you", "Account", "Remember Me"} <= wanted
    assert sorted(wanted - pot_ids) == [], "run python -m babel.messages.frontend extract"


@pytest.mark.parametrize("po", list(_po_files()), ids=lambda p: p.parent.parent.name)
def test_shipped_locales_translate_everything_we_own(po: Path) -> None:
    translated = _translated(po)
    wanted = set(_config_strings()) | _own_template_strings() | _form_labels()
    assert sorted(wanted - set(translated)) == []


def test_config_extractor_names_each_setting() -> None:
    with (PACKAGE / "config.py").open("rb") as fp:
        found = {
            message: comments for _, _, message, comments in extract_config_messages(fp, [], [], {})
        }
    for text, setting in _config_strings().items():
        assert setting in found[text]
    assert len({t for t, _ in DEFAULT_MESSAGES.values()} - set(found)) == 0


def test_builtin_locales() -> None:
    assert I18n(DOMAIN, [BUILTIN_DIR]).available_locales == list(SHIPPED)


def test_translation_files_ship_as_package_data() -> None:
    import tomllib

    with (PACKAGE.parent / "pyproject.toml").open("rb") as fp:
        project = tomllib.load(fp)
    assert (
        "translations/*/LC_MESSAGES/*"
        in project["tool"]["setuptools"]["package-data"]["quart_security"]
    )
    assert any(dep.startswith("babel") for dep in project["project"]["dependencies"])
