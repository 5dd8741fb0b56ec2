"""The thin CLI: ``gongjian import`` prints a summary table and fails with the file's errors;
``gongjian export`` writes the file; mapping files override headers."""

from __future__ import annotations

import json

import pytest
import sqlalchemy as sa
from typer.testing import CliRunner

from api.cli import app
from tests.importing import build_world, household_rows, remove_world, write_rows

COUNTY = "449816"


@pytest.fixture(scope="module")
def world(engine: sa.Engine):
    world = build_world(engine, COUNTY)
    yield world
    remove_world(engine, world)


@pytest.fixture
def cli(database_url: str, monkeypatch):
    monkeypatch.setenv("DATABASE_URL", database_url)
    monkeypatch.setenv("CI", "1")
    return CliRunner()


def test_import_prints_summary_and_export_writes(cli, world, tmp_path) -> None:
    rows = [
        {("HH编号" if k == "户编号" else k): v for k, v in r.items()}
        for r in household_rows(world, 2)
    ]
    path = write_rows(rows, tmp_path / "hh.csv")
    mapping = tmp_path / "mapping.json"
    mapping.write_text(json.dumps({"HH编号": "household_no"}, ensure_ascii=False), encoding="utf-8")
    result = cli.invoke(app, ["import", "households", str(path), "--mapping", str(mapping)])
    assert result.exit_code == 0, result.output
    assert "household" in result.output and "inserted" in result.output
    assert "household_income" in result.output
    out = tmp_path / "public.xlsx"
    args = ["export", "households", "--format", "xlsx", "--public", "--township", world.township]
    result = cli.invoke(app, [*args, "-o", str(out)])
    assert result.exit_code == 0, result.output
    assert "wrote 2 households" in result.output and out.exists()


def test_import_failure_names_row_and_field(cli, world, tmp_path) -> None:
    rows = household_rows(world, 2)
    rows[1]["劳动力人数"] = 9
    result = cli.invoke(app, ["import", "households", str(write_rows(rows, tmp_path / "bad.csv"))])
    assert result.exit_code == 1
    assert "bad.csv: row 3, field '劳动力人数'" in " ".join(result.output.split())


def test_unknown_kind_and_format(cli, tmp_path) -> None:
    path = tmp_path / "x.csv"
    path.write_text("a\n1\n")
    assert cli.invoke(app, ["import", "nonsense", str(path)]).exit_code == 2
    assert cli.invoke(app, ["export", "households", "--format", "doc"]).exit_code == 2
