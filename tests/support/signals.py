"""Recording what a signal sends, for the tests that check it."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any


@contextmanager
def captured(signal: Any) -> Iterator[list[dict[str, Any]]]:
    """The keyword arguments of every send of ``signal`` inside the block.

    A plain receiver: flask_compat runs it on the request's thread, Quart on
    the loop, and both are awaited or called before the view goes on.
    """
    calls: list[dict[str, Any]] = []

    def receiver(sender: Any, **kwargs: Any) -> None:
        calls.append(kwargs)

    with signal.connected_to(receiver):
        yield calls
