"""The demo's login link: an admin of the demo county for one run, never for real data."""

from __future__ import annotations

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient

from api.app import create_app
from layers.access import AccessError, close_demo_logins, open_demo_login
from layers.demo import LIANZHOU


def test_the_link_works_for_the_run_and_stops_when_it_ends(engine: sa.Engine, demo_world) -> None:
    name, token = open_demo_login(engine, LIANZHOU)
    headers = {"Authorization": f"Bearer {token}"}
    with TestClient(create_app(engine)) as client:
        me = client.get("/me", headers=headers).json()
        assert (me["role"], me["scope"]) == ("admin", LIANZHOU)
        assert close_demo_logins(engine) == 1
        assert client.get("/me", headers=headers).status_code == 401
    with engine.connect() as conn:
        expires = conn.execute(
            sa.text("SELECT expires_at - created_at FROM api_user WHERE name = :n"), {"n": name}
        ).scalar_one()
    assert expires.total_seconds() <= 12 * 3600 + 60  # a killed run's link dies by itself


def test_no_link_where_real_households_live(engine: sa.Engine, demo_world) -> None:
    with engine.begin() as conn:
        real = conn.execute(
            sa.text(
                "INSERT INTO household (household_no, village_code, geom, head_name, members, "
                "labour_members, category, main_cause, housing_status, status, scattered, "
                "synthetic) SELECT 'TREAL' || gen_random_uuid(), village_code, geom, '真实户主', "
                "3, 1, 'general', 'illness', 'safe', 'poor', true, false FROM household "
                "WHERE synthetic ORDER BY id LIMIT 1 RETURNING id"
            )
        ).scalar_one()
    try:
        with pytest.raises(AccessError, match="real households"):
            open_demo_login(engine, LIANZHOU)
    finally:
        with engine.begin() as conn:
            conn.execute(sa.text("DELETE FROM household WHERE id = :id"), {"id": real})
