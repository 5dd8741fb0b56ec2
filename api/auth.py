"""Bearer tokens → the caller (name, role, scope); 401 without a valid token, 403 by role.

Tokens are created by ``gongjian user add`` and only their SHA-256 is stored (api_user); they
may expire (``--expires``). Default deny: every data endpoint depends on :func:`current_caller`
(or, on the hot tile path, calls :func:`authenticate` itself on a connection it already holds).
An address that keeps sending wrong tokens is answered 429 with Retry-After for a time that
doubles with each further wrong token (:class:`BadTokenThrottle`).
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable

import sqlalchemy as sa
from fastapi import Depends, HTTPException, Request, Security
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from api.read_routing import engine_of
from layers.access import Caller, caller_for_token, hash_token

bearer = HTTPBearer(
    auto_error=False,
    scheme_name="token",
    description="A token from `gongjian user add NAME --role ROLE --scope CODE`.",
)
CHALLENGE = {"WWW-Authenticate": 'Bearer realm="gongjian"'}


def authenticate(
    request: Request, conn: sa.Connection, credentials: HTTPAuthorizationCredentials | None
) -> Caller:
    """The caller holding these credentials, or HTTP 401 (429 while the address is held)."""
    if credentials is None or credentials.scheme.lower() != "bearer":
        raise HTTPException(401, "missing bearer token", headers=CHALLENGE)
    throttle: BadTokenThrottle = request.app.state.bad_tokens
    address = client_address(request)
    throttle.check(address)
    caller = caller_for_token(conn, credentials.credentials)
    if caller is None:
        throttle.failed(address)
        raise HTTPException(401, "invalid, expired or revoked token", headers=CHALLENGE)
    return caller


def client_address(request: Request) -> str:
    return request.client.host if request.client else "unknown"


def autocommit(request: Request) -> sa.Connection:
    """A connection for single statements: no transaction to begin and end around them.

    On the request's engine: a read replica for reads when there are some (read_routing)."""
    return engine_of(request).connect().execution_options(isolation_level="AUTOCOMMIT")


def current_caller(
    request: Request, credentials: HTTPAuthorizationCredentials | None = Security(bearer)
) -> Caller:
    """The authenticated caller, or 401."""
    with autocommit(request) as conn:
        return authenticate(request, conn, credentials)


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
        if entry is None or entry[0] != version or entry[1].expired():
            return None  # an expired token goes to the database, which answers 401
        return entry[1]

    def put(self, credentials: HTTPAuthorizationCredentials, version: int, caller: Caller) -> None:
        with self._lock:
            if len(self._entries) >= self._max:
                self._entries.clear()
            self._entries[hash_token(credentials.credentials)] = (version, caller)


class BadTokenThrottle:
    """Slows down an address that keeps sending wrong tokens.

    ``allowance`` wrong tokens within ``window_s`` pass as plain 401s (a mistyped or revoked
    token in an office); each one after that holds the address for twice as long as the one
    before (1 s, 2 s, 4 s … up to ``max_hold_s``), during which every bearer request from it
    is answered 429 with Retry-After, whether the token is right or wrong, so guessing gains
    nothing. A missing token is not a guess and is not counted. Kept per process.
    """

    def __init__(self, allowance: int = 20, window_s: float = 600, max_hold_s: float = 60):
        self.allowance = allowance
        self.window_s = window_s
        self.max_hold_s = max_hold_s
        self._failures: dict[str, tuple[int, float, float]] = {}  # count, first, held until
        self._lock = threading.Lock()

    def check(self, address: str, now: float | None = None) -> None:
        """HTTP 429 while ``address`` is held."""
        now = time.monotonic() if now is None else now
        entry = self._failures.get(address)
        if entry is not None and entry[2] > now:
            wait = math.ceil(entry[2] - now)
            raise HTTPException(
                429,
                f"too many wrong tokens from this address: try again in {wait} s",
                headers={"Retry-After": str(wait)},
            )

    def failed(self, address: str, now: float | None = None) -> None:
        now = time.monotonic() if now is None else now
        with self._lock:
            if len(self._failures) > 100_000:  # a flood of addresses: forget the old ones
                self._failures = {a: e for a, e in self._failures.items() if e[2] > now}
            count, first, _ = self._failures.get(address, (0, now, 0.0))
            if now - first > self.window_s:
                count, first = 0, now
            count += 1
            over = count - self.allowance
            held = now + min(self.max_hold_s, 2.0 ** (over - 1)) if over > 0 else 0.0
            self._failures[address] = (count, first, held)
