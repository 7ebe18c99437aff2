"""Mail as an intent: what a flow wants sent, not how or when.

A flow never renders or sends mail: it puts a ``MailIntent`` (template,
recipient, subject, context) in the request's ``Outbox``. The web lifecycle
renders the request's intents once the view has succeeded, commits the unit
of work, and only then hands the messages to delivery (mail.py, off the
request path). So a flow is tested without an app (read its outbox), a mail
about a change that rolls back is never sent, and a response never waits on
SMTP.

An intent with ``deliver=False`` is rendered and thrown away: the answer for
an address without an account then costs the same rendering work as the one
for a real account (reference/security.md A-01), though nothing is sent.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

#: Where the mail templates live; the *_TEMPLATE settings of Flask-Security 5.9
#: name them with this prefix ("security/email/welcome").
MAIL_TEMPLATE_DIR = "security/email/"


def template_name(setting: Any) -> str:
    """The name under security/email/ of a mail template setting's value."""
    return str(setting).removeprefix(MAIL_TEMPLATE_DIR)


@dataclass(frozen=True)
class MailIntent:
    """One mail a flow wants sent."""

    #: Name under security/email/ (the .txt and .html templates), e.g. "welcome".
    template: str
    #: The subject as written in the settings: translated when rendered, in
    #: the request's locale.
    subject: str
    recipient: str
    context: Mapping[str, Any] = field(default_factory=lambda: MappingProxyType({}))
    #: False: render it (for the same cost) and send nothing.
    deliver: bool = True


class Outbox:
    """The intents of one request (or one piece of work outside a request), in order."""

    def __init__(self) -> None:
        self._intents: list[MailIntent] = []

    def add(self, intent: MailIntent) -> None:
        self._intents.append(intent)

    def take(self) -> list[MailIntent]:
        """Every intent so far, emptying the outbox (rendering takes them once)."""
        intents, self._intents = self._intents, []
        return intents

    def discard(self) -> None:
        """Forget every intent: the work they were about did not happen."""
        self._intents = []

    def __len__(self) -> int:
        return len(self._intents)

    def __iter__(self) -> Any:
        return iter(list(self._intents))
