"""``Security`` for Flask apps: the same extension, with the Flask adapter and a sync datastore."""

from __future__ import annotations

import asyncio
from typing import Any, ClassVar, cast

import quart_security.extension as core
from quart_security.clock import Clock
from quart_security.datastore.base import UserDatastore as AsyncUserDatastore
from quart_security.errors import ConfigurationError
from quart_security.mail_queue import ThreadMailQueue

from .adapter import FlaskAdapter
from .datastore import UserDatastore
from .driver import close_with_each_loop, run
from .phone_util import PhoneUtil as FlaskPhoneUtil
from .recovery_codes import MfRecoveryCodesUtil as FlaskMfRecoveryCodesUtil


class Security(core.Security):
    """``Security(app, datastore)``; ``security.datastore`` is the sync datastore the app passed."""

    adapter_class: ClassVar[type[core.Adapter] | None] = FlaskAdapter
    default_phone_util_cls = FlaskPhoneUtil
    default_mf_recovery_codes_util_cls = FlaskMfRecoveryCodesUtil

    # Same signatures as the core's, typed for the sync datastore a Flask app passes.
    def __init__(
        self,
        app: Any = None,
        datastore: UserDatastore | None = None,
        register_blueprint: bool = True,
        *,
        clock: Clock | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(
            app,
            cast("AsyncUserDatastore[Any, Any] | None", datastore),
            register_blueprint,
            clock=clock,
            **kwargs,
        )

    def init_app(
        self,
        app: Any,
        # The core's type is accepted (and refused with a clear error at run time).
        datastore: UserDatastore | AsyncUserDatastore[Any, Any] | None = None,
        register_blueprint: bool | None = None,
        **kwargs: Any,
    ) -> None:
        super().init_app(
            app,
            cast("AsyncUserDatastore[Any, Any] | None", datastore),
            register_blueprint,
            **kwargs,
        )

    def drain_mail(self, timeout: float | None = None) -> bool:
        """Block until the mail queued so far is delivered; False if ``timeout`` ran out.

        Mail is delivered by a background thread, and interpreter exit waits
        for it (up to ``security.mailer.queue.shutdown_timeout``). Call this
        where a process ends some other way, or must know its mail is out:
        tests, a gunicorn ``worker_exit`` hook, a script before ``os._exit``.
        """
        queue = self.mailer.queue
        if isinstance(queue, ThreadMailQueue):
            return queue.join(timeout)
        try:  # a queue the app installed itself
            run(asyncio.wait_for(queue.drain(), timeout))
        except TimeoutError:
            return False
        return True

    def _build_throttle(self) -> None:
        super()._build_throttle()
        # Each Flask thread has its own loop, and the Redis store a client per loop.
        close_with_each_loop(self.throttle)

    def unlock_user(self, user: Any) -> None:  # type: ignore[override]
        """An admin's unlock (sync on Flask): forget the password budget and lockout."""
        run(super().unlock_user(user))

    def send_tf_token(self, user: Any, method: str, **kwargs: Any) -> Any:
        """``UserMixin.tf_send_security_token``: a plain call on Flask."""
        from .api import send_tf_token

        return send_tf_token(self, user, method, **kwargs)

    def _async_store(self, datastore: Any) -> AsyncUserDatastore[Any, Any]:
        if isinstance(datastore, UserDatastore):
            return datastore.async_store
        raise ConfigurationError(
            "flask_compat.Security needs a flask_compat datastore, e.g. "
            "SQLAlchemyUserDatastore(db, User, Role), SQLAlchemySessionUserDatastore(session, "
            "User, Role) or PyMongoUserDatastore(mongo_db, User, Role); an async quart_security "
            "datastore cannot be shared by Flask's threads"
        )
