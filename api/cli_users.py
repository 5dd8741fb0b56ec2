"""``gongjian user``: API users with a role and an administrative scope.

The token is printed once; only its SHA-256 is stored.
"""

from __future__ import annotations

import datetime as dt
import re

import typer

from api.cli_common import actor, err, fail, out, ready_engine

user_app = typer.Typer(help="API users: tokens with a role and a scope.", no_args_is_help=True)


def register(app: typer.Typer) -> None:
    app.add_typer(user_app, name="user")


@user_app.command("add")
def add(
    name: str = typer.Argument(..., help="A unique user name (shown in the audit log)."),
    role: str = typer.Option(..., "--role", help="viewer | editor | inspector | admin"),
    scope: str = typer.Option(
        ..., "--scope", help="County (6 digits), township (9) or village (12) code."
    ),
    expires: str | None = typer.Option(
        None,
        "--expires",
        help="When the token stops working: a date (YYYY-MM-DD, valid through that day), "
        "a time (YYYY-MM-DDTHH:MM) or a duration from now (90d, 12h, 30m, 2w).",
    ),
) -> None:
    """Create a user and print their token (once: it cannot be shown again)."""
    from layers.access import AccessError, add_user

    try:
        expires_at = parse_expiry(expires) if expires else None
    except ValueError as exc:
        fail(f"--expires: {exc}", 2)
    engine = ready_engine()
    try:
        token = add_user(engine, name, role, scope, actor=actor(), expires_at=expires_at)
    except AccessError as exc:
        fail(str(exc), 2)
    until = f", valid until {expires_at:%Y-%m-%d %H:%M %Z}" if expires_at else ""
    err.print(f"user {name} ({role}, scope {scope}{until}) created; the token is shown only now:")
    out.print(token, highlight=False, soft_wrap=True)


DURATION = re.compile(r"^(\d+)\s*([mhdw])$")
UNITS = {"m": "minutes", "h": "hours", "d": "days", "w": "weeks"}


def parse_expiry(text: str, now: dt.datetime | None = None) -> dt.datetime:
    """When a token expires, from a date, a local time or a duration (timezone-aware).

    >>> now = dt.datetime(2027, 1, 1, 8, 0, tzinfo=dt.UTC)
    >>> parse_expiry("90d", now).isoformat()
    '2027-04-01T08:00:00+00:00'
    >>> parse_expiry("2027-06-30", now).astimezone(dt.UTC) > dt.datetime(2027, 6, 30, tzinfo=dt.UTC)
    True
    """
    now = now or dt.datetime.now(dt.UTC)
    text = text.strip()
    duration = DURATION.match(text.lower())
    if duration:
        amount, unit = int(duration.group(1)), UNITS[duration.group(2)]
        if amount <= 0:
            raise ValueError("the duration must be positive")
        return now + dt.timedelta(**{unit: amount})
    try:
        if len(text) == 10:  # a date: the token works through that day (local time)
            day = dt.date.fromisoformat(text) + dt.timedelta(days=1)
            return dt.datetime.combine(day, dt.time()).astimezone()
        moment = dt.datetime.fromisoformat(text)
    except ValueError:
        raise ValueError(
            f"{text!r} is neither a date (2027-06-30), a time (2027-06-30T18:00) "
            "nor a duration (90d, 12h, 30m, 2w)"
        ) from None
    return moment if moment.tzinfo else moment.astimezone()


@user_app.command("list")
def list_users() -> None:
    """Users with role, scope and whether they are active (never tokens)."""
    import sqlalchemy as sa

    engine = ready_engine()
    with engine.connect() as conn:
        rows = conn.execute(
            sa.text(
                "SELECT name, role, scope, active, created_at, expires_at, "
                "expires_at <= now() AS expired FROM api_user ORDER BY name"
            )
        ).all()
    for row in rows:
        state = "revoked" if not row.active else "expired" if row.expired else "active"
        until = f" until {row.expires_at:%Y-%m-%d %H:%M}" if row.expires_at and row.active else ""
        out.print(f"{row.name:<20} {row.role:<9} {row.scope:<12} {state}{until}", highlight=False)


@user_app.command("revoke")
def revoke(name: str = typer.Argument(..., help="The user whose token stops working.")) -> None:
    """Deactivate a user (their token answers 401 from now on); audited."""
    from layers.access import AccessError, revoke_user

    try:
        revoke_user(ready_engine(), name, actor=actor())
    except AccessError as exc:
        fail(str(exc), 2)
    out.print(f"user {name} revoked")
