"""Configuration from the environment: the names a user sets, and nothing else."""

from __future__ import annotations

from pathlib import Path

import pytest

from layers.settings import DatabaseSettings, default_home


def test_home_comes_from_gongjian_home_not_from_home(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("GONGJIAN_HOME", raising=False)
    monkeypatch.setenv("HOME", "/somewhere/else")
    assert DatabaseSettings().home == default_home()
    monkeypatch.setenv("GONGJIAN_HOME", "/data/gj")
    assert DatabaseSettings().home == Path("/data/gj")


def test_database_url_switches_off_the_embedded_cluster(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("DATABASE_URL", raising=False)
    assert DatabaseSettings().uses_embedded_cluster
    monkeypatch.setenv("DATABASE_URL", "postgresql://u:p@db.example/gj")
    settings = DatabaseSettings()
    assert settings.database_url == "postgresql://u:p@db.example/gj"
    assert not settings.uses_embedded_cluster
