"""Helpers of the API tests: users with tokens, the demo's townships, tile coordinates.

Users are created through ``layers.access.add_user`` (as ``gongjian user add`` does) with a
unique name per test module and removed again by :func:`drop_users`.
"""

from __future__ import annotations

import contextlib
import math
import uuid
from collections.abc import Iterator
from dataclasses import dataclass

import sqlalchemy as sa

from layers.access import add_user


@dataclass
class Users:
    """Tokens by label, created for one test module."""

    engine: sa.Engine
    prefix: str
    tokens: dict[str, str]

    def add(self, label: str, role: str, scope: str) -> str:
        token = add_user(self.engine, f"{self.prefix}-{label}", role, scope, actor="test")
        self.tokens[label] = token
        return token

    def headers(self, label: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tokens[label]}"}

    def drop(self) -> None:
        with self.engine.begin() as conn:
            conn.execute(
                sa.text("DELETE FROM api_user WHERE name LIKE :p"), {"p": f"{self.prefix}-%"}
            )


def new_users(engine: sa.Engine) -> Users:
    return Users(engine, f"t{uuid.uuid4().hex[:8]}", {})


def demo_townships(engine: sa.Engine) -> list[str]:
    """Codes of the demo's townships that have households, in code order."""
    with engine.connect() as conn:
        return list(
            conn.execute(
                sa.text(
                    "SELECT DISTINCT left(village_code, 9) AS t FROM household "
                    "WHERE synthetic ORDER BY t"
                )
            ).scalars()
        )


def tile_of(lon: float, lat: float, z: int) -> tuple[int, int, int]:
    """The WebMercatorQuad tile holding a point (z, x, y)."""
    n = 2**z
    x = int((lon + 180) / 360 * n)
    rad = math.radians(lat)
    y = int((1 - math.log(math.tan(rad) + 1 / math.cos(rad)) / math.pi) / 2 * n)
    return z, x, y


def household_in(
    engine: sa.Engine, township: str, offset: int = 0, status: str | None = None
) -> sa.Row:
    """A demo household of ``township`` (id, village_code, lon, lat), of ``status`` if given."""
    with engine.connect() as conn:
        return conn.execute(
            sa.text(
                "SELECT id, village_code, household_no, ST_X(geom) AS lon, ST_Y(geom) AS lat "
                "FROM household WHERE starts_with(village_code, :t) AND synthetic "
                "AND (CAST(:s AS text) IS NULL OR status = :s) ORDER BY id OFFSET :o LIMIT 1"
            ),
            {"t": township, "o": offset, "s": status},
        ).one()


@contextlib.contextmanager
def household_changed(engine: sa.Engine, household_id: int) -> Iterator[None]:
    """One more member on the household (a new version), as if edited on the server; the
    household, its version and its archive are put back afterwards."""
    with engine.begin() as conn:
        started = conn.execute(sa.text("SELECT now()")).scalar_one()
        version = conn.execute(
            sa.text("SELECT version FROM household WHERE id = :id"), {"id": household_id}
        ).scalar_one()
        conn.execute(
            sa.text("UPDATE household SET members = members + 1, version = version + 1 "
                    "WHERE id = :id"), {"id": household_id},
        )  # fmt: skip
    try:
        yield
    finally:
        with engine.begin() as conn:
            conn.execute(
                sa.text("UPDATE household SET members = members - 1, version = :v "
                        "WHERE id = :id"), {"id": household_id, "v": version},
            )  # fmt: skip
            conn.execute(
                sa.text("DELETE FROM household_history WHERE household_id = :id "
                        "AND recorded_at >= :t"), {"id": household_id, "t": started},
            )  # fmt: skip
