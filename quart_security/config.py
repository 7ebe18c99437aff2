"""Every SECURITY_* setting and message, in one table.

Flask-Security's configuration is our contract: every key of Flask-Security
5.9.2 exists here under the same name, with the same meaning and default.
Where we differ, the entry says so in a comment ("quart-flask-security
addition" or "safer default than Flask-Security"), so the table itself is the
list of deliberate differences.

Each entry also carries its status (``honoured``, ``not_yet`` or ``inert``,
see ``Status``): validate_config refuses a setting that is not built yet
unless it is left at its default, so a feature that does not exist cannot be
switched on and silently fail open. A new key is added with its status, e.g.
``"MAIL_QUEUE_SIZE": honoured(1000)``; one added without a status stops the
import.

Keys are stored without the ``SECURITY_`` prefix; ``init_config`` writes them
into an app config with it. Defaults that Flask-Security computes at run time
(a LocalProxy, lambdas) are plain objects here: ``FromAppConfig`` for values
read from another app setting when used, module-level functions for callables,
dotted-path strings for classes and identity mappers (imported by whoever
consumes them, so this module imports nothing above it).
"""

from __future__ import annotations

import copy
import difflib
import enum
import logging
import math
import re
from collections.abc import Mapping, MutableMapping, Sequence
from dataclasses import dataclass
from datetime import timedelta
from types import MappingProxyType
from typing import Any, Final

from .clock import system_utcnow_naive
from .errors import ConfigurationError

PREFIX: Final = "SECURITY_"
MSG_PREFIX: Final = "SECURITY_MSG_"


@dataclass(frozen=True, slots=True)
class FromAppConfig:
    """A default taken from another app setting at the moment it is used.

    Flask-Security uses a LocalProxy over ``current_app`` for EMAIL_SENDER so
    that MAIL_DEFAULT_SENDER may be set after the extension is initialised;
    ``ConfigView`` resolves this against the same app config.
    """

    key: str
    fallback: Any

    def resolve(self, app_config: Mapping[str, Any]) -> Any:
        value = app_config.get(self.key)
        return self.fallback if value is None else value


#: Default DATETIME_FACTORY: naive UTC, the form Flask-Security stores.
naive_utcnow = system_utcnow_naive


def no_token_expiry(user: Any) -> int:
    """Default TOKEN_EXPIRE_TIMESTAMP: 0 means no per-user expiry timestamp."""
    return 0


_SINGLE_HASH_SCHEMES: Final = frozenset(
    {
        "django_argon2",
        "django_bcrypt_sha256",
        "django_pbkdf2_sha256",
        "django_pbkdf2_sha1",
        "django_bcrypt",
        "django_salted_md5",
        "django_salted_sha1",
        "django_des_crypt",
        "plaintext",
    }
)


class Status(enum.Enum):
    """Whether this code does what a setting asks (DESIGN.md: "Fail closed").

    Every key of the table carries one. ``validate_config`` refuses a NOT_YET
    key set away from its default, so no setting is accepted that nothing
    here honours; building a feature means flipping its keys to HONOURED.
    """

    #: Read and applied, with Flask-Security's meaning (any partial support is
    #: enforced by validate_config, which refuses the values that do not work).
    HONOURED = "honoured"
    #: Not built yet: accepted only at its default (a feature switch: off).
    NOT_YET = "not built yet"
    #: Accepted at any value and without effect, for a reason given with the
    #: entry. Only for keys that mean nothing in this implementation.
    INERT = "accepted, no effect here"


@dataclass(frozen=True, slots=True)
class _Entry:
    default: Any
    status: Status
    note: str = ""


def honoured(default: Any) -> _Entry:
    """A table entry the code reads and applies."""
    return _Entry(default, Status.HONOURED)


def not_yet(default: Any, note: str = "") -> _Entry:
    """A table entry for a feature not built yet; ``note`` is added to the refusal."""
    return _Entry(default, Status.NOT_YET, note)


def inert(default: Any, reason: str) -> _Entry:
    """A table entry that has no effect here, and the reason why that is safe."""
    if not reason:
        raise ValueError("an inert setting needs its reason")
    return _Entry(default, Status.INERT, reason)


_TABLE: dict[str, _Entry] = {
    # ---------------------------------------------------------------- core
    "BLUEPRINT_NAME": honoured("security"),
    "URL_PREFIX": honoured(None),
    "SUBDOMAIN": honoured(None),
    "STATIC_FOLDER": not_yet("static"),
    "STATIC_FOLDER_URL": not_yet("/fs-static"),
    "FLASH_MESSAGES": honoured(True),
    # Safer default than Flask-Security (False there): answers do not reveal
    # whether an account exists. Set SECURITY_RETURN_GENERIC_RESPONSES=False
    # to restore Flask-Security's behaviour.
    "RETURN_GENERIC_RESPONSES": honoured(True),
    "INPUT_NORMALIZE_FORM": honoured("NFKD"),
    "I18N_DOMAIN": honoured("flask_security"),
    "I18N_DIRNAME": honoured("builtin"),
    "EMAIL_VALIDATOR_ARGS": honoured(None),
    "EMAIL_SENDER": honoured(FromAppConfig("MAIL_DEFAULT_SENDER", "no-reply@localhost")),
    "EMAIL_PLAINTEXT": honoured(True),
    "EMAIL_HTML": honoured(True),
    "REDIRECT_HOST": honoured(None),
    # None or "spa"; validate_config refuses any other value.
    "REDIRECT_BEHAVIOR": honoured(None),
    "REDIRECT_ALLOW_SUBDOMAINS": honoured(False),
    "REDIRECT_BASE_DOMAIN": honoured(None),
    "REDIRECT_ALLOWED_SUBDOMAINS": honoured([]),
    "DEFAULT_REMEMBER_ME": honoured(False),
    "DEFAULT_HTTP_AUTH_REALM": honoured("Login Required"),
    # quart-flask-security addition: HTTP Basic challenges name this charset
    # (RFC 7617 allows only "UTF-8"); None sends Flask-Security's challenge,
    # 'Basic realm="Login Required"'. Credentials are read as UTF-8 either way.
    "HTTP_AUTH_CHARSET": honoured(None),
    # Mapper stored as a dotted path; a callable is accepted too (resolve both).
    "USER_IDENTITY_ATTRIBUTES": honoured(
        [
            {
                "email": {
                    "mapper": "quart_security.identity.uia_email_mapper",
                    "case_insensitive": True,
                }
            }
        ]
    ),
    "FRESHNESS": honoured(timedelta(hours=24)),
    "FRESHNESS_GRACE_PERIOD": honoured(timedelta(hours=1)),
    "FRESHNESS_ALLOW_AUTH_TOKEN": honoured(True),
    "API_ENABLED_METHODS": honoured(["session", "token"]),
    # Applied to every answer of the library (endpoints and decorator
    # refusals); unknown directives are refused at start-up.
    "CACHE_CONTROL": honoured({"private": True, "no-store": True}),
    # Only change-email reads it; confirmed_at and the trackable times come from
    # the clock, so another factory would apply to one column of several.
    "DATETIME_FACTORY": not_yet(naive_utcnow, "only the change-email flow would use it"),
    "JOIN_USER_ROLES": inert(
        True,
        "roles always load with the user in one statement (an async lazy load cannot"
        " work); False only deferred that query in Flask-Security",
    ),
    "ANONYMOUS_USER_DISABLED": not_yet(False),
    "BACKWARDS_COMPAT_AUTH_TOKEN": honoured(False),
    "CLI_ROLES_NAME": honoured("roles"),
    "CLI_USERS_NAME": honoured("users"),
    # ---------------------------------------------------------------- abuse resistance
    # quart-flask-security additions (docs/security.md#rate-limits): every credential
    # endpoint is limited per client address, every account per password and code
    # check, whatever the way in; over a limit: 429 + Retry-After, before any hash.
    "RATE_LIMIT_ENABLED": honoured(True),
    # "memory://" (one process) or "redis://host:port/db" (several workers/instances).
    "RATE_LIMIT_STORAGE_URI": honoured("memory://"),
    # When the counters cannot be read (Redis down): False refuses credential
    # requests (503, logged); True lets them through unlimited (logged).
    "RATE_LIMIT_FAIL_OPEN": honoured(False),
    # Budgets, "<n>/<period>" (limits' syntax). Endpoint names: per client address,
    # every POST. "basic": per client, every HTTP Basic check. "password": per
    # account, every password check (login, verify, change; Basic counts its
    # failures). "code": per account, every one-time or recovery code tried.
    # A dict given here is merged over these; a value of None turns one off.
    "RATE_LIMITS": honoured(
        {
            "login": "30/minute",
            "verify": "30/minute",
            "register": "10/minute",
            "send_confirmation": "10/minute",
            "forgot_password": "10/minute",
            "reset_password": "20/minute",
            "change_password": "10/minute",
            "change_email": "10/minute",
            "change_username": "10/minute",
            "recover_username": "10/minute",
            "two_factor_setup": "10/minute",
            "two_factor_setup_validate": "20/minute",
            "two_factor_token_validation": "30/minute",
            "two_factor_rescue": "10/minute",
            "mf_recovery": "20/minute",
            "mf_recovery_codes": "10/minute",
            "basic": "60/minute",
            "password": "10/15 minutes",
            "code": "20/hour",
        }
    ),
    # Lockout: this many wrong passwords for one account within LOCKOUT_WITHIN
    # pause its sign-in (right and wrong passwords alike) until the window frees;
    # 0 turns it off. The owner is mailed once per lockout (LOCKOUT_NOTIFY).
    "LOCKOUT_FAILURES": honoured(20),
    "LOCKOUT_WITHIN": honoured(timedelta(hours=1)),
    "LOCKOUT_NOTIFY": honoured(True),
    "LOCKOUT_EMAIL_TEMPLATE": honoured("security/email/lockout_notice"),
    "EMAIL_SUBJECT_LOCKOUT": honoured("Sign-in to your account is paused"),
    # At most this many mails of one kind to one address (reset, confirm, ...);
    # past it the request answers as before and nothing is sent. None: no cap.
    "MAIL_LIMIT": honoured("3/hour"),
    # Where the client address comes from: 0 = the connection (X-Forwarded-For is
    # ignored); n = the n-th address from the right of X-Forwarded-For (n trusted
    # proxies); a list of networks ("10.0.0.0/8") = the first address from the
    # right that is not in them.
    "TRUSTED_PROXIES": honoured(0),
    # ---------------------------------------------------------------- csrf
    "CSRF_PROTECT_MECHANISMS": honoured(("basic", "session", "token")),
    "CSRF_IGNORE_UNAUTH_ENDPOINTS": honoured(False),
    "CSRF_COOKIE_NAME": honoured(None),
    # Options max_age, path, domain, secure, httponly, samesite; validate_config
    # refuses others, and Flask-Security's old "key" (use CSRF_COOKIE_NAME).
    "CSRF_COOKIE": honoured({"samesite": "Strict", "httponly": False, "secure": True}),
    "CSRF_HEADER": honoured("X-XSRF-Token"),
    "CSRF_COOKIE_REFRESH_EACH_REQUEST": honoured(False),
    # quart-flask-security addition: origins, besides the app's own, whose
    # pages may open a websocket that a session cookie or Basic credentials
    # authenticate (a browser sends those to any site's handshake: cross-site
    # websocket hijacking). A token-authenticated handshake is not checked.
    "WEBSOCKET_ALLOWED_ORIGINS": honoured([]),
    # quart-flask-security addition; safer default than Flask-Security, which
    # sets no SameSite: the session and remember cookies get this SameSite
    # when the app's SESSION_COOKIE_SAMESITE / REMEMBER_COOKIE_SAMESITE are
    # unset. Set SECURITY_DEFAULT_COOKIE_SAMESITE = None to restore
    # Flask-Security's behaviour.
    "DEFAULT_COOKIE_SAMESITE": honoured("Lax"),
    # ---------------------------------------------------------------- tokens
    "TOKEN_AUTHENTICATION_KEY": honoured("auth_token"),
    "TOKEN_AUTHENTICATION_HEADER": honoured("Authentication-Token"),
    # quart-flask-security addition; safer default than Flask-Security, which
    # reads tokens from the header, the query string and the JSON body (they
    # leak through logs and Referer). Set SECURITY_TOKEN_AUTHENTICATION_SOURCES
    # = ["header", "query", "json"] to restore Flask-Security's behaviour.
    "TOKEN_AUTHENTICATION_SOURCES": honoured(["header"]),
    # quart-flask-security additions (mail): links in mails are built from this
    # base URL (else PREFERRED_URL_SCHEME + SERVER_NAME), never from the
    # request's Host header; mails go out after the commit, off the request
    # path (a bounded queue, one consumer) on both frameworks, unless
    # SEND_MAIL_INLINE delivers them inside the request (which lets the
    # answer's timing tell real accounts from unknown ones).
    "EXTERNAL_BASE_URL": honoured(None),
    "SEND_MAIL_INLINE": honoured(False),
    # quart-flask-security addition: mails allowed to wait for delivery; one
    # more is dropped (error log, mail_send_failed), never delivered inline.
    "MAIL_QUEUE_SIZE": honoured(1000),
    "TOKEN_MAX_AGE": honoured(timedelta(minutes=15)),
    "TOKEN_EXPIRE_TIMESTAMP": honoured(no_token_expiry),
    # Refresh tokens (Flask-Security 5.9) are not built yet.
    "REFRESH_TOKEN": not_yet(False),
    "REFRESH_TOKEN_SALT": not_yet("refresh-token-salt"),
    "REFRESH_TOKEN_MAX_AGE": not_yet(timedelta(days=90)),
    "REFRESH_TOKEN_MAX_IDLE": not_yet(timedelta(days=7)),
    "REFRESH_TOKEN_CLEANUP_EXPIRED": not_yet(True),
    "REFRESH_TOKEN_CLEANUP_REVOKED": not_yet(False),
    "REFRESH_TOKEN_URL": not_yet("/refresh-token"),
    "REFRESH_TOKEN_COOKIE_NAME": not_yet("fs_refresh"),
    "REFRESH_TOKEN_COOKIE": not_yet({"samesite": "Strict", "httponly": True, "secure": True}),
    # ---------------------------------------------------------------- passwords
    "PASSWORD_HASH": honoured("argon2"),
    "PASSWORD_SALT": honoured(None),
    "PASSWORD_SINGLE_HASH": honoured(set(_SINGLE_HASH_SCHEMES)),
    "PASSWORD_SCHEMES": honoured(
        [
            "bcrypt",
            "argon2",
            "des_crypt",
            "pbkdf2_sha256",
            "pbkdf2_sha512",
            "sha256_crypt",
            "sha512_crypt",
            # Safer default than Flask-Security, which also lists "plaintext": a
            # stored value that is not a recognised hash would then be compared as
            # a plaintext password. Add "plaintext" back only for tests.
        ]
    ),
    "DEPRECATED_PASSWORD_SCHEMES": honoured(["auto"]),
    "PASSWORD_HASH_OPTIONS": honoured({}),
    # hash_options_from_passlib (crypto/passwords.py) exists but is not wired.
    "PASSWORD_HASH_PASSLIB_OPTIONS": not_yet(
        {}, "SECURITY_PASSWORD_HASH_OPTIONS takes the same parameters"
    ),
    "PASSWORD_LENGTH_MIN": honoured(8),
    # quart-flask-security addition: caps the work one request can ask of the
    # hasher (Flask-Security has no upper bound).
    "PASSWORD_MAX_LENGTH": honoured(128),
    # quart-flask-security addition: hashing worker count; None means
    # os.cpu_count().
    "PASSWORD_HASH_POOL_SIZE": honoured(None),
    # quart-flask-security addition: hashes allowed to wait for a worker before
    # answering 503 (HASHING_OVERLOADED); None means 16 x pool size (a waiting
    # hash holds no argon2 memory: the bound is on latency, not on memory).
    "PASSWORD_HASH_QUEUE_SIZE": honoured(None),
    # quart-flask-security addition: niceness increment (0-19) of the hashing
    # workers, so the event loop keeps its share of the CPU.
    "PASSWORD_HASH_NICE": honoured(10),
    # quart-flask-security addition: the share of the hashing pool (running +
    # waiting) one client address may hold; past it, 429 at once (1.0: no share).
    "PASSWORD_HASH_CLIENT_SHARE": honoured(0.5),
    "PASSWORD_COMPLEXITY_CHECKER": not_yet(None),
    "ZXCVBN_MINIMUM_SCORE": not_yet(3),
    # The HIBP range query is async (asyncio streams, a deadline), never
    # blocking urllib; crypto/password_policy.py policy_from_config.
    "PASSWORD_CHECK_BREACHED": honoured(False),
    "PASSWORD_BREACHED_COUNT": honoured(1),
    # quart-flask-security addition: where the k-anonymity range API lives
    # (the 5-hex-digit prefix is appended); a private mirror, or a local one.
    "PASSWORD_BREACHED_RANGE_URL": honoured("https://api.pwnedpasswords.com/range/"),
    # quart-flask-security addition: seconds the whole range query may take
    # (connect, TLS, answer); past it the site counts as unreachable.
    "PASSWORD_BREACHED_TIMEOUT": honoured(5.0),
    "PASSWORD_NORMALIZE_FORM": honoured("NFKD"),
    "PASSWORD_REQUIRED": not_yet(True, "False needs unified sign-in"),
    "PASSWORD_CONFIRM_REQUIRED": honoured(True),
    # For Flask-Security's hash_data/verify_hash, which do not exist here.
    "HASHING_SCHEMES": not_yet(["sha256_crypt", "hex_md5"]),
    "DEPRECATED_HASHING_SCHEMES": not_yet(["auto"]),
    # ---------------------------------------------------------------- salts
    # A salt counts as honoured only where a built feature signs with it.
    "CONFIRM_SALT": honoured("confirm-salt"),
    "RESET_SALT": honoured("reset-salt"),
    "LOGIN_SALT": not_yet("login-salt"),
    "CHANGE_SALT": inert(
        "change-salt", "unused in Flask-Security 5.9 too: nothing is salted with it"
    ),
    "CHANGE_EMAIL_SALT": honoured("change-email-salt"),
    "REMEMBER_SALT": honoured("remember-salt"),
    "TWO_FACTOR_VALIDITY_SALT": honoured("tf-validity-salt"),
    "TWO_FACTOR_SETUP_SALT": honoured("tf-setup-salt"),
    "US_SETUP_SALT": not_yet("us-setup-salt"),
    "WAN_SALT": not_yet("wan-salt"),
    # ---------------------------------------------------------------- multi-factor
    "PHONE_REGION_DEFAULT": honoured("US"),
    "TOTP_SECRETS": honoured(None),
    "TOTP_ISSUER": honoured(None),
    "SMS_SERVICE": honoured("Dummy"),
    "SMS_SERVICE_CONFIG": honoured({"ACCOUNT_SID": None, "AUTH_TOKEN": None, "PHONE_NUMBER": None}),
    # ---------------------------------------------------------------- login / logout
    "LOGIN_URL": honoured("/login"),
    "LOGOUT_URL": honoured("/logout"),
    "VERIFY_URL": honoured("/verify"),
    "LOGOUT_METHODS": honoured(["POST"]),
    # Safer default than Flask-Security (False): a cross-site POST cannot log
    # a user out (reference/security.md C-14). Set False to restore.
    "LOGOUT_CSRF": honoured(True),
    # Flask-Security shows it when a logout fails CSRF; ours answers 400.
    "LOGOUT_USER_TEMPLATE": not_yet("security/logout_user.html"),
    # init_config uses APPLICATION_ROOT (when set) for these two, as
    # Flask-Security does.
    "POST_LOGIN_VIEW": honoured("/"),
    "POST_LOGOUT_VIEW": honoured("/"),
    "POST_VERIFY_VIEW": honoured(None),
    "LOGIN_ERROR_VIEW": not_yet(None),
    "VERIFY_ERROR_VIEW": not_yet(None),
    "UNAUTHORIZED_VIEW": honoured(None),
    "LOGIN_USER_TEMPLATE": honoured("security/login_user.html"),
    "VERIFY_TEMPLATE": honoured("security/verify.html"),
    # ---------------------------------------------------------------- registerable
    "REGISTERABLE": honoured(False),
    "USE_REGISTER_V2": not_yet(True, "only RegisterFormV2 is built"),
    "REGISTER_URL": honoured("/register"),
    "POST_REGISTER_VIEW": honoured(None),
    "REGISTER_USER_TEMPLATE": honoured("security/register_user.html"),
    "SEND_REGISTER_EMAIL": honoured(True),
    "EMAIL_SUBJECT_REGISTER": honoured("Welcome"),
    "REGISTER_EMAIL_TEMPLATE": honoured("security/email/welcome"),
    "REGISTER_EMAIL_EXISTING_TEMPLATE": honoured("security/email/welcome_existing"),
    "REGISTER_EMAIL_EXISTING_USERNAME_TEMPLATE": honoured(
        "security/email/welcome_existing_username"
    ),
    "USERNAME_ENABLE": honoured(False),
    "USERNAME_REQUIRED": honoured(False),
    "USERNAME_ALLOWED_CHARS": honoured(["L", "N"]),
    "USERNAME_MIN_LENGTH": honoured(4),
    "USERNAME_MAX_LENGTH": honoured(32),
    # ---------------------------------------------------------------- confirmable
    "CONFIRMABLE": honoured(False),
    "CONFIRM_URL": honoured("/confirm"),
    "CONFIRM_ERROR_VIEW": honoured(None),
    "POST_CONFIRM_VIEW": honoured(None),
    # Flask-Security redirects /login, /reset and /recover-username there; only
    # /reset does here, so a value would be honoured for one endpoint of three.
    "REQUIRES_CONFIRMATION_ERROR_VIEW": not_yet(
        None, "only /reset would redirect; /login and /recover-username do not yet"
    ),
    "SEND_CONFIRMATION_TEMPLATE": honoured("security/send_confirmation.html"),
    "CONFIRM_EMAIL_WITHIN": honoured(timedelta(days=2)),
    "LOGIN_WITHOUT_CONFIRMATION": honoured(False),
    "AUTO_LOGIN_AFTER_CONFIRM": honoured(False),
    "EMAIL_SUBJECT_CONFIRM": honoured("Please confirm your email"),
    "EMAIL_TEMPLATE_CONFIRM": honoured("security/email/confirmation_instructions"),
    # ---------------------------------------------------------------- changeable
    "CHANGEABLE": honoured(False),
    "CHANGE_URL": honoured("/change"),
    "POST_CHANGE_VIEW": honoured(None),
    "CHANGE_PASSWORD_TEMPLATE": honoured("security/change_password.html"),
    "SEND_PASSWORD_CHANGE_EMAIL": honoured(True),
    "EMAIL_SUBJECT_PASSWORD_CHANGE_NOTICE": honoured("Your password has been changed"),
    "EMAIL_TEMPLATE_PASSWORD_CHANGE_NOTICE": honoured("security/email/change_notice"),
    # ---------------------------------------------------------------- recoverable
    "RECOVERABLE": honoured(False),
    "RESET_URL": honoured("/reset"),
    "RESET_VIEW": honoured(None),
    "RESET_ERROR_VIEW": honoured(None),
    "POST_RESET_VIEW": honoured(None),
    "FORGOT_PASSWORD_TEMPLATE": honoured("security/forgot_password.html"),
    "RESET_PASSWORD_TEMPLATE": honoured("security/reset_password.html"),
    "SEND_PASSWORD_RESET_EMAIL": honoured(True),
    "SEND_PASSWORD_RESET_NOTICE_EMAIL": honoured(True),
    "RESET_PASSWORD_WITHIN": honoured(timedelta(days=1)),
    "AUTO_LOGIN_AFTER_RESET": honoured(False),
    "EMAIL_SUBJECT_PASSWORD_NOTICE": honoured("Your password has been reset"),
    "EMAIL_SUBJECT_PASSWORD_RESET": honoured("Password reset instructions"),
    "EMAIL_TEMPLATE_PASSWORD_RESET": honoured("security/email/reset_instructions"),
    "EMAIL_TEMPLATE_PASSWORD_RESET_NOTICE": honoured("security/email/reset_notice"),
    # ---------------------------------------------------------------- change email
    "CHANGE_EMAIL": honoured(False),
    "CHANGE_EMAIL_URL": honoured("/change-email"),
    "CHANGE_EMAIL_CONFIRM_URL": inert(
        "/change-email-confirm",
        "unused in Flask-Security 5.9 too: the link is CHANGE_EMAIL_URL + /<token>",
    ),
    "CHANGE_EMAIL_TEMPLATE": honoured("security/change_email.html"),
    "CHANGE_EMAIL_WITHIN": honoured(timedelta(hours=2)),
    "CHANGE_EMAIL_ERROR_VIEW": honoured(None),
    "POST_CHANGE_EMAIL_VIEW": honoured(None),
    "CHANGE_EMAIL_SUBJECT": honoured("Confirm your new email address"),
    "CHANGE_EMAIL_EMAIL_TEMPLATE": honoured("security/email/change_email_instructions"),
    # ---------------------------------------------------------------- change username
    "CHANGE_USERNAME": honoured(False),
    "CHANGE_USERNAME_URL": honoured("/change-username"),
    "CHANGE_USERNAME_TEMPLATE": honoured("security/change_username.html"),
    "CHANGE_USERNAME_EMAIL_TEMPLATE": honoured("security/email/change_username_notice"),
    "POST_CHANGE_USERNAME_VIEW": honoured(None),
    "SEND_USERNAME_CHANGE_EMAIL": honoured(True),
    "EMAIL_SUBJECT_USERNAME_CHANGE_NOTICE": honoured("Your username has been changed"),
    # ---------------------------------------------------------------- username recovery
    "USERNAME_RECOVERY": honoured(False),
    "USERNAME_RECOVERY_URL": honoured("/recover-username"),
    "USERNAME_RECOVERY_TEMPLATE": honoured("security/recover_username.html"),
    "USERNAME_RECOVERY_EMAIL_TEMPLATE": honoured("security/email/username_recovery"),
    "EMAIL_SUBJECT_USERNAME_RECOVERY": honoured("Your requested username"),
    # ------------------------------------------------ two-factor
    "TWO_FACTOR": honoured(False),
    "TWO_FACTOR_REQUIRED": honoured(False),
    "TWO_FACTOR_ENABLED_METHODS": honoured(["email", "authenticator", "sms"]),
    # Only the "code" plugin exists; the webauthn one comes with WebAuthn (#16):
    # accepted at its default only.
    "TWO_FACTOR_IMPLEMENTATIONS": not_yet(
        {
            "code": "quart_security.flows.two_factor.CodeTfPlugin",
            "webauthn": "quart_security.flows.webauthn.WebAuthnTfPlugin",
        }
    ),
    "TWO_FACTOR_SETUP_URL": honoured("/tf-setup"),
    "TWO_FACTOR_TOKEN_VALIDATION_URL": honoured("/tf-validate"),
    "TWO_FACTOR_RESCUE_URL": honoured("/tf-rescue"),
    "TWO_FACTOR_SELECT_URL": honoured("/tf-select"),
    "TWO_FACTOR_POST_SETUP_VIEW": honoured(".two_factor_setup"),
    "TWO_FACTOR_ERROR_VIEW": honoured(".login"),
    "TWO_FACTOR_VERIFY_CODE_TEMPLATE": honoured("security/two_factor_verify_code.html"),
    "TWO_FACTOR_SETUP_TEMPLATE": honoured("security/two_factor_setup.html"),
    "TWO_FACTOR_SELECT_TEMPLATE": honoured("security/two_factor_select.html"),
    "TWO_FACTOR_EMAIL_TEMPLATE": honoured("security/email/two_factor_instructions"),
    "TWO_FACTOR_AUTHENTICATOR_VALIDITY": honoured(120),
    "TWO_FACTOR_MAIL_VALIDITY": honoured(300),
    "TWO_FACTOR_SMS_VALIDITY": honoured(120),
    "TWO_FACTOR_ALWAYS_VALIDATE": honoured(True),
    "TWO_FACTOR_LOGIN_VALIDITY": honoured(timedelta(days=30)),
    "TWO_FACTOR_VALIDITY_COOKIE_NAME": honoured("tf_validity"),
    # Safer than Flask-Security's secure=False: the validity cookie skips a factor.
    "TWO_FACTOR_VALIDITY_COOKIE": honoured(
        {"httponly": True, "secure": True, "samesite": "Strict"}
    ),
    "TWO_FACTOR_SETUP_WITHIN": honoured(timedelta(minutes=30)),
    "TWO_FACTOR_RESCUE_EMAIL": honoured(True),
    "TWO_FACTOR_RESCUE_MAIL": honoured("no-reply@localhost"),
    "TWO_FACTOR_RESCUE_EMAIL_TEMPLATE": honoured("security/email/two_factor_rescue"),
    "EMAIL_SUBJECT_TWO_FACTOR": honoured("Two-Factor Login"),
    "EMAIL_SUBJECT_TWO_FACTOR_RESCUE": honoured("Two-Factor Rescue"),
    # quart-flask-security additions (each on by default; docs/flows/two-factor.md):
    # a code is accepted once (its time step is stored per user, advanced atomically);
    # False restores Flask-Security's reuse within the validity window.
    "TWO_FACTOR_REPLAY_PROTECTION": honoured(True),
    # Code attempts one pending sign-in allows before it ends (0: no bound, as
    # in Flask-Security). Counted in the datastore: the session is a client cookie.
    "TWO_FACTOR_MAX_ATTEMPTS": honoured(5),
    # How long a pending sign-in (first factor given, second not yet) lasts.
    "TWO_FACTOR_PENDING_WITHIN": honoured(timedelta(minutes=15)),
    # ------------------------------------------------ recovery codes
    "MULTI_FACTOR_RECOVERY_CODES": honoured(False),
    "MULTI_FACTOR_RECOVERY_CODES_N": honoured(5),
    "MULTI_FACTOR_RECOVERY_CODES_URL": honoured("/mf-recovery-codes"),
    "MULTI_FACTOR_RECOVERY_CODES_TEMPLATE": honoured("security/mf_recovery_codes.html"),
    "MULTI_FACTOR_RECOVERY_URL": honoured("/mf-recovery"),
    "MULTI_FACTOR_RECOVERY_TEMPLATE": honoured("security/mf_recovery.html"),
    "MULTI_FACTOR_RECOVERY_CODES_KEYS": honoured(None),
    "MULTI_FACTOR_RECOVERY_CODE_TTL": honoured(None),
    # ------------------------------------------------ unified sign in (not built yet)
    "UNIFIED_SIGNIN": not_yet(False),
    "US_SIGNIN_URL": not_yet("/us-signin"),
    "US_SIGNIN_SEND_CODE_URL": not_yet("/us-signin/send-code"),
    "US_SETUP_URL": not_yet("/us-setup"),
    "US_VERIFY_URL": not_yet("/us-verify"),
    "US_VERIFY_SEND_CODE_URL": not_yet("/us-verify/send-code"),
    "US_VERIFY_LINK_URL": not_yet("/us-verify-link"),
    "US_POST_SETUP_VIEW": not_yet(".us_setup"),
    "US_SIGNIN_TEMPLATE": not_yet("security/us_signin.html"),
    "US_SETUP_TEMPLATE": not_yet("security/us_setup.html"),
    "US_VERIFY_TEMPLATE": not_yet("security/us_verify.html"),
    "US_ENABLED_METHODS": not_yet(["password", "email", "authenticator", "sms"]),
    "US_MFA_REQUIRED": not_yet(["password", "email"]),
    "US_TOKEN_VALIDITY": not_yet(120),
    "US_EMAIL_SUBJECT": not_yet("Verification Code"),
    "US_EMAIL_TEMPLATE": not_yet("security/email/us_instructions"),
    "US_SETUP_WITHIN": not_yet(timedelta(minutes=30)),
    "US_SIGNIN_REPLACES_LOGIN": not_yet(False),
    # ------------------------------------------------ passwordless (not built yet)
    "PASSWORDLESS": not_yet(False),
    "LOGIN_WITHIN": not_yet(timedelta(days=1)),
    "SEND_LOGIN_TEMPLATE": not_yet("security/send_login.html"),
    "EMAIL_SUBJECT_PASSWORDLESS": not_yet("Login instructions"),
    "EMAIL_TEMPLATE_PASSWORDLESS": not_yet("security/email/login_instructions"),
    # ---------------------------------------------------------------- trackable
    "TRACKABLE": honoured(False),
    # ------------------------------------------------ webauthn (not built yet)
    "WEBAUTHN": not_yet(False),
    "WAN_CHALLENGE_BYTES": not_yet(None),
    "WAN_POST_REGISTER_VIEW": not_yet(".wan_register"),
    "WAN_RP_NAME": not_yet("My Flask App"),
    "WAN_REGISTER_TIMEOUT": not_yet(60000),
    "WAN_REGISTER_TEMPLATE": not_yet("security/wan_register.html"),
    "WAN_REGISTER_URL": not_yet("/wan-register"),
    "WAN_REGISTER_WITHIN": not_yet(timedelta(minutes=30)),
    "WAN_SIGNIN_TIMEOUT": not_yet(60000),
    "WAN_SIGNIN_TEMPLATE": not_yet("security/wan_signin.html"),
    "WAN_SIGNIN_URL": not_yet("/wan-signin"),
    "WAN_SIGNIN_WITHIN": not_yet(timedelta(minutes=1)),
    "WAN_DELETE_URL": not_yet("/wan-delete"),
    "WAN_VERIFY_URL": not_yet("/wan-verify"),
    "WAN_VERIFY_TEMPLATE": not_yet("security/wan_verify.html"),
    "WAN_ALLOW_AS_FIRST_FACTOR": not_yet(True),
    "WAN_ALLOW_AS_MULTI_FACTOR": not_yet(True),
    "WAN_ALLOW_USER_HINTS": not_yet(True),
    "WAN_ALLOW_AS_VERIFY": not_yet(["first", "secondary"]),
    "WAN_NAME_ALLOWED_CHARS": not_yet(["L", "N", "Pc", "Pd", "Zs"]),
    "WAN_NAME_MAX_LENGTH": not_yet(64),
    # ------------------------------------------------ oauth (not built yet)
    "OAUTH_ENABLE": not_yet(False),
    "OAUTH_BUILTIN_PROVIDERS": not_yet(["github", "google"]),
    "OAUTH_START_URL": not_yet("/login/oauthstart"),
    "OAUTH_RESPONSE_URL": not_yet("/login/oauthresponse"),
    "OAUTH_VERIFY_START_URL": not_yet("/login/oauth-verify-start"),
    "OAUTH_VERIFY_RESPONSE_URL": not_yet("/login/oauth-verify-response"),
    "POST_OAUTH_LOGIN_VIEW": not_yet(None),
    "POST_OAUTH_VERIFY_VIEW": not_yet(None),
}


def _split(table: Mapping[str, _Entry]) -> tuple[dict[str, Any], dict[str, _Entry]]:
    """(defaults, entries); a key added without a status stops the import, by name."""
    missing = sorted(k for k, entry in table.items() if not isinstance(entry, _Entry))
    if missing:
        names = ", ".join(PREFIX + k for k in missing)
        raise TypeError(
            f"{names}: give each a status in quart_security/config.py, e.g."
            " honoured(<default>) or not_yet(<default>)"
        )
    return {k: entry.default for k, entry in table.items()}, dict(table)


_DEFAULTS, _ENTRIES = _split(_TABLE)

DEFAULT_CONFIG: Final[Mapping[str, Any]] = MappingProxyType(_DEFAULTS)

# Keys in DEFAULT_CONFIG that Flask-Security 5.9.2 does not have.
ADDED_KEYS: Final = frozenset(
    {
        "PASSWORD_MAX_LENGTH",
        "PASSWORD_HASH_POOL_SIZE",
        "PASSWORD_HASH_QUEUE_SIZE",
        "PASSWORD_HASH_NICE",
        "TOKEN_AUTHENTICATION_SOURCES",
        "EXTERNAL_BASE_URL",
        "SEND_MAIL_INLINE",
        "MAIL_QUEUE_SIZE",
        "HTTP_AUTH_CHARSET",
        "WEBSOCKET_ALLOWED_ORIGINS",
        "DEFAULT_COOKIE_SAMESITE",
        "PASSWORD_BREACHED_RANGE_URL",
        "PASSWORD_BREACHED_TIMEOUT",
        "TWO_FACTOR_REPLAY_PROTECTION",
        "TWO_FACTOR_MAX_ATTEMPTS",
        "TWO_FACTOR_PENDING_WITHIN",
        "PASSWORD_HASH_CLIENT_SHARE",
        "RATE_LIMIT_ENABLED",
        "RATE_LIMIT_STORAGE_URI",
        "RATE_LIMIT_FAIL_OPEN",
        "RATE_LIMITS",
        "LOCKOUT_FAILURES",
        "LOCKOUT_WITHIN",
        "LOCKOUT_NOTIFY",
        "LOCKOUT_EMAIL_TEMPLATE",
        "EMAIL_SUBJECT_LOCKOUT",
        "MAIL_LIMIT",
        "TRUSTED_PROXIES",
    }
)

# Settings whose value is a span of time. Flask-Security 5.6 wrote the
# *_WITHIN ones as "<n> <unit>" strings and TOKEN_MAX_AGE as seconds;
# normalize_durations turns every accepted form into a timedelta.
DURATION_KEYS: Final = frozenset(
    {
        "LOGIN_WITHIN",
        "CHANGE_EMAIL_WITHIN",
        "CONFIRM_EMAIL_WITHIN",
        "RESET_PASSWORD_WITHIN",
        "TWO_FACTOR_SETUP_WITHIN",
        "US_SETUP_WITHIN",
        "WAN_REGISTER_WITHIN",
        "WAN_SIGNIN_WITHIN",
        "TWO_FACTOR_LOGIN_VALIDITY",
        "TWO_FACTOR_PENDING_WITHIN",
        "LOCKOUT_WITHIN",
        "TOKEN_MAX_AGE",
        "FRESHNESS",
        "FRESHNESS_GRACE_PERIOD",
        "REFRESH_TOKEN_MAX_AGE",
        "REFRESH_TOKEN_MAX_IDLE",
    }
)

# Form class overrides Flask-Security also reads from config
# (SECURITY_LOGIN_FORM, ...) or from Security() arguments (login_form=...),
# plus the RENDER_TEMPLATE hook. Known, so not reported as typos, but without
# defaults. The forms of built features are honoured (web/form_info.py checks
# each class); those of features not built yet are refused when set at all.
BUILT_FORM_KEYS: Final = frozenset(
    name.upper()
    for name in (
        "login_form",
        "verify_form",
        "change_email_form",
        "confirm_register_form",
        "register_form",
        "forgot_password_form",
        "reset_password_form",
        "change_password_form",
        "change_username_form",
        "send_confirmation_form",
        "username_recovery_form",
        "two_factor_verify_code_form",
        "two_factor_setup_form",
        "two_factor_rescue_form",
        "two_factor_select_form",
        "mf_recovery_form",
        "mf_recovery_codes_form",
        "render_template",
    )
)
FORM_KEYS: Final = BUILT_FORM_KEYS | frozenset(
    name.upper()
    for name in (
        "logout_form",
        "passwordless_login_form",
        "refresh_token_form",
        "us_signin_form",
        "us_setup_form",
        "us_setup_validate_form",
        "us_verify_form",
        "wan_register_form",
        "wan_register_response_form",
        "wan_signin_form",
        "wan_signin_response_form",
        "wan_delete_form",
        "wan_verify_form",
    )
)

#: The status of every key: the table's, and for the form keys whether their
#: feature is built.
KEY_STATUS: Final[Mapping[str, Status]] = MappingProxyType(
    {
        **{key: entry.status for key, entry in _ENTRIES.items()},
        **{
            key: Status.HONOURED if key in BUILT_FORM_KEYS else Status.NOT_YET
            for key in sorted(FORM_KEYS)
        },
    }
)

#: The note of each table entry that has one: why a not-built key is refused as it
#: is, why an inert key has no effect (docs/reference/config.md shows them).
KEY_NOTES: Final[Mapping[str, str]] = MappingProxyType(
    {key: entry.note for key, entry in _ENTRIES.items() if entry.note}
)

# Keys Flask-Security 5.6 had and 5.9 dropped -> the key that replaced them.
REMOVED_KEYS: Final[Mapping[str, str | None]] = MappingProxyType(
    {
        "BACKWARDS_COMPAT_UNAUTHN": None,
        "USERNAME_NORMALIZE_FORM": "INPUT_NORMALIZE_FORM",
    }
)

# Text is ours; keys, flash categories and %(name)s placeholders are
# Flask-Security's, so callers pass the same keyword arguments.
_MESSAGES: dict[str, tuple[str, str]] = {
    "API_ERROR": ("The input is not valid for this API.", "error"),
    "GENERIC_AUTHN_FAILED": (
        "Sign-in failed: the identity or the password/code is not valid.",
        "error",
    ),
    "GENERIC_RECOVERY": (
        "If that email address belongs to an account, password reset instructions"
        " are on their way to it.",
        "info",
    ),
    "GENERIC_US_SIGNIN": ("If that identity belongs to an account, a code was sent.", "info"),
    "UNAUTHORIZED": ("You are not allowed to access this resource.", "error"),
    "UNAUTHENTICATED": ("Please sign in to access this resource.", "error"),
    "REAUTHENTICATION_REQUIRED": ("Please sign in again to use this endpoint.", "error"),
    "CONFIRM_REGISTRATION": (
        "Thanks for registering. A confirmation link was sent to %(email)s; open it"
        " to confirm your address.",
        "success",
    ),
    "EMAIL_CONFIRMED": ("Your email address is now confirmed. Thank you.", "success"),
    "ALREADY_CONFIRMED": ("This email address was already confirmed.", "info"),
    "INVALID_CONFIRMATION_TOKEN": ("The confirmation link is not valid.", "error"),
    "EMAIL_ALREADY_ASSOCIATED": ("%(email)s is already used by another account.", "error"),
    "IDENTITY_ALREADY_ASSOCIATED": (
        "The %(attr)s '%(value)s' is already used by another account.",
        "error",
    ),
    "IDENTITY_NOT_REGISTERED": ("No account is registered for %(id)s.", "error"),
    "OAUTH_HANDSHAKE_ERROR": (
        "The sign-in provider answered with an error (%(exerror)s: %(exdesc)s). Please try again.",
        "error",
    ),
    "PASSWORD_MISMATCH": ("The password does not match.", "error"),
    "RETYPE_PASSWORD_MISMATCH": ("The two passwords are not the same.", "error"),
    "INVALID_REDIRECT": ("Redirects to other domains are not allowed.", "error"),
    "INVALID_RECOVERY_CODE": ("The recovery code is not valid.", "error"),
    "NO_RECOVERY_CODES_SETUP": ("No recovery codes have been generated yet.", "info"),
    "PASSWORD_RESET_REQUEST": ("Password reset instructions were sent to %(email)s.", "info"),
    "PASSWORD_RESET_EXPIRED": (
        "The password reset link has expired: it was valid for %(within)s.",
        "error",
    ),
    "INVALID_RESET_PASSWORD_TOKEN": ("The password reset link is not valid.", "error"),
    "CONFIRMATION_REQUIRED": ("Please confirm your email address first.", "error"),
    "CONFIRMATION_REQUEST": ("Confirmation instructions were sent to %(email)s.", "info"),
    "CONFIRMATION_EXPIRED": (
        "The confirmation link has expired: it was valid for %(within)s.",
        "error",
    ),
    "LOGIN_EXPIRED": (
        "The sign-in link has expired: it was valid for %(within)s. A new one was"
        " sent to %(email)s.",
        "error",
    ),
    "LOGIN_EMAIL_SENT": ("Sign-in instructions were sent to %(email)s.", "success"),
    "INVALID_LOGIN_TOKEN": ("The sign-in link is not valid.", "error"),
    "DISABLED_ACCOUNT": ("This account is disabled.", "error"),
    "EMAIL_NOT_PROVIDED": ("Please enter an email address.", "error"),
    "INVALID_EMAIL_ADDRESS": ("This email address is not valid.", "error"),
    "INVALID_CODE": ("The code is not valid.", "error"),
    "INVALID_INPUT": ("This value is not valid for this field.", "error"),
    "INVALID_INPUT_LENGTH": (
        "This value must be at most %(length)s characters long.",
        "error",
    ),
    "PASSWORD_NOT_PROVIDED": ("Please enter a password.", "error"),
    "PASSWORD_INVALID_LENGTH": (
        "The password must have at least %(length)s characters.",
        "error",
    ),
    "PASSWORD_TOO_SIMPLE": ("This password is too easy to guess.", "error"),
    "PASSWORD_BREACHED": ("This password appears in a list of breached passwords.", "error"),
    "PASSWORD_BREACHED_SITE_ERROR": (
        "The breached-password service could not be reached.",
        "error",
    ),
    "PHONE_INVALID": (
        "This phone number is not valid (is the country code missing?).",
        "error",
    ),
    "USER_DOES_NOT_EXIST": ("That user does not exist.", "error"),
    "INVALID_PASSWORD": ("The password is not correct.", "error"),
    "INVALID_PASSWORD_CODE": ("The password or code is not valid.", "error"),
    "PASSWORDLESS_LOGIN_SUCCESSFUL": ("You are now signed in.", "success"),
    "FORGOT_PASSWORD": ("Forgotten your password?", "info"),
    "PASSWORD_RESET": ("Your password was reset and you are now signed in.", "success"),
    "PASSWORD_RESET_NO_LOGIN": (
        "Your password was reset. Please sign in with the new password.",
        "success",
    ),
    "PASSWORD_IS_THE_SAME": ("The new password must differ from the current one.", "error"),
    "PASSWORD_CHANGE": ("Your password was changed.", "success"),
    "LOGIN": ("Please sign in to see this page.", "info"),
    "REFRESH": ("Please sign in again to see this page.", "info"),
    "REFRESH_TOKEN_INVALID": ("The refresh token is not valid (%(reason)s).", "error"),
    "REAUTHENTICATION_SUCCESSFUL": ("You signed in again successfully.", "info"),
    "ANONYMOUS_USER_REQUIRED": (
        "This page is only available when you are signed out.",
        "error",
    ),
    "CODE_HAS_BEEN_SENT": ("A code was sent.", "info"),
    "FAILED_TO_SEND_CODE": ("The code could not be sent. Please try again later.", "error"),
    "TWO_FACTOR_INVALID_TOKEN": ("The code is not valid.", "error"),
    "TWO_FACTOR_LOGIN_SUCCESSFUL": ("Your code was accepted.", "success"),
    "TWO_FACTOR_CHANGE_METHOD_SUCCESSFUL": (
        "Your two-factor method was changed.",
        "success",
    ),
    "TWO_FACTOR_PERMISSION_DENIED": (
        "You are not allowed to access this page right now.",
        "error",
    ),
    "TWO_FACTOR_METHOD_NOT_AVAILABLE": ("The selected method is not valid.", "error"),
    "TWO_FACTOR_DISABLED": ("Two-factor authentication is now turned off.", "success"),
    "TWO_FACTOR_SETUP_EXPIRED": (
        "Setup has to be finished within %(within)s. Please begin again.",
        "error",
    ),
    # quart-flask-security addition (TWO_FACTOR_MAX_ATTEMPTS).
    "TWO_FACTOR_TOO_MANY_ATTEMPTS": (
        "Too many wrong codes. Please sign in again.",
        "error",
    ),
    "US_CURRENT_METHODS": ("Sign-in methods currently active: %(method_list)s.", "info"),
    "US_METHOD_NOT_AVAILABLE": ("The requested method is not valid.", "error"),
    "US_SETUP_EXPIRED": (
        "Setup has to be finished within %(within)s. Please begin again.",
        "error",
    ),
    "US_SETUP_SUCCESSFUL": ("Sign-in method setup is complete.", "info"),
    "US_SPECIFY_IDENTITY": ("Please enter a valid identity to sign in.", "error"),
    "USE_CODE": ("Your sign-in code is: %(code)s", "info"),
    "USERNAME_CHANGE": ("Your username was changed.", "success"),
    "USERNAME_INVALID_LENGTH": (
        "The username must have between %(min)s and %(max)s characters.",
        "error",
    ),
    "USERNAME_DISALLOWED_CHARACTERS": (
        "A username may contain only letters and digits.",
        "error",
    ),
    "USERNAME_NOT_PROVIDED": ("Please enter a username.", "error"),
    "USERNAME_ALREADY_ASSOCIATED": (
        "%(username)s is already used by another account.",
        "error",
    ),
    "WEBAUTHN_EXPIRED": (
        "Passkey operations have to be finished within %(within)s. Please begin again.",
        "error",
    ),
    "WEBAUTHN_NAME_REQUIRED": ("Please give the new passkey a name.", "error"),
    "WEBAUTHN_NAME_INUSE": ("A passkey named %(name)s already exists.", "error"),
    "WEBAUTHN_NAME_NOT_FOUND": ("You have no passkey named %(name)s.", "error"),
    "WEBAUTHN_NAME_DISALLOWED_CHARACTERS": (
        "A passkey name may contain only letters, digits, spaces and a few punctuation marks.",
        "error",
    ),
    "WEBAUTHN_CREDENTIAL_DELETED": ("The passkey %(name)s was removed.", "info"),
    "WEBAUTHN_REGISTER_SUCCESSFUL": ("The passkey %(name)s was added.", "info"),
    "WEBAUTHN_CREDENTIAL_ID_INUSE": ("This passkey is already registered.", "error"),
    "WEBAUTHN_UNKNOWN_CREDENTIAL_ID": ("This passkey is not registered.", "error"),
    "WEBAUTHN_ORPHAN_CREDENTIAL_ID": ("This passkey does not belong to any user.", "error"),
    "WEBAUTHN_NO_VERIFY": ("The passkey could not be verified: %(cause)s.", "error"),
    "WEBAUTHN_CREDENTIAL_WRONG_USAGE": (
        "This passkey is not registered for this use (first or second factor).",
        "error",
    ),
    "WEBAUTHN_MISMATCH_USER_HANDLE": (
        "The passkey's user handle does not match.",
        "error",
    ),
    "CHANGE_EMAIL_EXPIRED": (
        "The change has to be confirmed within %(within)s. Please begin again.",
        "error",
    ),
    "CHANGE_EMAIL_CONFIRMED": ("Your new email address is confirmed.", "success"),
    "CHANGE_EMAIL_SENT": (
        "Instructions to confirm your new email address were sent to %(email)s.",
        "success",
    ),
    "USERNAME_RECOVERY_REQUEST": (
        "If that address is registered, the username will be emailed to it.",
        "info",
    ),
    # quart-flask-security additions
    "HASHING_OVERLOADED": ("The server is busy. Please try again shortly.", "error"),
    "HASHING_SHARE_EXCEEDED": ("Too many requests at once. Please try again shortly.", "error"),
    "RATE_LIMITED": ("Too many attempts. Please wait a little and try again.", "error"),
    "RATE_LIMIT_UNAVAILABLE": (
        "Signing in is unavailable for a moment. Please try again shortly.",
        "error",
    ),
    "INVALID_JSON": ("The request body is not valid JSON.", "error"),
    "CSRF_MISSING": ("The request has no CSRF token.", "error"),
    "CSRF_INVALID": ("The CSRF token is not valid or has expired.", "error"),
    "BODY_TOO_LARGE": ("The request body is too large.", "error"),
    "SERVER_ERROR": ("The request could not be completed. Please try again.", "error"),
}

DEFAULT_MESSAGES: Final[Mapping[str, tuple[str, str]]] = MappingProxyType(_MESSAGES)

ADDED_MESSAGES: Final = frozenset(
    {
        "HASHING_OVERLOADED",
        "HASHING_SHARE_EXCEEDED",
        "RATE_LIMITED",
        "RATE_LIMIT_UNAVAILABLE",
        "INVALID_JSON",
        "CSRF_MISSING",
        "CSRF_INVALID",
        "BODY_TOO_LARGE",
        "SERVER_ERROR",
        "TWO_FACTOR_TOO_MANY_ATTEMPTS",
    }
)


# ------------------------------------------------------------------ init


def _override(overrides: Mapping[str, Any], name: str) -> tuple[bool, Any]:
    for candidate in (name.lower(), name):
        if candidate in overrides:
            return True, overrides[candidate]
    return False, None


def init_config(app_config: MutableMapping[str, Any], overrides: Mapping[str, Any]) -> None:
    """Fill in every SECURITY_* setting the app did not set.

    Precedence is Flask-Security's: app config, then constructor kwargs
    (``password_hash`` or ``PASSWORD_HASH``; ``msg_login`` or ``MSG_LOGIN`` for
    messages), then the defaults. Defaults are deep-copied so that no two apps
    share one list or dict. Override values are used as given. Override names
    that are not settings are ignored here; the extension owns its kwargs.
    """
    app_root = app_config.get("APPLICATION_ROOT") or "/"
    for key, default in _DEFAULTS.items():
        found, value = _override(overrides, key)
        if not found:
            if key in ("POST_LOGIN_VIEW", "POST_LOGOUT_VIEW"):
                value = app_root
            else:
                value = copy.deepcopy(default)
        app_config.setdefault(PREFIX + key, value)
    for key, message in _MESSAGES.items():
        found, value = _override(overrides, "MSG_" + key)
        app_config.setdefault(MSG_PREFIX + key, value if found else message)


def normalize_durations(app_config: MutableMapping[str, Any]) -> None:
    """Store every duration setting as a timedelta (legacy strings, seconds).

    TOKEN_MAX_AGE=None is kept: in Flask-Security 5.6 it means no expiry.
    """
    for key in DURATION_KEYS:
        name = PREFIX + key
        if name not in app_config:
            continue
        value = app_config[name]
        if isinstance(value, timedelta) or (value is None and key == "TOKEN_MAX_AGE"):
            continue
        app_config[name] = _duration_setting(key, value)


# ------------------------------------------------------------------ unknown keys

_KNOWN: Final = frozenset(PREFIX + k for k in (*_DEFAULTS, *FORM_KEYS))
_KNOWN_MESSAGES: Final = frozenset(MSG_PREFIX + k for k in _MESSAGES)


def unknown_keys(app_config: Mapping[str, Any]) -> list[tuple[str, str | None]]:
    """Each SECURITY_* key we do not know, with the nearest known one (or None)."""
    result: list[tuple[str, str | None]] = []
    for name in sorted(k for k in app_config if isinstance(k, str) and k.startswith(PREFIX)):
        if name in _KNOWN or name in _KNOWN_MESSAGES:
            continue
        bare = name[len(PREFIX) :]
        if bare in REMOVED_KEYS:
            replacement = REMOVED_KEYS[bare]
            result.append((name, PREFIX + replacement if replacement else None))
            continue
        pool = _KNOWN_MESSAGES if name.startswith(MSG_PREFIX) else _KNOWN
        close = difflib.get_close_matches(name, pool, n=1, cutoff=0.75)
        result.append((name, close[0] if close else None))
    return result


def warn_unknown_keys(app_config: Mapping[str, Any], logger: logging.Logger) -> None:
    """Log one warning per unknown key; a typo in a security setting is silent otherwise.

    Only key names are logged, never values (they may be secrets).
    """
    for name, nearest in unknown_keys(app_config):
        bare = name[len(PREFIX) :]
        if bare in REMOVED_KEYS:
            hint = f"; use {nearest} instead" if nearest else ""
            logger.warning(
                "Setting %s was removed in Flask-Security 5.9 and is ignored%s", name, hint
            )
        elif nearest:
            logger.warning("Unknown setting %s; did you mean %s?", name, nearest)
        else:
            logger.warning("Unknown setting %s; it is ignored.", name)


# ------------------------------------------------------------------ durations

_DURATION_RE: Final = re.compile(r"\s*([+-]?[0-9]+(?:\.[0-9]+)?)\s+([A-Za-z]+)\s*")
_UNITS: Final[Mapping[str, str]] = MappingProxyType(
    {
        "second": "seconds",
        "minute": "minutes",
        "hour": "hours",
        "day": "days",
        "week": "weeks",
    }
)


def parse_duration(value: str | int | float | timedelta) -> timedelta:
    """Read a span of time as Flask-Security writes it.

    Accepts a timedelta, a number of seconds, or "<n> <unit>" with unit one of
    seconds/minutes/hours/days/weeks (singular or plural), e.g. "5 days".
    """
    if isinstance(value, timedelta):
        return value
    try:
        if isinstance(value, bool):
            pass
        elif isinstance(value, int | float):
            if math.isfinite(value):
                return timedelta(seconds=value)
        elif isinstance(value, str):
            match = _DURATION_RE.fullmatch(value)
            if match:
                unit = match.group(2).lower()
                unit = _UNITS.get(unit, unit)
                if unit in _UNITS.values():
                    return timedelta(**{unit: float(match.group(1))})
    except OverflowError:
        raise ConfigurationError(f"duration {value!r} is too large") from None
    raise ConfigurationError(
        f"cannot read {value!r} as a duration; use a timedelta, a number of seconds"
        " or a string such as '30 minutes' or '2 days'"
    )


def _duration_setting(key: str, value: Any) -> timedelta:
    try:
        return parse_duration(value)
    except ConfigurationError as exc:
        raise ConfigurationError(f"{PREFIX}{key}: {exc}") from None


# ------------------------------------------------------------------ validation

_SAMESITE: Final = frozenset({"strict", "lax", "none"})
#: Response directives Werkzeug's ResponseCacheControl can set (RFC 9111, 8246, 5861).
_CACHE_DIRECTIVES: Final = frozenset(
    {
        "max-age",
        "s-maxage",
        "no-cache",
        "no-store",
        "no-transform",
        "must-revalidate",
        "proxy-revalidate",
        "private",
        "public",
        "immutable",
        "must-understand",
        "stale-while-revalidate",
        "stale-if-error",
    }
)
_COOKIE_KEYS: Final = ("CSRF_COOKIE", "TWO_FACTOR_VALIDITY_COOKIE", "REFRESH_TOKEN_COOKIE")
_ALLOWED_VALUES: Final[Mapping[str, frozenset[str]]] = MappingProxyType(
    {
        "TOKEN_AUTHENTICATION_SOURCES": frozenset({"header", "query", "json"}),
        "LOGOUT_METHODS": frozenset({"GET", "POST"}),
        "API_ENABLED_METHODS": frozenset({"session", "token", "basic"}),
        "CSRF_PROTECT_MECHANISMS": frozenset({"session", "token", "basic"}),
        "TWO_FACTOR_ENABLED_METHODS": frozenset(
            {"email", "authenticator", "sms", "mail", "google_authenticator"}
        ),
        "US_ENABLED_METHODS": frozenset({"password", "email", "authenticator", "sms"}),
        "US_MFA_REQUIRED": frozenset({"password", "email", "authenticator", "sms"}),
        "WAN_ALLOW_AS_VERIFY": frozenset({"first", "secondary"}),
    }
)


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


NOT_BUILT: Final = "is not built yet in quart-flask-security"
#: What queue_csrf_cookie (web/csrf.py) passes on to the cookie.
_CSRF_COOKIE_OPTIONS: Final = frozenset(
    {"max_age", "path", "domain", "secure", "httponly", "samesite"}
)


def _shown(value: Any) -> str:
    if callable(value) and hasattr(value, "__qualname__"):
        return f"{value.__module__}.{value.__qualname__}"
    return repr(value)


def at_default(key: str, value: Any) -> bool:
    """Whether ``value`` asks for what the default of table key ``key`` does.

    Flags and feature switches are read for truth, as Flask-Security reads
    them; durations in any accepted form and lists given as tuples compare by
    value, so a 5.6-style config that spells out a default is not refused.
    """
    default = _DEFAULTS[key]
    if value is default:
        return True
    try:
        if isinstance(default, bool):
            return bool(value) is default
        if key in DURATION_KEYS:
            return bool(parse_duration(value) == default)
        if isinstance(default, list | tuple) and isinstance(value, list | tuple):
            return list(value) == list(default)
        return bool(value == default)
    except Exception:  # an unreadable value is not the default
        return False


def not_built_settings(
    app_config: Mapping[str, Any], overrides: Mapping[str, Any] | None = None
) -> list[str]:
    """One problem per setting that asks for something not built yet, naming it.

    A NOT_YET key counts when its value (the app's, else the Security()
    argument's, as init_config would store it) is not its default; a form key
    counts when set at all. Only names and defaults are shown, never values
    (they may be secrets).
    """
    overrides = overrides or {}
    problems: list[str] = []
    for key, entry in _ENTRIES.items():
        if entry.status is not Status.NOT_YET:
            continue
        name = PREFIX + key
        found, value = (True, app_config[name]) if name in app_config else _override(overrides, key)
        if not found or at_default(key, value):
            continue
        note = f" ({entry.note})" if entry.note else ""
        problems.append(
            f"{name} {NOT_BUILT}; remove it or set it back to {_shown(entry.default)}{note}"
        )
    for key in sorted(FORM_KEYS - BUILT_FORM_KEYS):
        what = "a render_template hook" if key == "RENDER_TEMPLATE" else "a form class override"
        if PREFIX + key in app_config:
            problems.append(f"{PREFIX}{key} {NOT_BUILT} ({what}); remove it")
        if _override(overrides, key)[0]:
            problems.append(
                f"the Security() argument {key.lower()} {NOT_BUILT} ({what}); remove it"
            )
    return problems


def is_setting_argument(name: str) -> bool:
    """Whether a Security() keyword names a setting (``password_hash``, ``msg_login``...)."""
    key = name.upper()
    return key in _ENTRIES or key in FORM_KEYS or key.removeprefix("MSG_") in _MESSAGES


def _csrf_cookie_options(cookie: Mapping[str, Any]) -> list[str]:
    problems: list[str] = []
    if "key" in cookie:
        problems.append(
            "SECURITY_CSRF_COOKIE 'key' (Flask-Security's old way to name the cookie) is not"
            " supported; set SECURITY_CSRF_COOKIE_NAME instead"
        )
    unknown = sorted(str(k) for k in cookie if k != "key" and k not in _CSRF_COOKIE_OPTIONS)
    if unknown:
        problems.append(
            f"SECURITY_CSRF_COOKIE options {unknown!r} are not supported;"
            f" supported: {sorted(_CSRF_COOKIE_OPTIONS)!r}"
        )
    return problems


def validate_config(
    app_config: Mapping[str, Any], overrides: Mapping[str, Any] | None = None
) -> None:
    """Refuse settings that are not built and combinations that cannot work, at start-up.

    Every problem found is reported in one ConfigurationError, each naming the
    SECURITY_* keys involved, settings not built yet first. ``overrides`` are
    the Security() arguments (form classes are given there too). Checks that
    need the datastore or other modules (model columns, optional packages)
    belong to the extension.
    """

    def cv(key: str) -> Any:
        return app_config.get(PREFIX + key, _DEFAULTS[key])

    problems = not_built_settings(app_config, overrides)

    # Values of honoured settings that are not built: refused, not ignored.
    redirect_behavior = cv("REDIRECT_BEHAVIOR")
    if redirect_behavior not in (None, "spa"):
        problems.append(
            f"SECURITY_REDIRECT_BEHAVIOR {redirect_behavior!r} is not supported; use None or 'spa'"
        )

    # Passwords.
    schemes = cv("PASSWORD_SCHEMES") or []
    password_hash = cv("PASSWORD_HASH")
    if password_hash not in schemes:
        problems.append(
            f"SECURITY_PASSWORD_HASH {password_hash!r} is not listed in SECURITY_PASSWORD_SCHEMES"
        )
    single_hash = cv("PASSWORD_SINGLE_HASH") or {"plaintext"}
    if single_hash is not True and password_hash not in single_hash and not cv("PASSWORD_SALT"):
        problems.append(
            f"SECURITY_PASSWORD_SALT must be set: SECURITY_PASSWORD_HASH {password_hash!r}"
            " is applied to an HMAC of the password keyed with it (it is not in"
            " SECURITY_PASSWORD_SINGLE_HASH)"
        )
    if not cv("PASSWORD_REQUIRED") and not cv("UNIFIED_SIGNIN"):
        problems.append(
            "SECURITY_PASSWORD_REQUIRED=False needs SECURITY_UNIFIED_SIGNIN=True"
            " (users need some way to sign in)"
        )
    min_len, max_len = cv("PASSWORD_LENGTH_MIN"), cv("PASSWORD_MAX_LENGTH")
    if not _is_int(max_len) or max_len < 1:
        problems.append("SECURITY_PASSWORD_MAX_LENGTH must be a positive integer")
    elif _is_int(min_len) and max_len < min_len:
        problems.append(
            f"SECURITY_PASSWORD_MAX_LENGTH ({max_len}) is below"
            f" SECURITY_PASSWORD_LENGTH_MIN ({min_len})"
        )
    pool_size = cv("PASSWORD_HASH_POOL_SIZE")
    if pool_size is not None and (not _is_int(pool_size) or pool_size < 1):
        problems.append("SECURITY_PASSWORD_HASH_POOL_SIZE must be None or an integer of at least 1")
    queue_size = cv("PASSWORD_HASH_QUEUE_SIZE")
    if queue_size is not None and (not _is_int(queue_size) or queue_size < 0):
        # 0 is legitimate: no waiting at all, every hash beyond the pool gets 503.
        problems.append("SECURITY_PASSWORD_HASH_QUEUE_SIZE must be None or an integer >= 0")
    nice = cv("PASSWORD_HASH_NICE")
    if not _is_int(nice) or not 0 <= nice <= 19:
        problems.append("SECURITY_PASSWORD_HASH_NICE must be an integer from 0 to 19")
    mail_queue_size = cv("MAIL_QUEUE_SIZE")
    if not _is_int(mail_queue_size) or mail_queue_size < 1:
        problems.append("SECURITY_MAIL_QUEUE_SIZE must be an integer of at least 1")

    # Identity attributes.
    uias = cv("USER_IDENTITY_ATTRIBUTES")
    if not isinstance(uias, list | tuple):
        problems.append("SECURITY_USER_IDENTITY_ATTRIBUTES must be a list of single-key dicts")
    else:
        for uia in uias:
            if not isinstance(uia, Mapping) or len(uia) != 1:
                problems.append(
                    "each entry of SECURITY_USER_IDENTITY_ATTRIBUTES must be a dict with"
                    f" exactly one key, got {uia!r}"
                )
                continue
            ((attr, details),) = uia.items()
            mapper = details.get("mapper") if isinstance(details, Mapping) else None
            if not isinstance(details, Mapping) or not (
                isinstance(mapper, str) or callable(mapper)
            ):
                problems.append(
                    f"SECURITY_USER_IDENTITY_ATTRIBUTES entry {attr!r} needs a dict with a"
                    " 'mapper' (a callable or a dotted path)"
                )

    # Multi-factor.
    mfa_features = [
        k for k in ("TWO_FACTOR", "UNIFIED_SIGNIN", "MULTI_FACTOR_RECOVERY_CODES") if cv(k)
    ]
    if mfa_features and not (cv("TOTP_SECRETS") and cv("TOTP_ISSUER")):
        names = ", ".join(PREFIX + k for k in mfa_features)
        verb = "needs" if len(mfa_features) == 1 else "need"
        problems.append(f"{names} {verb} both SECURITY_TOTP_SECRETS and SECURITY_TOTP_ISSUER")
    if cv("TWO_FACTOR") and not cv("TWO_FACTOR_ENABLED_METHODS"):
        problems.append("SECURITY_TWO_FACTOR needs a non-empty SECURITY_TWO_FACTOR_ENABLED_METHODS")
    if cv("MULTI_FACTOR_RECOVERY_CODES") and not cv("TWO_FACTOR"):
        problems.append(
            "SECURITY_MULTI_FACTOR_RECOVERY_CODES needs SECURITY_TWO_FACTOR (recovery codes"
            " replace a second factor; WebAuthn, the other one, is not built yet)"
        )
    attempts = cv("TWO_FACTOR_MAX_ATTEMPTS")
    if not _is_int(attempts) or attempts < 0:
        problems.append("SECURITY_TWO_FACTOR_MAX_ATTEMPTS must be an integer of at least 0")
    if cv("UNIFIED_SIGNIN") and not cv("US_ENABLED_METHODS"):
        problems.append("SECURITY_UNIFIED_SIGNIN needs a non-empty SECURITY_US_ENABLED_METHODS")

    # Closed vocabularies: a typo here silently disables a mechanism.
    for key, allowed in _ALLOWED_VALUES.items():
        values = cv(key)
        if values is None and key == "LOGOUT_METHODS":
            continue  # Flask-Security: None means no logout route.
        if isinstance(values, str | bytes) or not isinstance(values, Sequence | set | frozenset):
            problems.append(f"SECURITY_{key} must be a list, got {values!r}")
            continue
        bad = [v for v in values if v not in allowed]
        if bad:
            problems.append(
                f"SECURITY_{key} has unsupported values {bad!r}; allowed: {sorted(allowed)!r}"
            )

    # Cookies.
    for key in _COOKIE_KEYS:
        cookie = cv(key)
        if cookie is None:
            continue
        if not isinstance(cookie, Mapping):
            problems.append(f"SECURITY_{key} must be a dict of cookie options")
            continue
        if key == "CSRF_COOKIE":
            problems.extend(_csrf_cookie_options(cookie))
        samesite = cookie.get("samesite")
        if samesite is None:
            continue
        if not isinstance(samesite, str) or samesite.lower() not in _SAMESITE:
            problems.append(
                f"SECURITY_{key} samesite {samesite!r} must be 'Strict', 'Lax', 'None' or None"
            )
        elif samesite.lower() == "none" and not cookie.get("secure"):
            problems.append(
                f"SECURITY_{key} with samesite 'None' needs secure=True (browsers drop it)"
            )

    # Links in mails are built from settings, never from the request's Host:
    # a feature that mails one needs a base URL, or its first mail is a 500.
    link_features = [k for k in ("CONFIRMABLE", "CHANGE_EMAIL") if cv(k)]
    if cv("RECOVERABLE") and (
        cv("SEND_PASSWORD_RESET_EMAIL") or (cv("REGISTERABLE") and cv("SEND_REGISTER_EMAIL"))
    ):
        link_features.append("RECOVERABLE")
    if link_features and not cv("EXTERNAL_BASE_URL") and not app_config.get("SERVER_NAME"):
        names = ", ".join(PREFIX + k for k in link_features)
        problems.append(
            f"{names} mail links, which need SECURITY_EXTERNAL_BASE_URL (e.g."
            " 'https://app.example.com') or SERVER_NAME: links are never built from"
            " the request's Host header"
        )

    samesite_default = cv("DEFAULT_COOKIE_SAMESITE")
    if samesite_default not in (None, "Lax", "Strict"):
        problems.append("SECURITY_DEFAULT_COOKIE_SAMESITE must be 'Lax', 'Strict' or None")
    if cv("HTTP_AUTH_CHARSET") not in (None, "UTF-8"):
        problems.append("SECURITY_HTTP_AUTH_CHARSET must be None or 'UTF-8' (RFC 7617)")

    # Cache-Control directives: a misspelt one would silently not be sent.
    cache_control = cv("CACHE_CONTROL")
    if cache_control is not None:
        if not isinstance(cache_control, Mapping):
            problems.append("SECURITY_CACHE_CONTROL must be a dict of Cache-Control directives")
        else:
            unknown = sorted(str(k) for k in cache_control if k not in _CACHE_DIRECTIVES)
            if unknown:
                problems.append(
                    f"SECURITY_CACHE_CONTROL has unknown directives {unknown!r}; "
                    f"known: {sorted(_CACHE_DIRECTIVES)!r}"
                )

    # Durations.
    for key in sorted(DURATION_KEYS):
        value = cv(key)
        if key == "TOKEN_MAX_AGE" and value is None:
            continue  # Flask-Security 5.6: None means tokens never expire.
        try:
            _duration_setting(key, value)
        except ConfigurationError as exc:
            problems.append(str(exc))

    # Messages.
    for key in _MESSAGES:
        message = app_config.get(MSG_PREFIX + key)
        if message is None:
            continue
        if (
            isinstance(message, str | bytes)
            or not isinstance(message, Sequence)
            or len(message) != 2
            or not all(isinstance(part, str) for part in message)
        ):
            problems.append(f"{MSG_PREFIX}{key} must be a (text, category) pair of strings")

    if problems:
        raise ConfigurationError("invalid security configuration:\n  " + "\n  ".join(problems))


# ------------------------------------------------------------------ access


_PLACEHOLDER: Final = re.compile(r"%(?:\((\w+)\)([#0 +-]*[0-9]*(?:\.[0-9]+)?[diouxXeEfFgGcrsa])|%)")


def _format(text: str, kwargs: Mapping[str, Any]) -> str:
    """%-style named formatting that never raises and never prints the whole mapping.

    Plain ``text % kwargs`` turns a stray "% s" or "% r" in an app's message
    into the repr of every keyword argument (codes, emails); here only
    ``%(name)<conversion>`` and ``%%`` are touched. A placeholder without a
    value, or whose value does not fit its conversion, is left as written.
    """

    def substitute(match: re.Match[str]) -> str:
        name, conversion = match.group(1), match.group(2)
        if name is None:
            return "%"
        if name not in kwargs:
            return match.group(0)
        try:
            return ("%" + conversion) % (kwargs[name],)
        except (TypeError, ValueError, OverflowError):
            return match.group(0)

    return _PLACEHOLDER.sub(substitute, text)


def get_message(app_config: Mapping[str, Any], key: str, **kwargs: Any) -> tuple[str, str]:
    """(text, category) of SECURITY_MSG_<key>, formatted with ``kwargs``.

    The app's value wins over ours (that is how apps reword messages). Values
    are inserted verbatim; escaping belongs to whatever renders the text
    (Jinja autoescape, JSON).
    """
    try:
        text, category = app_config.get(MSG_PREFIX + key) or _MESSAGES[key]
    except KeyError:
        raise KeyError(f"unknown message {MSG_PREFIX}{key}") from None
    return _format(text, kwargs), category


class ConfigView:
    """``cv("KEY")`` reads ``SECURITY_KEY`` from one app's config.

    Resolves ``FromAppConfig`` defaults (EMAIL_SENDER) on read.
    """

    __slots__ = ("_config",)

    def __init__(self, app_config: Mapping[str, Any]) -> None:
        self._config = app_config

    def __call__(self, key: str) -> Any:
        try:
            value = self._config[PREFIX + key]
        except KeyError:
            raise KeyError(f"unknown setting {PREFIX}{key} (was init_config run?)") from None
        if type(value) is FromAppConfig:
            return value.resolve(self._config)
        return value

    def message(self, key: str, **kwargs: Any) -> tuple[str, str]:
        return get_message(self._config, key, **kwargs)


__all__ = [
    "ADDED_KEYS",
    "ADDED_MESSAGES",
    "BUILT_FORM_KEYS",
    "DEFAULT_CONFIG",
    "DEFAULT_MESSAGES",
    "DURATION_KEYS",
    "FORM_KEYS",
    "KEY_NOTES",
    "KEY_STATUS",
    "NOT_BUILT",
    "REMOVED_KEYS",
    "ConfigView",
    "FromAppConfig",
    "Status",
    "at_default",
    "get_message",
    "init_config",
    "is_setting_argument",
    "naive_utcnow",
    "no_token_expiry",
    "normalize_durations",
    "not_built_settings",
    "parse_duration",
    "unknown_keys",
    "validate_config",
    "warn_unknown_keys",
]
