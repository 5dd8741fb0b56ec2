"""The README's path for a real county runs as written: county init, a household list, the
wall map with derived boundaries, real polygons later (the CLI, against a database of its own)."""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

import geopandas as gpd
import sqlalchemy as sa

from tests.county_lists import chosen_villages, household_rows, scratch_engine, write_list

REPO = Path(__file__).resolve().parents[1]
HEADING = "### A real county from its official codes and a household list"


def readme_commands() -> list[str]:
    text = (REPO / "README.md").read_text(encoding="utf-8")
    block = re.search(re.escape(HEADING) + r".*?```bash\n(.*?)```", text, re.S).group(1)
    return [line for line in block.splitlines() if line.strip()]


def test_readme_county_path_runs_as_written(database_url: str, tmp_path: Path):
    lines = readme_commands()
    assert lines[0] == "gj=.venv/bin/gongjian"
    commands = lines[1:]
    assert [c.split()[1:3] for c in commands] == [
        ["county", "init"], ["import", "households"], ["map", "township"],
        ["county", "boundaries"], ["import", "villages"],
    ]  # fmt: skip
    rows = household_rows(chosen_villages())
    write_list(rows, tmp_path / "建档立卡.csv")
    with scratch_engine(database_url) as (engine, url):
        env = {**os.environ, "DATABASE_URL": url, "GONGJIAN_HOME": str(tmp_path / "home")}
        env.pop("CI", None)
        outputs = []
        for command in commands:
            if "村界.gpkg" in command:  # the surveyed polygons arrive: here, the derived ones
                with engine.connect() as conn:
                    polygons = gpd.read_postgis(
                        "SELECT code AS 村代码, name AS 村名, geom FROM village "
                        "WHERE geom IS NOT NULL",
                        conn,
                    )
                polygons.to_file(tmp_path / "村界.gpkg")
            script = f"gj={REPO}/.venv/bin/gongjian\n{command}"
            done = subprocess.run(
                ["bash", "-c", script], cwd=tmp_path, env=env, capture_output=True, text=True
            )
            assert done.returncode == 0, (command, done.stdout, done.stderr)
            outputs.append(done.stdout + done.stderr)

        township = re.search(r"map township (\d{9})", commands[2]).group(1)
        pdf = tmp_path / re.search(r"-o (\S+)", commands[2]).group(1)
        text = subprocess.run(
            ["pdftotext", "-enc", "UTF-8", str(pdf), "-"], capture_output=True, text=True
        ).stdout.replace(" ", "")
        listed = sum(r["户编号"].startswith(township) for r in rows)
        assert f"{listed}户" in text and "示意界线" in text
        assert "示意界线" in outputs[1] and "示意界线" in outputs[3]
        with engine.connect() as conn:
            derived = conn.execute(
                sa.text("SELECT count(*) FROM village WHERE boundary_derived")
            ).scalar()
            real = conn.execute(
                sa.text("SELECT count(*) FROM village WHERE geom IS NOT NULL")
            ).scalar()
        assert derived == 0 and real == len({r["所在村"] for r in rows})
