"""``gongjian user``: API users with a role and an administrative scope.

The token is printed once; only its SHA-256 is stored.
"""

from __future__ import annotations

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
) -> None:
    """Create a user and print their token (once: it cannot be shown again)."""
    from layers.access import AccessError, add_user

    engine = ready_engine()
    try:
        token = add_user(engine, name, role, scope, actor=actor())
    except AccessError as exc:
        fail(str(exc), 2)
    err.print(f"user {name} ({role}, scope {scope}) created; the token is shown only now:")
    out.print(token, highlight=False, soft_wrap=True)


@user_app.command("list")
def list_users() -> None:
    """Users with role, scope and whether they are active (never tokens)."""
    import sqlalchemy as sa

    engine = ready_engine()
    with engine.connect() as conn:
        rows = conn.execute(
            sa.text("SELECT name, role, scope, active, created_at FROM api_user ORDER BY name")
        ).all()
    for row in rows:
        state = "active" if row.active else "revoked"
        out.print(f"{row.name:<20} {row.role:<9} {row.scope:<12} {state}", highlight=False)


@user_app.command("revoke")
def revoke(name: str = typer.Argument(..., help="The user whose token stops working.")) -> None:
    """Deactivate a user (their token answers 401 from now on); audited."""
    from layers.access import AccessError, revoke_user

    try:
        revoke_user(ready_engine(), name, actor=actor())
    except AccessError as exc:
        fail(str(exc), 2)
    out.print(f"user {name} revoked")
