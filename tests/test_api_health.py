"""``/health`` over real HTTP semantics (TestClient) against the real database."""

from __future__ import annotations

import sqlalchemy as sa
from fastapi.testclient import TestClient

from api.app import create_app


def test_health_reports_database_and_postgis_versions(engine: sa.Engine) -> None:
    with TestClient(create_app(engine)) as client:
        response = client.get("/health")
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "ok"
    assert body["database"]["postgresql"].startswith(("15", "16", "17", "18"))
    assert body["database"]["postgis"].startswith("3.")
    assert body["database"]["pgrouting"]
    assert body["schema_revision"]


def test_health_says_503_when_the_database_is_gone() -> None:
    dead = sa.create_engine("postgresql+psycopg://nobody:x@127.0.0.1:1/none")
    with TestClient(create_app(dead)) as client:
        response = client.get("/health")
    assert response.status_code == 503
    assert response.json()["code"] == "database_unavailable"
