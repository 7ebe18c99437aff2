"""Flask-Security's ``forms`` module for Flask apps: the same classes as
quart_security's (a form binds data and runs the app's validators; nothing
in it waits on the framework)."""

from __future__ import annotations

from quart_security.forms import *  # noqa: F403
from quart_security.forms import __all__ as __all__
