"""A small Quart app using quart_security as docs/getting-started.md shows, every feature on.

Run it with ``bash scripts/demo.sh`` (hypercorn on http://127.0.0.1:5000). The
schema is created and a demo user is seeded (and printed) at start-up, on
SQLite by default. Every account page the library has is on: sign in and out,
registration with email confirmation, password reset, change password, email
and username, username recovery, two-factor sign-in (email codes or an
authenticator app; no SMS: there is no gateway here) with recovery codes, and
the rate limits (on by default).

Demo-only choices, each replacing what a real app configures:

- SECRET_KEY and SECURITY_PASSWORD_SALT are made once and kept in
  ``instance/demo-secrets.json`` (git-ignored, mode 0600; DEMO_INSTANCE_DIR
  moves it), so a restart keeps sessions and open forms valid. A real app
  loads them from its environment or secret store.
- TOTP_SECRETS (which encrypts the two-factor secrets) is derived from the
  SECRET_KEY; a real app keeps it as a secret of its own, and keeps it.
- Mail is not sent: ``OutboxMailUtil`` keeps it in memory and
  http://127.0.0.1:5000/_demo/mail lists it, links clickable. A real app
  keeps the default MailUtil (SMTP, MAIL_SERVER...) or its own.

One setting changes the database: DEMO_DATABASE_URL, an SQLAlchemy async URL
(``postgresql+asyncpg://...``) or a MongoDB URL
(``mongodb://127.0.0.1:27017/demo``), as docs/datastores.md shows.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import secrets
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from markupsafe import Markup, escape
from quart import Quart, jsonify, render_template_string
from sqlalchemy.ext.asyncio import async_sessionmaker, create_async_engine
from sqlalchemy.orm import DeclarativeBase

from quart_security import (
    MailUtil,
    Security,
    auth_required,
    current_user,
    hash_password,
    naive_utcnow,
    roles_required,
)
from quart_security.datastore.base import UserDatastore
from quart_security.datastore.sqlalchemy import SQLAlchemyUserDatastore
from quart_security.models.sqla import (
    FsModels,
    FsRoleMixin,
    FsTfCountersMixin,
    FsUserMixin,
    FsWebAuthnMixin,
)

ROOT = Path(__file__).resolve().parent.parent
DATABASE_URL = os.environ.get("DEMO_DATABASE_URL", "sqlite+aiosqlite:///demo.db")
INSTANCE_DIR = Path(os.environ.get("DEMO_INSTANCE_DIR", ROOT / "instance"))
DEMO_EMAIL = "demo@example.com"
DEMO_USERNAME = "demo"
DEMO_PASSWORD = os.environ.get("DEMO_PASSWORD", "correct horse battery staple")

#: Every feature switch of quart_security that is built (config.py: honoured).
FEATURES = {
    "SECURITY_REGISTERABLE": True,
    "SECURITY_CONFIRMABLE": True,
    "SECURITY_RECOVERABLE": True,
    "SECURITY_CHANGEABLE": True,
    "SECURITY_CHANGE_EMAIL": True,
    "SECURITY_USERNAME_ENABLE": True,
    "SECURITY_CHANGE_USERNAME": True,
    "SECURITY_USERNAME_RECOVERY": True,
    "SECURITY_TRACKABLE": True,
    "SECURITY_TWO_FACTOR": True,
    "SECURITY_TWO_FACTOR_ENABLED_METHODS": ["email", "authenticator"],
    "SECURITY_TOTP_ISSUER": "quart-flask-security demo",
    "SECURITY_MULTI_FACTOR_RECOVERY_CODES": True,
}


class Base(DeclarativeBase):
    pass


FsModels.set_db_info(base_model=Base)


class Role(Base, FsRoleMixin):
    pass


class User(Base, FsUserMixin, FsTfCountersMixin):
    pass


class WebAuthn(Base, FsWebAuthnMixin):
    pass


def load_secrets(instance_dir: Path) -> dict[str, str]:
    """SECRET_KEY and PASSWORD_SALT from ``demo-secrets.json``, made on first start.

    Created exclusively with mode 0600, so two processes starting at once
    cannot overwrite each other's, and nobody else can read it.
    """
    path = instance_dir / "demo-secrets.json"
    instance_dir.mkdir(parents=True, exist_ok=True)
    made = {"SECRET_KEY": secrets.token_urlsafe(32), "PASSWORD_SALT": secrets.token_urlsafe(16)}
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        pass
    else:
        with os.fdopen(fd, "w") as fp:
            json.dump(made, fp)
        return made
    try:
        kept = json.loads(path.read_text())
        if all(isinstance(kept.get(k), str) and kept[k] for k in made):
            return {k: kept[k] for k in made}
    except (OSError, ValueError):
        pass
    raise SystemExit(f"demo: {path} is not the demo's secrets file; remove it to make a new one")


@dataclass
class DemoMail:
    subject: str
    recipient: str
    sent_at: datetime
    body: str
    template: str = ""
    html: str | None = field(default=None, repr=False)


class OutboxMailUtil(MailUtil):
    """Keeps the library's mail in memory (shown at /_demo/mail) instead of SMTP."""

    def __init__(self, app: Any) -> None:
        super().__init__(app)
        self.outbox: list[DemoMail] = []

    async def send_mail(
        self,
        template: str,
        subject: str,
        recipient: str | tuple[str, str],
        sender: str | tuple[str, str],
        body: str | None,
        html: str | None,
        **kwargs: Any,
    ) -> None:
        to = recipient if isinstance(recipient, str) else f"{recipient[0]} <{recipient[1]}>"
        mail = DemoMail(str(subject), to, datetime.now(UTC), body or "", template, html)
        self.outbox.append(mail)


app = Quart(__name__, instance_path=str(INSTANCE_DIR))
_secrets = load_secrets(INSTANCE_DIR)
# A DEMO_SECRET_KEY / DEMO_PASSWORD_SALT in the environment wins over the file.
app.config["SECRET_KEY"] = os.environ.get("DEMO_SECRET_KEY", _secrets["SECRET_KEY"])
app.config["SECURITY_PASSWORD_SALT"] = os.environ.get(
    "DEMO_PASSWORD_SALT", _secrets["PASSWORD_SALT"]
)
app.config.update(FEATURES)
app.config["SECURITY_TOTP_SECRETS"] = {
    "1": hashlib.sha256(b"demo-totp:" + app.config["SECRET_KEY"].encode()).hexdigest()
}
# Mail links are built from this, never from the request's Host (QS_DEMO_PORT: demo.sh's).
app.config["SECURITY_EXTERNAL_BASE_URL"] = os.environ.get(
    "DEMO_BASE_URL", f"http://127.0.0.1:{os.environ.get('QS_DEMO_PORT', '5000')}"
)


def make_datastore(url: str) -> tuple[UserDatastore[Any, Any], Any]:
    """The datastore for ``url``, and the SQL engine (None for MongoDB)."""
    if url.startswith(("mongodb://", "mongodb+srv://")):
        from pymongo import AsyncMongoClient
        from pymongo.uri_parser import parse_uri

        from quart_security.datastore.mongo import MongoUserDatastore
        from quart_security.models.mongo import MongoRole, MongoUser, MongoWebAuthn

        database = parse_uri(url).get("database") or "demo"
        client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(url)
        mongo = MongoUserDatastore(
            client[database], MongoUser, MongoRole, MongoWebAuthn, create_indexes_on_start=True
        )
        return mongo, None
    sql_engine = create_async_engine(url)
    sql = SQLAlchemyUserDatastore(
        async_sessionmaker(sql_engine, expire_on_commit=False), User, Role, WebAuthn
    )
    return sql, sql_engine


user_datastore, engine = make_datastore(DATABASE_URL)
security = Security(app, user_datastore, mail_util_cls=OutboxMailUtil)
outbox: list[DemoMail] = security.mail_util.outbox  # type: ignore[attr-defined]

PAGE = """{% extends "security/base.html" %}
{% block title %}quart-flask-security demo{% endblock %}
{% block body %}
<h1>quart-flask-security demo</h1>
{% include "security/_messages.html" %}
{% if current_user.is_authenticated %}
  <p>Signed in as {{ current_user.email }}.</p>
  <form method="post" action="{{ url_for_security('logout') }}">
    <input type="hidden" name="csrf_token" value="{{ csrf_token }}">
    <button>Sign out</button></form>
  <nav>
    <a href="{{ url_for_security('change_password') }}">Change password</a>
    <a href="{{ url_for_security('change_email') }}">Change email</a>
    <a href="{{ url_for_security('change_username') }}">Change username</a>
    <a href="{{ url_for_security('two_factor_setup') }}">Two-factor sign-in</a>
    <a href="{{ url_for_security('mf_recovery_codes') }}">Recovery codes</a>
  </nav>
{% else %}
  <p><a href="{{ url_for_security('login') }}">Sign in</a> as {{ email }}
     (or {{ username }}), password <code>{{ password }}</code>.</p>
  <nav>
    <a href="{{ url_for_security('register') }}">Register</a>
    <a href="{{ url_for_security('forgot_password') }}">Forgotten password</a>
    <a href="{{ url_for_security('send_confirmation') }}">Resend confirmation</a>
    <a href="{{ url_for_security('recover_username') }}">Forgotten username</a>
  </nav>
{% endif %}
<nav>
  <a href="/profile">Profile (needs sign-in)</a>
  <a href="/admin">Admin (needs the admin role)</a>
  <a href="/_demo/mail">Outbox ({{ mail_count }})</a>
</nav>
{% endblock %}
"""

MAIL_PAGE = """{% extends "security/base.html" %}
{% block title %}Demo outbox{% endblock %}
{% block body %}
<h1>Demo outbox</h1>
<p>The mail the demo would have sent, newest first. It lives in memory: a restart empties it.</p>
{% for mail in mails %}
  <article>
    <h2>{{ mail.subject }}</h2>
    <p>To {{ mail.recipient }}, {{ mail.sent_at.strftime("%H:%M:%S") }} UTC</p>
    <pre>{{ linkify(mail.body) }}</pre>
  </article>
{% else %}
  <p>No mail yet. Register, or ask for a password reset.</p>
{% endfor %}
<nav><a href="/">Home</a></nav>
{% endblock %}
"""

URL = re.compile(r"https?://[^\s<>\"']+")


def linkify(text: str) -> Markup:
    """``text`` escaped, with each http(s) URL as a link."""
    out, last = [], 0
    for match in URL.finditer(text):
        url = match.group(0)
        out += [escape(text[last : match.start()]), Markup('<a href="%s">%s</a>') % (url, url)]
        last = match.end()
    out.append(escape(text[last:]))
    return Markup("").join(out)


@app.before_serving
async def create_schema_and_demo_user() -> None:
    if engine is not None:
        async with engine.begin() as conn:
            await conn.run_sync(Base.metadata.create_all)
    async with app.app_context(), user_datastore.unit_of_work():
        admin = await user_datastore.find_or_create_role("admin", permissions=["admin-read"])
        if await user_datastore.find_user(email=DEMO_EMAIL) is None:
            await user_datastore.create_user(
                email=DEMO_EMAIL,
                username=DEMO_USERNAME,
                password=await hash_password(DEMO_PASSWORD),
                confirmed_at=naive_utcnow(),  # CONFIRMABLE: the demo user may sign in
                roles=[admin],
            )
    print(f"Demo user: {DEMO_EMAIL} ({DEMO_USERNAME}) / {DEMO_PASSWORD}", flush=True)


@app.route("/")
async def index() -> Any:
    from quart_security.web.csrf import generate_csrf
    from quart_security.web.quart_adapter import QuartPort

    return await render_template_string(
        PAGE,
        email=DEMO_EMAIL,
        username=DEMO_USERNAME,
        password=DEMO_PASSWORD,
        mail_count=len(outbox),
        csrf_token=generate_csrf(security, QuartPort()),
    )


@app.route("/_demo/mail")
async def demo_mail() -> Any:
    """The outbox (demo only: a real app has no such page)."""
    return await render_template_string(MAIL_PAGE, mails=outbox[::-1], linkify=linkify)


@app.route("/profile")
@auth_required()
async def profile() -> Any:
    return jsonify(email=current_user.email, roles=[r.name for r in current_user.roles])


@app.route("/admin")
@auth_required()
@roles_required("admin")
async def admin() -> Any:
    return jsonify(message="Hello, admin.")
