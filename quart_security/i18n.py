"""Translations: messages, mail subjects and template strings through gettext catalogs.

Flask-Security translates through Flask-Babel's ``Domain``; here the catalogs
are read with Babel's ``Translations`` directly, so no Babel extension has to
be registered on the app. The contract is Flask-Security's:

- catalogs live in ``<dir>/<locale>/LC_MESSAGES/<I18N_DOMAIN>.mo``;
  ``I18N_DIRNAME`` is "builtin" (the catalogs shipped in
  ``quart_security/translations``), an app directory, or a list mixing both,
  where a later directory's translations win over an earlier one's;
- the msgid is the English text, so an app that rewords a message
  (``SECURITY_MSG_X = ("My text", "error")``) translates "My text" in its own
  catalog;
- translation happens before %-formatting, so values (an email address, a
  code) are never looked up in a catalog nor parsed as placeholders.

Every catalog is read once, when the extension is built: nothing on the request
path touches the disk, and the set of locales we can answer in is fixed, so a
hostile locale string (from an Accept-Language header, say) can neither name a
file nor grow a cache. Whatever cannot be resolved falls back to English.

The locale comes from the app: ``security.locale_selector(fn)`` registers a
*synchronous* callable returning a locale ("fr", "fr-FR", a Babel ``Locale``)
or None. It is called whenever a string is translated, including from sync
code such as Jinja rendering, so it must be cheap and must not await; an async
app computes the locale in a ``before_request`` hook and stores it on ``g``.

This module also holds the extractor that puts SECURITY_MSG_* texts and the
mail subject defaults from config.py into ``messages.pot`` (see docs/i18n.md).
"""

from __future__ import annotations

import ast
import inspect
import logging
import os
import re
import struct
from collections.abc import Callable, Collection, Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import IO, Any, Final

from babel.support import Translations

from .config import _format
from .errors import ConfigurationError

log = logging.getLogger("quart_security.i18n")

BUILTIN: Final = "builtin"
#: The catalogs shipped with quart_security ("builtin").
BUILTIN_DIR: Final = Path(__file__).resolve().parent / "translations"

LocaleSelector = Callable[[], Any]

# A language tag as gettext directories and Accept-Language use it: a 2-8
# letter language, then up to three subtags (script, territory, variant).
_LOCALE_TAG: Final = re.compile(r"[A-Za-z]{2,8}(?:[-_][A-Za-z0-9]{1,8}){0,3}")
_DOMAIN_NAME: Final = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,99}")


def normalize_locale(value: Any) -> str | None:
    """Canonical catalog name of a locale value, or None when it is not a locale tag.

    "fr-fr" -> "fr_FR", "zh-hant-tw" -> "zh_Hant_TW"; a Babel ``Locale``
    gives its own ``str()``. Anything else (paths, "*", "fr;q=0.8") is None.
    """
    if value is None:
        return None
    try:
        text = str(value).strip()
    except Exception:  # an app object with a broken __str__: not a locale
        return None
    if len(text) > 35 or not _LOCALE_TAG.fullmatch(text):
        return None
    language, *subtags = re.split(r"[-_]", text)
    parts = [language.lower()]
    for tag in subtags:
        if len(tag) == 4 and tag.isalpha():
            parts.append(tag.title())  # script
        elif (len(tag) == 2 and tag.isalpha()) or (len(tag) == 3 and tag.isdigit()):
            parts.append(tag.upper())  # territory
        else:
            parts.append(tag)  # variant
    return "_".join(parts)


def translation_directories(setting: Any, root_path: str | os.PathLike[str] | None) -> list[Path]:
    """The directories named by I18N_DIRNAME, in order ("builtin" is ours).

    A relative directory is taken relative to the app's root_path when it
    exists there (Flask-Babel's rule for app directories), else to the
    working directory (Flask-Security passes it to Babel unchanged).
    """
    if isinstance(setting, str | os.PathLike):
        entries: Sequence[Any] = [setting]
    elif isinstance(setting, list | tuple) and setting:
        entries = setting
    else:
        raise ConfigurationError(
            "SECURITY_I18N_DIRNAME must be 'builtin', a directory, or a list of them,"
            f" got {setting!r}"
        )
    directories: list[Path] = []
    for entry in entries:
        if entry == BUILTIN:
            directories.append(BUILTIN_DIR)
            continue
        if not isinstance(entry, str | os.PathLike) or not os.fspath(entry):
            raise ConfigurationError(
                f"SECURITY_I18N_DIRNAME entries must be directory names, got {entry!r}"
            )
        path = Path(entry)
        if not path.is_absolute() and root_path is not None and (Path(root_path) / path).is_dir():
            path = Path(root_path) / path
        directories.append(path)
    return directories


def load_catalogs(directories: Iterable[Path], domain: str) -> dict[str, Translations]:
    """Every ``<locale>/LC_MESSAGES/<domain>.mo`` under ``directories``, merged per locale.

    Later directories override earlier ones message by message. Only names
    found on disk become locales; a missing directory is logged and skipped
    (Flask-Babel skips it silently, which hides typos).
    """
    if not isinstance(domain, str) or not _DOMAIN_NAME.fullmatch(domain) or ".." in domain:
        raise ConfigurationError(f"SECURITY_I18N_DOMAIN {domain!r} is not a valid domain name")
    catalogs: dict[str, Translations] = {}
    for directory in directories:
        if not directory.is_dir():
            log.warning("translation directory %s does not exist; it is ignored", directory)
            continue
        for entry in sorted(os.listdir(directory)):
            locale = normalize_locale(entry)
            mo_path = directory / entry / "LC_MESSAGES" / f"{domain}.mo"
            if locale is None or not mo_path.is_file():
                continue
            try:
                with mo_path.open("rb") as fp:
                    catalog = Translations(fp, domain=domain)
            except (OSError, ValueError, UnicodeError, struct.error) as exc:
                raise ConfigurationError(
                    f"cannot read translation catalog {mo_path}: {exc}"
                ) from exc
            if locale in catalogs:
                catalogs[locale].merge(catalog)
            else:
                catalogs[locale] = catalog
    return catalogs


class I18n:
    """The translation domain of one Security instance (Flask-Security's ``i18n_domain``).

    ``gettext``/``ngettext`` have Flask-Babel's signatures: translate in the
    current locale, then %-format with the keyword arguments, if any.
    """

    def __init__(
        self,
        domain: str,
        directories: Iterable[Path],
        selector: LocaleSelector | None = None,
    ) -> None:
        self.domain = domain
        self.directories = list(directories)
        self._catalogs = load_catalogs(self.directories, domain)
        # A bare language ("fr") also finds the first territory catalog of that
        # language ("fr_FR") when there is no plain "fr" catalog.
        self._by_language: dict[str, str] = {}
        for name in sorted(self._catalogs):
            self._by_language.setdefault(name.split("_", 1)[0], name)
        self.selector: LocaleSelector | None = selector
        self._selector_failure_logged = False

    # ------------------------------------------------------------------ locales
    @property
    def available_locales(self) -> list[str]:
        """Locales with a catalog, for ``request.accept_languages.best_match(...)``."""
        return sorted(self._catalogs)

    def resolve(self, value: Any) -> str | None:
        """The catalog that serves a locale value: exact, then its language, else None."""
        name = normalize_locale(value)
        if name is None:
            return None
        if name in self._catalogs:
            return name
        parts = name.split("_")
        if len(parts) > 2 and len(parts[1]) == 4:  # zh_Hant_TW -> zh_TW
            without_script = "_".join([parts[0], *parts[2:]])
            if without_script in self._catalogs:
                return without_script
        if parts[0] in self._catalogs:
            return parts[0]
        return self._by_language.get(parts[0])

    def selected_locale(self) -> Any:
        """What the app's selector answers now (None without a selector or on failure)."""
        selector = self.selector
        if selector is None:
            return None
        try:
            value = selector()
        except Exception:  # a broken selector must not turn every page into a 500
            self._log_selector_failure("raised", exc_info=True)
            return None
        if inspect.isawaitable(value):
            close = getattr(value, "close", None)
            if callable(close):
                close()  # no "never awaited" warning
            self._log_selector_failure("returned an awaitable; it must be synchronous")
            return None
        return value

    def _log_selector_failure(self, what: str, *, exc_info: bool = False) -> None:
        level = logging.DEBUG if self._selector_failure_logged else logging.WARNING
        self._selector_failure_logged = True
        log.log(level, "the locale selector %s; answering in English", what, exc_info=exc_info)

    def current_locale(self) -> str | None:
        """The catalog used for the current request, or None for English."""
        return self.resolve(self.selected_locale())

    def html_lang(self) -> str:
        """The page's ``lang`` attribute: the catalog actually used, as a BCP 47 tag."""
        return (self.current_locale() or "en").replace("_", "-")

    def translations(self, locale: str | None) -> Translations | None:
        return self._catalogs.get(locale) if locale is not None else None

    # ------------------------------------------------------------------ translating
    def translate(self, text: str, locale: Any = ...) -> str:
        """``text`` in ``locale`` (default: the current one); unformatted."""
        if not text:
            return text  # gettext("") is the catalog header
        name = self.current_locale() if locale is ... else self.resolve(locale)
        catalog = self.translations(name)
        return text if catalog is None else catalog.gettext(text)

    def gettext(self, string: str, **variables: Any) -> str:
        translated = self.translate(string)
        return _format(translated, variables) if variables else translated

    def ngettext(self, singular: str, plural: str, num: int, **variables: Any) -> str:
        variables.setdefault("num", num)
        catalog = self.translations(self.current_locale())
        if catalog is None:
            translated = singular if num == 1 else plural
        else:
            translated = catalog.ngettext(singular, plural, num)
        return _format(translated, variables)


def selector_is_sync(fn: Any) -> None:
    """Refuse, at registration, a selector that cannot be called from sync code."""
    if not callable(fn):
        raise TypeError("locale_selector needs a callable")
    if inspect.iscoroutinefunction(fn) or inspect.isasyncgenfunction(fn):
        raise TypeError(
            "the locale selector must be synchronous (translation happens in sync code such"
            " as template rendering): compute the locale in a before_request hook, store it"
            " on g, and return it from a plain function"
        )


# ---------------------------------------------------------------------- extraction


def is_subject_key(key: str) -> bool:
    """Config keys holding a mail subject (EMAIL_SUBJECT_*, CHANGE_EMAIL_SUBJECT, ...)."""
    return key.startswith("EMAIL_SUBJECT_") or key.endswith("_SUBJECT")


def subject_defaults(defaults: Mapping[str, Any]) -> dict[str, str]:
    """The mail subject settings and their default (translatable) texts."""
    return {k: v for k, v in defaults.items() if is_subject_key(k) and isinstance(v, str)}


ExtractResult = tuple[int, str | None, str, list[str]]


def extract_config_messages(
    fileobj: IO[bytes],
    keywords: Collection[str],
    comment_tags: Collection[str],
    options: Mapping[str, Any],
) -> Iterator[ExtractResult]:
    """Babel extractor for config.py: SECURITY_MSG_* texts and mail subject defaults.

    Those strings are data in two dict literals (``_MESSAGES`` and the
    settings ``_TABLE``), not gettext calls, so Babel's Python extractor cannot see
    them. Each entry gets its setting name as an extracted comment, which is
    what a translator needs to know where the text shows up.
    """
    tree = ast.parse(fileobj.read())
    target: ast.expr
    value: ast.expr | None
    for node in ast.walk(tree):
        if isinstance(node, ast.AnnAssign):
            target, value = node.target, node.value
        elif isinstance(node, ast.Assign) and len(node.targets) == 1:
            target, value = node.targets[0], node.value
        else:
            continue
        if not isinstance(target, ast.Name) or not isinstance(value, ast.Dict):
            continue
        for key_node, item in zip(value.keys, value.values, strict=True):
            if not isinstance(key_node, ast.Constant) or not isinstance(key_node.value, str):
                continue
            key = key_node.value
            if target.id == "_MESSAGES" and isinstance(item, ast.Tuple) and item.elts:
                text = item.elts[0]
                if isinstance(text, ast.Constant) and isinstance(text.value, str):
                    yield text.lineno, None, text.value, [f"SECURITY_MSG_{key}"]
            elif target.id == "_TABLE" and is_subject_key(key):
                # An entry is honoured("text") / not_yet("text"): the default is
                # the call's first argument.
                default = item.args[0] if isinstance(item, ast.Call) and item.args else None
                if isinstance(default, ast.Constant) and isinstance(default.value, str):
                    yield default.lineno, None, default.value, [f"SECURITY_{key}"]


__all__ = [
    "BUILTIN",
    "BUILTIN_DIR",
    "I18n",
    "LocaleSelector",
    "extract_config_messages",
    "is_subject_key",
    "load_catalogs",
    "normalize_locale",
    "selector_is_sync",
    "subject_defaults",
    "translation_directories",
]
