"""``Security``: reads the config and wires the datastore, the services, the
plugins, the hooks and the routes. It does nothing else.

Everything built here is built once, at init_app: serializers, the password
context and its hashing pool, the compiled identity attributes, the mailer.
Nothing on the request path re-reads or re-derives them. The class is
framework-neutral; an adapter (Quart here, Flask in flask_compat) registers
the blueprint and the request hooks, and everything that knows HTTP lives
in web/.
"""

from __future__ import annotations

import inspect
import logging
import os
from collections.abc import Callable, Mapping, MutableMapping
from datetime import timedelta
from typing import TYPE_CHECKING, Any, ClassVar

from . import config as config_module
from .clock import Clock, SystemClock
from .crypto.hashing_pool import HashingPool
from .crypto.password_policy import policy_from_config
from .crypto.passwords import PasswordContext, PasswordService
from .crypto.tokens import TokenKit
from .errors import ConfigurationError
from .flows.authentication import NoSecondFactor, SecondFactorPlugin
from .flows.context import AttemptGuard, FlowContext, LinkBuilder, NoAttemptGuard
from .flows.two_factor import CodeTfPlugin, canonical_method
from .i18n import I18n, LocaleSelector, selector_is_sync, translation_directories
from .identity import IdentityResolver
from .mail import Mailer
from .mail_util import MailUtil
from .outbox import Outbox
from .password_util import PasswordUtil
from .phone_util import PhoneUtil
from .recovery_codes import MfRecoveryCodesUtil
from .sms import SmsSenderFactory
from .throttle import Throttle, account_key
from .totp import Totp
from .username_util import UsernameUtil
from .web.client import trusted_networks
from .web.form_info import FormInfo, check_form_info, configure_forms
from .web.form_input import DEFAULT_BODY_LIMIT
from .web.hooks import Hooks
from .web.templates import PAGE_GROUPS
from .web.websocket_origin import Origin, allowed_origins, parse_origin

if TYPE_CHECKING:
    from .datastore.base import UserDatastore

log = logging.getLogger("quart_security")

SERIALIZER_SALTS = {
    "remember": "REMEMBER_SALT",
    "login": "LOGIN_SALT",
    "reset": "RESET_SALT",
    "change_email": "CHANGE_EMAIL_SALT",
    "confirm": "CONFIRM_SALT",
    "us_setup": "US_SETUP_SALT",
    "tf_setup": "TWO_FACTOR_SETUP_SALT",
    "tf_validity": "TWO_FACTOR_VALIDITY_SALT",
    "wan": "WAN_SALT",
}


#: Security() keywords that are not settings and that this code honours.


#: A template context processor: returns names for a page's (or mail's)
#: context; sync, or async on Quart.
ContextProcessor = Callable[[], Any]

#: The pages (and "mail") that run context processors, by registrar name.
#: Two-factor, unified sign-in, WebAuthn and recovery-code pages come with
#: their features; so does logout's (a logout here renders no page).
CONTEXT_PROCESSOR_GROUPS = (*PAGE_GROUPS.values(), "mail")
EXTENSION_ARGUMENTS = frozenset(
    {
        "mail_util_cls",
        "password_util_cls",
        "username_util_cls",
        "render_template",
        "totp_cls",
        "phone_util_cls",
        "mf_recovery_codes_util_cls",
    }
)


def _require_package(module: str, feature: str) -> None:
    """ConfigurationError, with the install hint, when ``feature`` lacks its package."""
    try:
        __import__(module)
    except ImportError as exc:
        raise ConfigurationError(
            f"{feature} needs the {module} package: pip install 'quart-flask-security[mfa]'"
        ) from exc


def _util_class(value: Any, argument: str, methods: tuple[str, ...], base: str) -> Any:
    """``value`` if it is a class with callable ``methods``, else a ConfigurationError."""
    if isinstance(value, type) and all(callable(getattr(value, m, None)) for m in methods):
        return value
    raise ConfigurationError(
        f"{argument} must be a class with {' and '.join(methods)} (subclass {base})"
    )


class Adapter:
    """What a web framework provides to the extension (see web/quart_adapter.py)."""

    def register(self, security: Security, app: Any, register_blueprint: bool) -> None:
        raise NotImplementedError


class Security:
    """The extension object, ``app.extensions["security"]``."""

    adapter_class: ClassVar[type[Adapter] | None] = None
    #: Set by ``locale_selector``; kept here so init_app may come after it.
    _locale_selector: LocaleSelector | None = None

    def __init__(
        self,
        app: Any = None,
        datastore: UserDatastore[Any, Any] | None = None,
        register_blueprint: bool = True,
        *,
        clock: Clock | None = None,
        **kwargs: Any,
    ) -> None:
        self.app: Any = None
        # ``datastore`` is what the app passed and uses; ``store`` is the async
        # datastore the core awaits. They are the same object in Quart; in
        # flask_compat ``datastore`` is the sync facade over ``store``.
        self.datastore: Any = datastore
        self.store: UserDatastore[Any, Any] = datastore  # type: ignore[assignment]
        self.register_blueprint = register_blueprint
        self.clock: Clock = clock or SystemClock()
        self._kwargs = kwargs
        #: The app's callbacks (Flask-Security's signatures), web/hooks.py.
        self.hooks = Hooks()
        #: The app's template context processors by page ("global": every
        #: page and mail), Flask-Security's ``*_context_processor`` methods.
        self.context_processors: dict[str, list[ContextProcessor]] = {}
        #: Form name -> FormInfo (web/form_info.py), built at init_app.
        self.forms: dict[str, FormInfo] = {}
        #: The authentication pipeline's second-factor plugins, asked in order
        #: (flows/authentication.py). Only the null plugin exists so far.
        self.second_factor_plugins: list[SecondFactorPlugin] = [NoSecondFactor()]
        if app is not None:
            self.init_app(app, datastore, register_blueprint)

    # ------------------------------------------------------------------ init
    def init_app(
        self,
        app: Any,
        datastore: UserDatastore[Any, Any] | None = None,
        register_blueprint: bool | None = None,
        **kwargs: Any,
    ) -> None:
        if datastore is not None:
            self.datastore = datastore
        if self.datastore is None:
            raise ConfigurationError("Security needs a datastore")
        self.store = self._async_store(self.datastore)
        if register_blueprint is not None:
            self.register_blueprint = register_blueprint
        self._kwargs.update(kwargs)
        self.app = app
        self.app_config: MutableMapping[str, Any] = app.config
        self._cv = config_module.ConfigView(app.config)
        self._refuse_unknown_arguments()
        config_module.init_config(app.config, self._kwargs)
        config_module.warn_unknown_keys(app.config, log)
        config_module.validate_config(app.config, self._kwargs)
        config_module.normalize_durations(app.config)
        self._check_models()
        self._default_session_samesite(app.config)
        self._build(app.config)
        self.forms = configure_forms(self._kwargs, app.config, self.store.user_model)
        self.render_template_hook = self._render_template_hook()
        app.extensions["security"] = self
        adapter_class = self.adapter_class
        if adapter_class is None:
            from .web.quart_adapter import QuartAdapter

            adapter_class = QuartAdapter
        adapter_class().register(self, app, self.register_blueprint)

    def _refuse_unknown_arguments(self) -> None:
        """A Security() keyword that is neither a setting nor one we take is refused.

        Flask-Security's other class hooks (password_util_cls, totp_cls, ...)
        would otherwise be accepted and silently ignored (fail closed).
        """
        unknown = sorted(
            name
            for name in self._kwargs
            if name not in EXTENSION_ARGUMENTS and not config_module.is_setting_argument(name)
        )
        if unknown:
            raise ConfigurationError(
                "Security() does not take "
                + ", ".join(unknown)
                + " here (not built yet in quart-flask-security, or unknown); remove "
                + ("it" if len(unknown) == 1 else "them")
            )

    def _async_store(self, datastore: Any) -> UserDatastore[Any, Any]:
        """The async datastore behind what the app passed (adapters override)."""
        return datastore  # type: ignore[no-any-return]

    def _check_models(self) -> None:
        user_model = self.store.user_model
        if not hasattr(user_model, "fs_uniquifier"):
            raise ConfigurationError("the User model needs an fs_uniquifier field")
        if self.cv("USERNAME_ENABLE") and not hasattr(user_model, "username"):
            raise ConfigurationError("SECURITY_USERNAME_ENABLE needs a username field")
        self.has_token_uniquifier = hasattr(user_model, "fs_token_uniquifier")

    def _build(self, cfg: Mapping[str, Any]) -> None:
        secret = cfg.get("SECRET_KEY")
        if not secret:
            raise ConfigurationError("SECRET_KEY must be set")
        self.tokens = TokenKit(
            secret_key=secret,
            fallbacks=list(cfg.get("SECRET_KEY_FALLBACKS") or []),
            salts={name: self.cv(key) for name, key in SERIALIZER_SALTS.items()},
            clock=self.clock,
            token_max_age=self._token_max_age,
            expire_timestamp=lambda user: int(self.cv("TOKEN_EXPIRE_TIMESTAMP")(user) or 0),
            csrf_time_limit=lambda: cfg.get("WTF_CSRF_TIME_LIMIT", 3600),
        )
        scheme = self.cv("PASSWORD_HASH")
        self.password_context = PasswordContext(
            default_scheme=scheme,
            schemes=list(self.cv("PASSWORD_SCHEMES")),
            deprecated=list(self.cv("DEPRECATED_PASSWORD_SCHEMES")),
            single_hash=self.cv("PASSWORD_SINGLE_HASH"),
            salt=self.cv("PASSWORD_SALT"),
            hash_options=self.cv("PASSWORD_HASH_OPTIONS") or {},
            normalize_form=self.cv("PASSWORD_NORMALIZE_FORM"),
            max_length=self.cv("PASSWORD_MAX_LENGTH"),
        )
        size = self.cv("PASSWORD_HASH_POOL_SIZE") or os.cpu_count() or 1
        queue = self.cv("PASSWORD_HASH_QUEUE_SIZE")
        share = self.cv("PASSWORD_HASH_CLIENT_SHARE")
        try:
            self.hashing_pool = HashingPool(
                size=size,
                queue_size=queue if queue is not None else 16 * size,
                nice=self.cv("PASSWORD_HASH_NICE"),
                client_share=share,
            )
        except (TypeError, ValueError) as exc:
            raise ConfigurationError(f"SECURITY_PASSWORD_HASH_CLIENT_SHARE: {exc}") from exc
        self.passwords = PasswordService(self.password_context, self.hashing_pool)
        self.password_policy = policy_from_config(self.cv)
        attributes = list(self.cv("USER_IDENTITY_ATTRIBUTES"))
        if self.cv("USERNAME_ENABLE") and not any("username" in a for a in attributes):
            attributes.append(
                {
                    "username": {
                        "mapper": "quart_security.identity.uia_username_mapper",
                        "case_insensitive": True,
                    }
                }
            )
        self.identity = IdentityResolver(attributes)
        self.remember_cookie_name: str = cfg.get("REMEMBER_COOKIE_NAME", "remember_token")
        duration = cfg.get("REMEMBER_COOKIE_DURATION", timedelta(days=365))
        self.remember_duration: timedelta = (
            duration if isinstance(duration, timedelta) else timedelta(seconds=int(duration))
        )
        self.body_limit = DEFAULT_BODY_LIMIT
        self.websocket_origins = self._websocket_origins()
        self.mailer = Mailer(self)
        self.i18n = I18n(
            self.cv("I18N_DOMAIN"),
            translation_directories(self.cv("I18N_DIRNAME"), getattr(self.app, "root_path", None)),
            self._locale_selector,
        )
        self.i18n_domain = self.i18n  # Flask-Security's name for it
        # Flask-Security builds its MailUtil with the app (subclasses keep that
        # signature); ``_security`` is set here so a subclass that skips
        # super().__init__() still works.
        mail_util_cls = self._kwargs.get("mail_util_cls") or MailUtil
        if not isinstance(mail_util_cls, type) or not all(
            callable(getattr(mail_util_cls, name, None))
            for name in ("send_mail", "normalize", "validate")
        ):
            raise ConfigurationError(
                "mail_util_cls must be a class with send_mail, normalize and validate"
                " (subclass quart_security.mail_util.MailUtil)"
            )
        self.mail_util_cls: type[MailUtil] = mail_util_cls
        self.mail_util: MailUtil = mail_util_cls(self.app)
        self.mail_util._security = self
        self._build_field_utils()
        self._build_multi_factor()
        self._build_throttle()

    def _build_field_utils(self) -> None:
        """Flask-Security's password_util_cls and username_util_cls, built with the app.

        Checked like mail_util_cls: a class with the methods the library
        calls. ``bind`` gives each its settings afterwards (a subclass may
        skip ``super().__init__()``); the flows reach them through FlowContext.
        """
        password_cls = _util_class(
            self._kwargs.get("password_util_cls") or PasswordUtil,
            "password_util_cls",
            ("normalize", "validate"),
            "quart_security.PasswordUtil",
        )
        username_cls = _util_class(
            self._kwargs.get("username_util_cls") or UsernameUtil,
            "username_util_cls",
            ("normalize", "validate"),
            "quart_security.UsernameUtil",
        )
        if inspect.iscoroutinefunction(username_cls.normalize):
            raise ConfigurationError(
                "username_util_cls.normalize must be a plain function: it maps the"
                " identities typed at sign-in, where nothing can wait"
            )
        self.password_util_cls: type[PasswordUtil] = password_cls
        self.password_util: PasswordUtil = password_cls(self.app)
        PasswordUtil.bind(self.password_util, self.cv, self.password_policy, self)
        self.username_util_cls: type[UsernameUtil] = username_cls
        self.username_util: UsernameUtil = username_cls(self.app)
        UsernameUtil.bind(self.username_util, self.cv, self)

    def _build_throttle(self) -> None:
        """Rate limits, lockout and mail caps (throttle.py), and where client addresses
        come from (TRUSTED_PROXIES): every value checked now."""
        try:
            self.trusted_proxies = trusted_networks(self.cv("TRUSTED_PROXIES"))
        except ValueError as exc:
            raise ConfigurationError(f"SECURITY_{exc}") from exc
        self.throttle = Throttle(self.cv, config_module.DEFAULT_CONFIG["RATE_LIMITS"])

    # Class hooks of the multi-factor features; flask_compat swaps in its sync utils.
    default_phone_util_cls: ClassVar[type[PhoneUtil]] = PhoneUtil
    default_mf_recovery_codes_util_cls: ClassVar[type[MfRecoveryCodesUtil]] = MfRecoveryCodesUtil

    def _build_multi_factor(self) -> None:
        """Totp, PhoneUtil, MfRecoveryCodesUtil and the code plugin, when their features are on.

        Everything two-factor needs is checked here, at start-up: the ``mfa``
        extra's packages for the enabled methods, a registered SMS sender, and
        (for replay protection and bounded attempts) the model's two counters.
        """
        self.totp_factory: Totp | None = None
        self.phone_util: PhoneUtil | None = None
        self.mf_recovery_codes_util: MfRecoveryCodesUtil | None = None
        self.second_factor_plugins = [NoSecondFactor()]
        classes = {"totp_cls": Totp, "phone_util_cls": PhoneUtil}
        classes["mf_recovery_codes_util_cls"] = MfRecoveryCodesUtil
        for argument, base in classes.items():
            given = self._kwargs.get(argument)
            if given is not None and not (isinstance(given, type) and issubclass(given, base)):
                raise ConfigurationError(
                    f"{argument} must be a subclass of {base.__module__}.{base.__name__}"
                )
        if not self.cv("TWO_FACTOR"):
            return
        totp_cls = self._kwargs.get("totp_cls") or Totp
        try:
            self.totp_factory = totp_cls(
                self.cv("TOTP_SECRETS"), self.cv("TOTP_ISSUER"), clock=self.clock
            )
        except (ValueError, ImportError) as exc:
            raise ConfigurationError(f"SECURITY_TOTP_SECRETS / TOTP_ISSUER: {exc}") from exc
        methods = {canonical_method(m) for m in self.cv("TWO_FACTOR_ENABLED_METHODS")}
        if "authenticator" in methods:
            _require_package("qrcode", "an authenticator app's setup QR code")
        if "sms" in methods:
            _require_package("phonenumbers", "SMS two-factor")
            SmsSenderFactory.createSender(self.cv("SMS_SERVICE"))  # unknown: refused now
        phone_cls = self._kwargs.get("phone_util_cls") or self.default_phone_util_cls
        self.phone_util = phone_cls(self.app)
        PhoneUtil.bind(self.phone_util, self.cv, self)
        guards = [
            key
            for key in ("TWO_FACTOR_REPLAY_PROTECTION", "TWO_FACTOR_MAX_ATTEMPTS")
            if self.cv(key)
        ]
        if guards and not self.store.supports_tf_counters():
            raise ConfigurationError(
                ", ".join("SECURITY_" + k for k in guards)
                + " need the user model's tf_totp_last_counter and tf_code_attempts fields"
                " (two nullable integers, docs/migrating.md); add them, or set these to"
                " False / 0 for Flask-Security's behaviour"
            )
        if self.cv("MULTI_FACTOR_RECOVERY_CODES"):
            util_cls = (
                self._kwargs.get("mf_recovery_codes_util_cls")
                or self.default_mf_recovery_codes_util_cls
            )
            self.mf_recovery_codes_util = util_cls(self.app)
            MfRecoveryCodesUtil.bind(self.mf_recovery_codes_util, self.cv, self)
        self.second_factor_plugins = [CodeTfPlugin()]

    async def unlock_user(self, user: Any) -> None:
        """An admin's unlock: forget ``user``'s password budget and lockout."""
        await self.throttle.unlock(account_key(self.identity, user, None))

    def send_tf_token(self, user: Any, method: str, **kwargs: Any) -> Any:
        """``UserMixin.tf_send_security_token``: a coroutine here (flask_compat: a call)."""
        from .api import send_tf_token

        return send_tf_token(self, user, method, **kwargs)

    def _default_session_samesite(self, cfg: MutableMapping[str, Any]) -> None:
        """DEFAULT_COOKIE_SAMESITE for a session cookie the app gave no SameSite.

        Lax keeps the cookie off cross-site POSTs, frames and websockets while
        links into the app still arrive signed in (docs/architecture.md).
        """
        default = self.cv("DEFAULT_COOKIE_SAMESITE")
        if default and cfg.get("SESSION_COOKIE_SAMESITE") is None:
            cfg["SESSION_COOKIE_SAMESITE"] = default

    def _websocket_origins(self) -> frozenset[Origin]:
        """WEBSOCKET_ALLOWED_ORIGINS, parsed once; an entry that is no origin is refused."""
        values = self.cv("WEBSOCKET_ALLOWED_ORIGINS")
        if isinstance(values, str | bytes) or not isinstance(values, list | tuple | set):
            raise ConfigurationError("SECURITY_WEBSOCKET_ALLOWED_ORIGINS must be a list of origins")
        bad = [v for v in values if not isinstance(v, str) or parse_origin(v) is None]
        if bad:
            raise ConfigurationError(
                f"SECURITY_WEBSOCKET_ALLOWED_ORIGINS has entries that are not origins {bad!r}:"
                " write each as 'https://app.example' or 'https://app.example:8443'"
                " (scheme, host and optional port, nothing else)"
            )
        return allowed_origins(list(values))

    def _token_max_age(self) -> float | None:
        value = self.cv("TOKEN_MAX_AGE")
        if value is None:
            return None
        seconds = value.total_seconds() if isinstance(value, timedelta) else float(value)
        return seconds if seconds > 0 else None

    # ------------------------------------------------------------------ flows
    def flow_context(
        self, outbox: Outbox, links: LinkBuilder, attempts: AttemptGuard | None = None
    ) -> FlowContext:
        """The app's services as a flow sees them; the caller gives the outbox and
        how links are built (a request's, or a CLI command's)."""
        return FlowContext(
            store=self.store,
            passwords=self.passwords,
            policy=self.password_policy,
            tokens=self.tokens,
            config=self.cv,
            clock=self.clock,
            identity=self.identity,
            outbox=outbox,
            links=links,
            password_util=self.password_util,
            username_util=self.username_util,
            sender=self.app,
            totp=getattr(self, "totp_factory", None),
            messages=self.message,
            attempts=attempts or NoAttemptGuard(),
        )

    # ------------------------------------------------------------------ config access
    def cv(self, key: str) -> Any:
        """The value of SECURITY_<key> for this app."""
        return self._cv(key)

    def gettext(self, text: str, **kwargs: Any) -> str:
        """A template or subject string in the current locale, then %-formatted with kwargs."""
        return self.i18n.gettext(text, **kwargs)

    def message(self, key: str, **kwargs: Any) -> str:
        """SECURITY_MSG_<key> translated, then formatted (values are never translated).

        The app's override text is its own msgid; without a translation it is
        used as written.
        """
        return self.message_with_category(key, **kwargs)[0]

    def message_with_category(self, key: str, **kwargs: Any) -> tuple[str, str]:
        """(translated text, flash category) of SECURITY_MSG_<key>.

        The one way a message reaches a user (JSON, page, flash, redirect
        query), so none of them can skip the translation.
        """
        configured = self.app_config.get(config_module.MSG_PREFIX + key)
        try:
            text, category = configured or config_module.DEFAULT_MESSAGES[key]
        except KeyError:
            raise KeyError(f"unknown message {config_module.MSG_PREFIX}{key}") from None
        return config_module._format(self.i18n.translate(text), kwargs), category

    def locale_selector(self, fn: LocaleSelector) -> LocaleSelector:
        """Register the app's locale: a sync callable returning "fr", "de-DE", ... or None.

        Usable as a decorator. Without one, everything is English. An async app
        computes the locale in before_request, stores it on ``g`` and returns it
        from here (see docs/i18n.md).
        """
        selector_is_sync(fn)
        self._locale_selector = fn
        if hasattr(self, "i18n"):
            self.i18n.selector = fn
        return fn

    # ------------------------------------------------------------------ hooks (Flask-Security API)
    def render_json(self, cb: Callable[..., Any]) -> None:
        """Render every JSON answer: ``cb(payload, code, headers, user)``, sync or async."""
        self.hooks.render_json = cb

    def want_json(self, fn: Callable[[Any], bool]) -> None:
        """Decide JSON or HTML: ``fn(request) -> bool`` (a plain function)."""
        if inspect.iscoroutinefunction(fn):
            raise ConfigurationError(
                "want_json takes a plain function fn(request) -> bool: it is asked"
                " where nothing can wait"
            )
        self.hooks.want_json = fn

    def unauthn_handler(self, cb: Callable[..., Any]) -> None:
        """Answer a request that is not authenticated: ``cb(mechanisms, headers)``."""
        self.hooks.unauthn = cb

    def unauthz_handler(self, cb: Callable[..., Any]) -> None:
        """Answer a missing role or permission: ``cb(func_name, params)``."""
        self.hooks.unauthz = cb

    def reauthn_handler(self, cb: Callable[..., Any]) -> None:
        """Answer a stale authentication: ``cb(within, grace)`` (timedeltas)."""
        self.hooks.reauthn = cb

    # ------------------------------------------------------------------ customisation
    def set_form_info(self, name: str, form_info: FormInfo) -> None:
        """Use ``form_info`` (a class and/or an instantiator) for the form ``name``."""
        check_form_info(name, form_info, self.store.user_model)
        self.forms[name] = form_info

    def _render_template_hook(self) -> Callable[..., Any] | None:
        """The ``render_template`` argument: ``fn(template, **context)``, sync or async."""
        hook = self._kwargs.get("render_template")
        if hook is not None and not callable(hook):
            raise ConfigurationError("render_template must be a callable(template, **context)")
        return hook

    def _add_context_processor(self, group: str, fn: ContextProcessor) -> ContextProcessor:
        """Register ``fn`` for ``group``; returns it, so the registrars work as decorators."""
        if not callable(fn):
            raise ConfigurationError("a context processor must be a callable returning a dict")
        processors = self.context_processors.setdefault(group, [])
        if fn not in processors:
            processors.append(fn)
        return fn

    def context_processor(self, fn: ContextProcessor) -> ContextProcessor:
        """Add ``fn()``'s names to every library page and mail."""
        return self._add_context_processor("global", fn)

    def login_context_processor(self, fn: ContextProcessor) -> ContextProcessor:
        return self._add_context_processor("login", fn)

    def verify_context_processor(self, fn: ContextProcessor) -> ContextProcessor:
        return self._add_context_processor("verify", fn)

    def register_context_processor(self, fn: ContextProcessor) -> ContextProcessor:
        return self._add_context_processor("register", fn)

    def send_confirmation_context_processor(self, fn: ContextProcessor) -> ContextProcessor:
        return self._add_context_processor("send_confirmation", fn)

    def forgot_password_context_processor(self, fn: ContextProcessor) -> ContextProcessor:
        return self._add_context_processor("forgot_password", fn)

    def reset_password_context_processor(self, fn: ContextProcessor) -> ContextProcessor:
        return self._add_context_processor("reset_password", fn)

    def change_password_context_processor(self, fn: ContextProcessor) -> ContextProcessor:
        return self._add_context_processor("change_password", fn)

    def change_email_context_processor(self, fn: ContextProcessor) -> ContextProcessor:
        return self._add_context_processor("change_email", fn)

    def change_username_context_processor(self, fn: ContextProcessor) -> ContextProcessor:
        return self._add_context_processor("change_username", fn)

    def recover_username_context_processor(self, fn: ContextProcessor) -> ContextProcessor:
        return self._add_context_processor("recover_username", fn)

    def tf_setup_context_processor(self, fn: ContextProcessor) -> ContextProcessor:
        return self._add_context_processor("tf_setup", fn)

    def tf_token_validation_context_processor(self, fn: ContextProcessor) -> ContextProcessor:
        return self._add_context_processor("tf_token_validation", fn)

    def tf_select_context_processor(self, fn: ContextProcessor) -> ContextProcessor:
        return self._add_context_processor("tf_select", fn)

    def mf_recovery_codes_context_processor(self, fn: ContextProcessor) -> ContextProcessor:
        return self._add_context_processor("mf_recovery_codes", fn)

    def mf_recovery_context_processor(self, fn: ContextProcessor) -> ContextProcessor:
        return self._add_context_processor("mf_recovery", fn)

    def mail_context_processor(self, fn: ContextProcessor) -> ContextProcessor:
        return self._add_context_processor("mail", fn)
