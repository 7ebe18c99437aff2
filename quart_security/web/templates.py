"""What the library's templates can use, the same on Quart and on Flask.

Both adapters register ``template_globals`` as an app context processor, so
every template (the library's pages and mails, and the app's own) gets
Flask-Security's names: ``security``, ``url_for_security``,
``_fs_is_user_authenticated``, ``_fsdomain`` (the translation function) and
``current_user``. The library's pages and mails also get what the app's
context processors return (``security.context_processor(fn)`` for all of
them, ``security.login_context_processor(fn)`` and the like for one page,
``security.mail_context_processor(fn)`` for mails), and an app may render
them itself with a ``render_template`` hook.
"""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable, Mapping
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


#: The context processor group of each page (Flask-Security's names).
PAGE_GROUPS = {
    "LOGIN_USER_TEMPLATE": "login",
    "VERIFY_TEMPLATE": "verify",
    "REGISTER_USER_TEMPLATE": "register",
    "SEND_CONFIRMATION_TEMPLATE": "send_confirmation",
    "FORGOT_PASSWORD_TEMPLATE": "forgot_password",
    "RESET_PASSWORD_TEMPLATE": "reset_password",
    "CHANGE_PASSWORD_TEMPLATE": "change_password",
    "CHANGE_EMAIL_TEMPLATE": "change_email",
    "CHANGE_USERNAME_TEMPLATE": "change_username",
    "USERNAME_RECOVERY_TEMPLATE": "recover_username",
    "TWO_FACTOR_SETUP_TEMPLATE": "tf_setup",
    "TWO_FACTOR_VERIFY_CODE_TEMPLATE": "tf_token_validation",
    "TWO_FACTOR_SELECT_TEMPLATE": "tf_select",
    "MULTI_FACTOR_RECOVERY_CODES_TEMPLATE": "mf_recovery_codes",
    "MULTI_FACTOR_RECOVERY_TEMPLATE": "mf_recovery",
}


async def processor_context(security: Security, group: str) -> dict[str, Any]:
    """What the app's context processors add: the global ones, then ``group``'s.

    A processor may be sync or (on Quart) async; one that returns something
    other than a mapping is a programming error and raises.
    """
    context: dict[str, Any] = {}
    for name in ("global", group):
        for fn in security.context_processors.get(name, ()):
            names = fn()
            if inspect.isawaitable(names):
                names = await names
            if not isinstance(names, Mapping):
                raise TypeError(f"context processor {fn!r} returned {type(names).__name__}")
            context.update(names)
    return context


def page_group(template_key: str) -> str:
    return PAGE_GROUPS.get(template_key, template_key.removesuffix("_TEMPLATE").lower())


def renderer(security: Security, port: WebPort) -> Callable[..., Awaitable[str]]:
    """The app's ``render_template`` hook if it gave one, else the framework's.

    The hook is Flask-Security's ``fn(template, **context)``, sync or async;
    for a mail it must return text.
    """
    hook = security.render_template_hook
    if hook is None:
        return port.render_template

    async def render(template: str, **context: Any) -> Any:
        result = hook(template, **context)
        if inspect.isawaitable(result):
            result = await result
        return result

    return render


def mail_renderer(security: Security, port: WebPort) -> Callable[..., Awaitable[str]]:
    """How this request renders its mails: the app's mail context processors
    (global and "mail") under the library's context, through ``renderer``."""
    render = renderer(security, port)

    async def render_mail(template: str, **context: Any) -> str:
        names = await processor_context(security, "mail")
        text = await render(template, **{**names, **context})
        if not isinstance(text, str):
            raise TypeError(f"render_template returned {type(text).__name__} for mail {template}")
        return text

    return render_mail
