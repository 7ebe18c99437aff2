"""``current_user``: the request's user, or an anonymous user.

The user is resolved (with one datastore round trip) before the view runs when
the request carries credentials, so reading ``current_user`` never does I/O.
It works in request and websocket contexts, in Quart and in Flask.
"""

from __future__ import annotations

from typing import Any

from werkzeug.local import LocalProxy

from .mixins import AnonymousUser
from .state import STATE_ATTR

_ANONYMOUS = AnonymousUser()


def _framework_g() -> Any:
    import quart

    if quart.has_app_context():
        return quart.g
    import flask

    if flask.has_app_context():
        return flask.g
    return None


def _get_user() -> Any:
    g = _framework_g()
    state = getattr(g, STATE_ATTR, None) if g is not None else None
    if state is not None and state.user is not None:
        return state.user
    return _ANONYMOUS


current_user: Any = LocalProxy(_get_user)
