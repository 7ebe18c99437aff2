"""Flask-Security's ``users`` and ``roles`` commands, written once for both frameworks.

Each command is an async core function over the ``Security`` of the app: it
validates with the code the web flows use (registration's identity and
password checks, the PasswordUtil, the identity attributes), works inside
one datastore unit of work (committed when the command succeeds, rolled back
when it refuses or fails, so a refused command writes nothing) and either
returns what to tell the operator or raises ``CommandError``.

The Click groups are built once here too (``build_groups``); an adapter only
supplies a ``Runner`` that executes a coroutine in an app context its way:
Quart with ``asyncio.run``, flask_compat on its thread's own loop. Group names
come from CLI_USERS_NAME / CLI_ROLES_NAME (a falsy name registers no group).

Exit codes: 0 done (or nothing to do, "already active"), 2 refused (unknown
user or role, invalid identity or password, taken identity: Click's code for
bad input, as Flask-Security's UsageErrors), 1 the datastore failed.
Passwords are never echoed nor printed.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Coroutine, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

import click

from .errors import DuplicateIdentityError, Problem, SecurityError
from .flows.change_password import change_user_password
from .flows.context import FlowContext
from .flows.register import RegistrationInput, check_registration
from .outbox import Outbox
from .throttle import account_key

if TYPE_CHECKING:
    from .extension import Security

T = TypeVar("T")

#: Exit code of a refused command (Click's code for bad input).
EXIT_REFUSED = 2
#: Exit code when the datastore failed (nothing was committed).
EXIT_FAILED = 1


class Runner(Protocol):
    """Runs ``make()``'s coroutine to completion in an app context (one per adapter)."""

    def __call__(self, make: Callable[[], Coroutine[Any, Any, T]]) -> T: ...


class CommandError(Exception):
    """A command refused (or failed); its text is what the operator reads."""

    def __init__(self, message: str, exit_code: int = EXIT_REFUSED) -> None:
        super().__init__(message)
        self.message = message
        self.exit_code = exit_code


@dataclass(frozen=True)
class Outcome:
    """What a command tells the operator: ``changed`` False reads as a warning."""

    message: str
    changed: bool = True


class _NoLinks:
    """The CLI mails nothing, so it builds no link; one asked for is a bug."""

    def external_url(self, endpoint: str, **values: Any) -> str:
        raise RuntimeError(f"no link to {endpoint!r} can be built by a CLI command")


def cli_flow_context(security: Security) -> FlowContext:
    """The flow context of a command: the app's services, an outbox of its own."""
    return security.flow_context(Outbox(), _NoLinks())


async def _in_unit_of_work(
    security: Security, work: Callable[[FlowContext], Awaitable[Outcome]]
) -> Outcome:
    """``work`` in one unit of work; every failure becomes a CommandError."""
    store = security.store
    try:
        async with store.unit_of_work():
            return await work(cli_flow_context(security))
    except CommandError:
        raise
    except SecurityError as error:
        raise CommandError(_problems_text(security, error.problems)) from None
    except DuplicateIdentityError as error:
        raise CommandError(f"an identity is already taken ({error})") from None
    except Exception as error:  # the datastore failed: say so, no traceback
        message = f"The datastore failed, nothing was written: {error}"
        raise CommandError(message, EXIT_FAILED) from None


def _problem_text(security: Security, problem: Problem) -> str:
    text = (
        problem.text
        if problem.text is not None
        else security.message(problem.key, **problem.kwargs)
    )
    return f"{problem.field}: {text}" if problem.field else text


def _problems_text(security: Security, problems: Sequence[Problem]) -> str:
    return "; ".join(_problem_text(security, p) for p in problems)


async def _user(ctx: FlowContext, identity: str) -> Any:
    user = await ctx.identity.lookup(ctx.store, identity)
    if user is None:
        raise CommandError(f'User "{identity}" not found.')
    return user


async def _role(ctx: FlowContext, name: str) -> Any:
    role = await ctx.store.find_role(name)
    if role is None:
        raise CommandError(f'Role "{name}" not found.')
    return role


def _permission_list(permissions: str) -> list[str]:
    found = [p.strip() for p in permissions.split(",") if p.strip()]
    if not found:
        raise CommandError("No permissions given (a comma separated list).")
    return found


def _require_permissions(security: Security) -> None:
    if not hasattr(security.store.role_model, "permissions"):
        raise CommandError("The role model does not support permissions.")


# ---------------------------------------------------------------------- users
def parse_attributes(security: Security, attributes: Sequence[str]) -> dict[str, str]:
    """``attr:value`` pairs (a bare value is the email), as Flask-Security reads them.

    An identity attribute's value must be accepted by its mapper (as at
    sign-in); any other attribute must be a column of the user model.
    """
    fields: dict[str, str] = {}
    identity = {attr: mapper for attr, mapper, _ in security.identity.attributes}
    model = security.store.user_model
    for argument in attributes:
        attr, sep, value = argument.partition(":")
        if not sep:
            attr, value = "email", argument
        attr = attr.strip()
        if attr in ("password", "active"):
            raise CommandError(f'Attribute "{attr}" is set by --password / --active.')
        if attr == "roles":
            raise CommandError('Roles are given with "roles add USER ROLE".')
        if attr in identity:
            if not identity[attr](value):
                raise CommandError(
                    f'Attribute {attr} with value "{value}" was not accepted by '
                    "SECURITY_USER_IDENTITY_ATTRIBUTES."
                )
        elif not hasattr(model, attr):
            raise CommandError(f'The user model has no attribute "{attr}".')
        fields[attr] = value
    return fields


async def create_user(
    security: Security,
    attributes: Sequence[str],
    password: str,
    *,
    active: bool = False,
    username: str | None = None,
) -> Outcome:
    """``users create``: the registration checks, then one ``create_user``.

    Like Flask-Security: not active unless ``active``, never confirmed (with
    CONFIRMABLE the user confirms through the usual mail), no mail, no signal.
    A taken email or username is refused whatever RETURN_GENERIC_RESPONSES
    says: the operator is not an enumerating client.
    """
    fields = parse_attributes(security, attributes)
    if username is not None:
        fields["username"] = username
    if "username" in fields and not security.cv("USERNAME_ENABLE"):
        raise CommandError("--username needs SECURITY_USERNAME_ENABLE.")

    async def work(ctx: FlowContext) -> Outcome:
        extra = {k: v for k, v in fields.items() if k not in ("email", "username")}
        checked = await check_registration(
            ctx,
            RegistrationInput(
                email=fields.get("email"),
                password=password,
                password_confirm=password,
                username=fields.get("username"),
                user_fields=extra,
            ),
        )
        taken = []
        if checked.existing_email_user is not None:
            taken.append(Problem("email", "EMAIL_ALREADY_ASSOCIATED", {"email": checked.email}))
        if checked.existing_username_user is not None:
            taken.append(
                Problem("username", "USERNAME_ALREADY_ASSOCIATED", {"username": checked.username})
            )
        if taken:
            raise CommandError(_problems_text(security, taken))
        values: dict[str, Any] = {**extra, "email": checked.email, "active": active}
        hashed = await ctx.passwords.hash(checked.password) if checked.password else None
        values["password"] = hashed
        if checked.username:
            values["username"] = checked.username
        await ctx.store.create_user(**values)
        await ctx.store.flush()  # the unique indexes judge a race here
        shown = {k: v for k, v in values.items() if k != "password"}
        return Outcome(f"User created successfully. {shown}")

    return await _in_unit_of_work(security, work)


async def set_active(security: Security, identity: str, active: bool) -> Outcome:
    """``users activate`` / ``users deactivate``; already so is not an error."""

    async def work(ctx: FlowContext) -> Outcome:
        user = await _user(ctx, identity)
        if active:
            if await ctx.store.activate_user(user):
                return Outcome(f'User "{identity}" has been activated.')
            return Outcome(f'User "{identity}" was already activated.', changed=False)
        if await ctx.store.deactivate_user(user):
            return Outcome(f'User "{identity}" has been deactivated.')
        return Outcome(f'User "{identity}" was already deactivated.', changed=False)

    return await _in_unit_of_work(security, work)


async def reset_access(security: Security, identity: str) -> Outcome:
    """``users reset_access``: the datastore's reset_user_access (the password stays)."""

    async def work(ctx: FlowContext) -> Outcome:
        await ctx.store.reset_user_access(await _user(ctx, identity))
        return Outcome(f'User "{identity}" authentication credentials have been reset.')

    return await _in_unit_of_work(security, work)


async def unlock(security: Security, identity: str) -> Outcome:
    """``users unlock``: end a lockout and refill the account's password budget."""

    async def work(ctx: FlowContext) -> Outcome:
        user = await _user(ctx, identity)
        throttle = security.throttle
        if not throttle.enabled:
            return Outcome(
                f'Rate limits are off (SECURITY_RATE_LIMIT_ENABLED): "{identity}" is not limited.',
                changed=False,
            )
        await throttle.unlock(account_key(security.identity, user, None))
        if throttle.shared:
            return Outcome(f'User "{identity}" has been unlocked.')
        return Outcome(
            f'User "{identity}" has been unlocked in this process only: with'
            ' SECURITY_RATE_LIMIT_STORAGE_URI = "memory://" each server keeps its own'
            " counters. Point the servers and this command at one Redis to unlock from here.",
            changed=False,
        )

    return await _in_unit_of_work(security, work)


async def change_password(security: Security, identity: str, password: str) -> Outcome:
    """``users change_password``: the reset form's checks, then admin_change_password's
    write without the notice mail (every session and token of the user ends)."""

    async def work(ctx: FlowContext) -> Outcome:
        user = await _user(ctx, identity)
        normalized = await ctx.check_new_password(password, user, "password")
        await change_user_password(ctx, user, normalized, notify=False)
        return Outcome(f'Password of user "{identity}" changed successfully.')

    return await _in_unit_of_work(security, work)


# ---------------------------------------------------------------------- roles
async def create_role(
    security: Security, name: str, description: str | None, permissions: str | None
) -> Outcome:
    """``roles create``; an existing name is refused (not a database error)."""
    values: dict[str, Any] = {"name": name}
    if description is not None:
        values["description"] = description
    if permissions:
        _require_permissions(security)
        values["permissions"] = _permission_list(permissions)

    async def work(ctx: FlowContext) -> Outcome:
        if await ctx.store.find_role(name) is not None:
            raise CommandError(f'Role "{name}" already exists.')
        await ctx.store.create_role(**values)
        await ctx.store.flush()
        return Outcome(f'Role "{name}" created successfully.')

    return await _in_unit_of_work(security, work)


async def add_role(security: Security, identity: str, role_name: str) -> Outcome:
    """``roles add USER ROLE``; a user who already has it is refused, as in Flask-Security."""

    async def work(ctx: FlowContext) -> Outcome:
        user = await _user(ctx, identity)
        role = await _role(ctx, role_name)
        if not await ctx.store.add_role_to_user(user, role):
            raise CommandError(f'User "{identity}" already has role "{role_name}".')
        return Outcome(f'Role "{role_name}" added to user "{identity}" successfully.')

    return await _in_unit_of_work(security, work)


async def remove_role(security: Security, identity: str, role_name: str) -> Outcome:
    """``roles remove USER ROLE``; a user without it is refused, as in Flask-Security."""

    async def work(ctx: FlowContext) -> Outcome:
        user = await _user(ctx, identity)
        role = await _role(ctx, role_name)
        if not await ctx.store.remove_role_from_user(user, role):
            raise CommandError(f'User "{identity}" does not have role "{role_name}".')
        return Outcome(f'Role "{role_name}" removed from user "{identity}" successfully.')

    return await _in_unit_of_work(security, work)


async def change_permissions(
    security: Security, role_name: str, permissions: str, *, add: bool
) -> Outcome:
    """``roles add_permissions`` / ``roles remove_permissions`` (a comma separated list)."""
    _require_permissions(security)
    wanted = _permission_list(permissions)

    async def work(ctx: FlowContext) -> Outcome:
        role = await _role(ctx, role_name)
        if add:
            await ctx.store.add_permissions_to_role(role, wanted)
            return Outcome(
                f'Permission(s) "{permissions}" added to role "{role_name}" successfully.'
            )
        await ctx.store.remove_permissions_from_role(role, wanted)
        return Outcome(
            f'Permission(s) "{permissions}" removed from role "{role_name}" successfully.'
        )

    return await _in_unit_of_work(security, work)


# ---------------------------------------------------------------------- Click wiring
class _Refused(click.ClickException):
    """A refused command for Click: ``Error: <message>`` on stderr, exit code 2."""

    exit_code = EXIT_REFUSED


class _Failed(click.ClickException):
    """A command the datastore failed: ``Error: <message>`` on stderr, exit code 1."""

    exit_code = EXIT_FAILED


def _execute(run: Runner, make: Callable[[], Coroutine[Any, Any, Outcome]]) -> None:
    """Run one command; its outcome on stdout, a refusal on stderr with its exit code."""
    try:
        outcome = run(make)
    except CommandError as error:
        failure = _Failed if error.exit_code == EXIT_FAILED else _Refused
        raise failure(error.message) from None
    click.secho(outcome.message, fg="green" if outcome.changed else "yellow")


_USER_HELP = "USER is any identity attribute value (SECURITY_USER_IDENTITY_ATTRIBUTES)."


def users_group(security: Security, run: Runner) -> click.Group:
    """Flask-Security's ``users`` group over ``security``."""

    @click.group(help=f"User commands. {_USER_HELP}")
    def users() -> None:
        pass

    @users.command(
        "create",
        epilog=(
            "Example: users create me@example.com --password 'battery staple' --active\n\n"
            "Example: users create me@example.com --active --username me"
        ),
    )
    @click.argument("attributes", nargs=-1)
    @click.password_option(help="Prompted for (not echoed) when not given.")
    @click.option("-a", "--active", is_flag=True, default=False, help="Mark the user active.")
    @click.option("-u", "--username", default=None, help="Needs SECURITY_USERNAME_ENABLE.")
    def users_create(
        attributes: tuple[str, ...], password: str, active: bool, username: str | None
    ) -> None:
        """Create a user from attr:value pairs (a bare value is the email).

        Identities and the password are validated as at /register. Unless
        --active is given the new user cannot sign in.
        """
        _execute(
            run,
            lambda: create_user(security, attributes, password, active=active, username=username),
        )

    @users.command("activate")
    @click.argument("user")
    def users_activate(user: str) -> None:
        """Activate a user."""
        _execute(run, lambda: set_active(security, user, True))

    @users.command("deactivate")
    @click.argument("user")
    def users_deactivate(user: str) -> None:
        """Deactivate a user (it can no longer sign in)."""
        _execute(run, lambda: set_active(security, user, False))

    @users.command("reset_access")
    @click.argument("user")
    def users_reset_access(user: str) -> None:
        """End every session and token; remove two-factor, unified sign-in and
        passkey secrets and recovery codes. The password is kept."""
        _execute(run, lambda: reset_access(security, user))

    @users.command("unlock")
    @click.argument("user")
    def users_unlock(user: str) -> None:
        """End a lockout (repeated wrong passwords) and refill the account's password
        budget: the rate limits' store must be the servers' (Redis)."""
        _execute(run, lambda: unlock(security, user))

    @users.command("change_password")
    @click.argument("user")
    @click.password_option(help="Prompted for (not echoed) when not given.")
    def users_change_password(user: str, password: str) -> None:
        """Set a user's password (validated as at reset); every session ends.
        No mail is sent: tell the user out of band."""
        _execute(run, lambda: change_password(security, user, password))

    return users


def roles_group(security: Security, run: Runner) -> click.Group:
    """Flask-Security's ``roles`` group over ``security``."""

    @click.group(help="Role commands.")
    def roles() -> None:
        pass

    @roles.command("create")
    @click.argument("name")
    @click.option("-d", "--description", default=None)
    @click.option("-p", "--permissions", default=None, help="A comma separated list.")
    def roles_create(name: str, description: str | None, permissions: str | None) -> None:
        """Create a role."""
        _execute(run, lambda: create_role(security, name, description, permissions))

    @roles.command("add")
    @click.argument("user")
    @click.argument("role")
    def roles_add(user: str, role: str) -> None:
        """Add ROLE to USER."""
        _execute(run, lambda: add_role(security, user, role))

    @roles.command("remove")
    @click.argument("user")
    @click.argument("role")
    def roles_remove(user: str, role: str) -> None:
        """Remove ROLE from USER."""
        _execute(run, lambda: remove_role(security, user, role))

    @roles.command("add_permissions")
    @click.argument("role")
    @click.argument("permissions")
    def roles_add_permissions(role: str, permissions: str) -> None:
        """Add PERMISSIONS (a comma separated list) to ROLE."""
        _execute(run, lambda: change_permissions(security, role, permissions, add=True))

    @roles.command("remove_permissions")
    @click.argument("role")
    @click.argument("permissions")
    def roles_remove_permissions(role: str, permissions: str) -> None:
        """Remove PERMISSIONS (a comma separated list) from ROLE."""
        _execute(run, lambda: change_permissions(security, role, permissions, add=False))

    return roles


def register_commands(security: Security, cli: click.Group, run: Runner) -> None:
    """Add the groups to the app's CLI under CLI_USERS_NAME / CLI_ROLES_NAME."""
    users_name = security.cv("CLI_USERS_NAME")
    if users_name:
        cli.add_command(users_group(security, run), str(users_name))
    roles_name = security.cv("CLI_ROLES_NAME")
    if roles_name:
        cli.add_command(roles_group(security, run), str(roles_name))
