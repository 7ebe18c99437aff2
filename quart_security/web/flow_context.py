"""The flow context of one request: the services, this request's outbox, its links."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ..errors import ConfigurationError
from ..flows.context import FlowContext
from ..state import request_state
from .urls import url_for_security

if TYPE_CHECKING:
    from ..extension import Security
    from ..outbox import Outbox
    from .port import WebPort


def external_base(security: Security) -> str:
    """Where links in mail point: EXTERNAL_BASE_URL, else PREFERRED_URL_SCHEME + SERVER_NAME.

    Never the request's Host header (host-header poisoning of reset links);
    a feature that mails links refuses to start without one (config.py).
    """
    base = security.cv("EXTERNAL_BASE_URL")
    if base:
        return str(base).rstrip("/")
    cfg = security.app_config
    server_name = cfg.get("SERVER_NAME")
    if server_name:
        return f"{cfg.get('PREFERRED_URL_SCHEME', 'http')}://{server_name}"
    raise ConfigurationError(
        "mails with links need SECURITY_EXTERNAL_BASE_URL (or SERVER_NAME): links "
        "are never built from the request's Host header"
    )


class PortLinks:
    """LinkBuilder over the framework's url_for (the path) and the external base."""

    def __init__(self, security: Security, port: WebPort) -> None:
        self._security = security
        self._port = port

    def external_url(self, endpoint: str, **values: Any) -> str:
        path = url_for_security(self._security, self._port, endpoint, **values)
        return external_base(self._security) + path


def flow_context(security: Security, port: WebPort, outbox: Outbox | None = None) -> FlowContext:
    """The context a flow gets for this request (its outbox is the request's)."""
    from .attempts import RequestAttempts

    return security.flow_context(
        request_state(port.g).outbox if outbox is None else outbox,
        PortLinks(security, port),
        RequestAttempts(security, port),
    )
