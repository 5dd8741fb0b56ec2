"""Bearer tokens → the caller (name, role, scope); 401 without a valid token, 403 by role.

Tokens are created by ``gongjian user add`` and only their SHA-256 is stored (api_user).
Default deny: every data endpoint depends on :func:`current_caller` (or, on the hot tile
path, calls :func:`authenticate` itself on a connection it already holds).
"""

from __future__ import annotations

import threading
from collections.abc import Callable

import sqlalchemy as sa
from fastapi import Depends, HTTPException, Request, Security
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from layers.access import Caller, caller_for_token, hash_token

bearer = HTTPBearer(
    auto_error=False,
    scheme_name="token",
    description="A token from `gongjian user add NAME --role ROLE --scope CODE`.",
)
CHALLENGE = {"WWW-Authenticate": 'Bearer realm="gongjian"'}


def authenticate(conn: sa.Connection, credentials: HTTPAuthorizationCredentials | None) -> Caller:
    """The caller holding these credentials, or HTTP 401."""
    if credentials is None or credentials.scheme.lower() != "bearer":
        raise HTTPException(401, "missing bearer token", headers=CHALLENGE)
    caller = caller_for_token(conn, credentials.credentials)
    if caller is None:
        raise HTTPException(401, "invalid or revoked token", headers=CHALLENGE)
    return caller


def autocommit(request: Request) -> sa.Connection:
    """A connection for single statements: no transaction to begin and end around them."""
    return request.app.state.engine.connect().execution_options(isolation_level="AUTOCOMMIT")


def current_caller(
    request: Request, credentials: HTTPAuthorizationCredentials | None = Security(bearer)
) -> Caller:
    """The authenticated caller, or 401."""
    with autocommit(request) as conn:
        return authenticate(conn, credentials)


def require_roles(*roles: str) -> Callable[..., Caller]:
    """A dependency admitting only callers with one of ``roles`` (403 otherwise)."""

    def check(caller: Caller = Depends(current_caller)) -> Caller:
        if caller.role not in roles:
            raise HTTPException(
                403, f"role {caller.role} may not do this (needs {' or '.join(roles)})"
            )
        return caller

    return check


class TokenCache:
    """Callers by token hash, valid while the api_user change counter stays the same.

    Used on the tile path only: a revoked token stops working there once the change watcher
    has seen the revocation (milliseconds after its commit); every other endpoint asks the
    database on each request.
    """

    def __init__(self, max_entries: int = 10_000) -> None:
        self._entries: dict[str, tuple[int, Caller]] = {}
        self._max = max_entries
        self._lock = threading.Lock()

    def get(self, credentials: HTTPAuthorizationCredentials | None, version: int) -> Caller | None:
        if credentials is None or credentials.scheme.lower() != "bearer":
            return None
        entry = self._entries.get(hash_token(credentials.credentials))
        return entry[1] if entry is not None and entry[0] == version else None

    def put(self, credentials: HTTPAuthorizationCredentials, version: int, caller: Caller) -> None:
        with self._lock:
            if len(self._entries) >= self._max:
                self._entries.clear()
            self._entries[hash_token(credentials.credentials)] = (version, caller)
