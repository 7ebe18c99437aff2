"""What the library's templates can use, the same on Quart and on Flask.

Both adapters register ``template_globals`` as an app context processor, so
every template (the library's pages and mails, and the app's own) gets
Flask-Security's names: ``security``, ``url_for_security``,
``_fs_is_user_authenticated``, ``_fsdomain`` (the translation function) and
``current_user``. The library's pages also get what the app registered with
``security.context_processor(fn)``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ..proxies import current_user
from ..state import request_state
from .urls import url_for_security

if TYPE_CHECKING:
    from ..extension import Security
    from .port import WebPort


def template_globals(security: Security, port: WebPort) -> dict[str, Any]:
    """The names every template gets (the adapters' context processor)."""
    state = request_state(port.g)
    return {
        "security": security,
        "_fsdomain": security.gettext,
        "url_for_security": lambda endpoint, **values: url_for_security(
            security, port, endpoint, **values
        ),
        "_fs_is_user_authenticated": state.user is not None,
        "current_user": current_user._get_current_object(),
    }


def page_context(security: Security) -> dict[str, Any]:
    """What the app's ``security.context_processor`` functions add to the library's pages."""
    context: dict[str, Any] = {}
    for fn in security.context_processors:
        context.update(fn())
    return context
