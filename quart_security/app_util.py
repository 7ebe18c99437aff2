"""What the app's overridable util classes share: Flask-Security's constructor
(``Cls(app)``), their settings, the app's ``Security`` and the text of their
errors.

``Security`` builds each util once and binds it (``bind(config, security)``),
so a subclass that skips ``super().__init__()`` still works; flows tested
without an app bind a plain settings reader. An unbound util reads the
current app's settings.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from .errors import MessageText

if TYPE_CHECKING:
    from .extension import Security

#: Reads SECURITY_<key> (``Security.cv``, or a plain dict's lookup in flow tests).
ConfigReader = Callable[[str], Any]


def current_security_or_none() -> Security | None:
    """The Security of the current app, or None outside one."""
    from .state import current_security

    try:
        return current_security()
    except RuntimeError:
        return None


def message_text(security: Security | None, key: str, kwargs: Mapping[str, Any]) -> MessageText:
    """A built-in error string: the message as it reads now, keeping its key.

    Without a Security (flows tested without an app) the text is the key; the
    key is what the web layer translates either way.
    """
    text = security.message(key, **kwargs) if security is not None else key
    return MessageText(text, key, kwargs)


class AppUtil:
    """Base of the util classes: the app, the bound settings and Security."""

    _security: Security | None = None
    _config: ConfigReader | None = None

    def __init__(self, app: Any) -> None:
        self.app = app

    def bind(self, config: ConfigReader, security: Security | None = None) -> None:
        """Give the util its settings (done by ``Security`` at init_app)."""
        self._config = config
        self._security = security

    def _cv(self, key: str) -> Any:
        if self._config is not None:
            return self._config(key)
        security = current_security_or_none()
        if security is None:
            return self._unbound_setting(key)
        return security.cv(key)

    def _unbound_setting(self, key: str) -> Any:
        """A setting read with no app at all: an error, unless a util has defaults."""
        raise RuntimeError(f"{type(self).__name__} used outside an app with Security")

    def _text(self, key: str, **kwargs: Any) -> MessageText:
        """The library's error ``key`` as a string that keeps its key."""
        return message_text(self._security or current_security_or_none(), key, kwargs)
