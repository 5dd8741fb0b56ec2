"""``report monthly --county all|A,B``: one Dask task per county, one file per county.

On a real ``dask scheduler`` and two ``dask worker`` processes on loopback, against the
two-county world of :mod:`tests.dask_support` (the Lianzhou demo, whose archive goes back to
2016, and 连南, whose households were registered today). Checked as a user would: the files
in the directory hold what the single-county command writes (the workbook's cells, the
PDF's text; the time each was generated aside), carry the names it gives them, and an
index lists every county; a county without households in the month gets no file and is
listed with its reason while the other's file is written (exit 1); nothing half-written or
temporary is left in the directory.
"""

from __future__ import annotations

import csv
import datetime as dt
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from openpyxl import load_workbook

from geo.sensitivity import hidden_fields
from maps.reports.batch import INDEX, INDEX_COLUMNS, write_atomically
from tests.dask_support import (
    DEMO_COUNTY,
    OTHER_COUNTY,
    batch_world,
    cli,
    dask_cluster,
    worker_running,
)

SCHEDULER_PORT = 8790
ABSENT_PORT = 8799  # nothing listens here
GENERATED = re.compile(r"\d{4}-\d{2}-\d{2} \d{2}:\d{2}")  # 生成时间 / 生成于: differs per run


@pytest.fixture(scope="module")
def world(database_url: str, tmp_path_factory) -> Iterator[tuple[sa.Engine, str]]:
    with batch_world(database_url, tmp_path_factory) as made:
        yield made


@pytest.fixture(scope="module")
def scheduler() -> Iterator[dict]:
    with dask_cluster(SCHEDULER_PORT) as cluster:
        yield cluster


# --- helpers --------------------------------------------------------------------------------


def _single(url: str, county: str, month: str, folder: Path, fmt: str, monkeypatch) -> Path:
    """The single-county command's file, under the name it chooses (run in ``folder``)."""
    folder.mkdir()
    monkeypatch.chdir(folder)
    result = cli(url, "report", "monthly", "--county", county, "--month", month, "--format", fmt)
    monkeypatch.undo()
    assert result.exit_code == 0, result.output
    (written,) = folder.iterdir()
    return written


def _cells(path: Path) -> dict[str, list[tuple]]:
    """Every sheet's cell values, row by row, the generation time aside."""
    book = load_workbook(path)
    return {
        sheet.title: [
            row for row in sheet.iter_rows(values_only=True) if not (row and row[0] == "生成时间")
        ]
        for sheet in book.worksheets
    }


def _pdf_text(path: Path) -> str:
    text = subprocess.run(["pdftotext", "-layout", str(path), "-"], check=True,
                          capture_output=True, text=True).stdout  # fmt: skip
    return GENERATED.sub("<time>", text)


def _index(folder: Path) -> dict[str, dict]:
    with (folder / INDEX).open(encoding="utf-8-sig", newline="") as f:
        return {row["county_code"]: row for row in csv.DictReader(f)}


def _households(engine: sa.Engine, county: str) -> int:
    with engine.connect() as conn:
        return conn.execute(
            sa.text("SELECT count(*) FROM household WHERE starts_with(village_code, :c)"),
            {"c": county},
        ).scalar_one()


def _names(folder: Path) -> set[str]:
    """Every entry of the folder, hidden ones included."""
    return {p.name for p in folder.iterdir()}


# --- the tests ------------------------------------------------------------------------------


def test_each_countys_workbook_equals_the_single_county_command(
    world, scheduler, tmp_path, monkeypatch
):
    engine, url = world
    month = dt.date.today().strftime("%Y-%m")  # 连南's households were registered today
    singles = {
        county: _single(url, county, month, tmp_path / county, "xlsx", monkeypatch)
        for county in (DEMO_COUNTY, OTHER_COUNTY)
    }
    folder = tmp_path / "batch"

    result = cli(url, "report", "monthly", "--county", "all", "--month", month,
                 "--dask", scheduler["address"], "-o", str(folder))  # fmt: skip

    assert result.exit_code == 0, result.output
    assert "2 of 2 counties done" in result.output
    assert f"wrote 2 reports to {folder}" in result.output
    assert _names(folder) == {singles[DEMO_COUNTY].name, singles[OTHER_COUNTY].name, INDEX}
    for county, single in singles.items():
        assert _cells(folder / single.name) == _cells(single), county
    index = _index(folder)
    for county, single in singles.items():
        row = index[county]
        assert row["status"] == "done" and row["reason"] == ""
        assert row["path"] == single.name and row["name"] in single.name
        assert int(row["households"]) == _households(engine, county) > 0
    assert not hidden_fields("report_index", INDEX_COLUMNS)  # all public: codes, names, counts


def test_a_county_without_households_that_month_is_listed_and_the_other_written(
    world, scheduler, tmp_path, monkeypatch
):
    """In 2018-06 连南 had no registered households: no file, its reason in the output and
    the index; the demo county's PDF is written and reads as the single-county one; exit 1."""
    _, url = world
    single = _single(url, DEMO_COUNTY, "2018-06", tmp_path / "single", "pdf", monkeypatch)
    folder = tmp_path / "batch"
    folder.mkdir()
    (folder / f".{single.name}.x1.partial").write_bytes(b"%PDF half")  # a killed run's leftover

    result = cli(url, "report", "monthly", "--county", f"{DEMO_COUNTY},{OTHER_COUNTY}",
                 "--month", "2018-06", "--format", "pdf", "--dask", scheduler["address"],
                 "-o", str(folder))  # fmt: skip

    assert result.exit_code == 1, result.output
    assert "1 of 2 counties done" in result.output
    reason = next(x for x in result.output.splitlines() if x.startswith(f"county {OTHER_COUNTY}"))
    assert "no registered households on 2018-06-30" in reason, reason
    assert _names(folder) == {single.name, INDEX}  # no file for 连南, no partial file
    assert _pdf_text(folder / single.name) == _pdf_text(single)
    index = _index(folder)
    assert index[DEMO_COUNTY]["status"] == "done"
    failed = index[OTHER_COUNTY]
    assert failed["status"] == "failed" and failed["path"] == ""
    assert "连南" in failed["name"] and "no registered households" in failed["reason"]


def test_a_worker_killed_mid_report_leaves_a_whole_file(world, scheduler, tmp_path, monkeypatch):
    """Kill the worker rendering the demo county's report: the task is redone on the other
    worker, and the directory holds one whole report equal to the single-county one."""
    from distributed import Client

    _, url = world
    single = _single(url, DEMO_COUNTY, "2018-06", tmp_path / "single", "xlsx", monkeypatch)
    folder = tmp_path / "batch"
    address = scheduler["address"]
    env = {**os.environ, "DATABASE_URL": url, "CI": "1"}
    command = [str(Path(sys.executable).with_name("gongjian")), "report", "monthly",
               "--county", DEMO_COUNTY, "--month", "2018-06", "--dask", address,
               "-o", str(folder)]  # fmt: skip
    run = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                           text=True)  # fmt: skip
    with Client(address, timeout="10s", set_as_default=False) as client:
        busy = worker_running(client, "report-", seconds=60)
        time.sleep(1.5)  # inside the task: reading or rendering
        pid = client.run(os.getpid, workers=[busy])[busy]
        os.kill(pid, signal.SIGKILL)  # its nanny starts a fresh worker process
    output, _ = run.communicate(timeout=300)

    assert run.returncode == 0, output
    assert "1 of 1 counties done" in output
    assert busy not in output  # done by another worker process
    assert _names(folder) == {single.name, INDEX}
    assert _cells(folder / single.name) == _cells(single)
    assert _index(folder)[DEMO_COUNTY]["status"] == "done"


def test_one_county_to_a_file_stays_a_single_run_under_gongjian_dask(world, tmp_path):
    """-o FILE.pdf names one file: the scheduler (here absent) is not asked."""
    _, url = world
    target = tmp_path / "连州.pdf"
    result = cli(url, "report", "monthly", "--county", DEMO_COUNTY, "--month", "2018-06",
                 "-o", str(target), "--dask", f"tcp://127.0.0.1:{ABSENT_PORT}")  # fmt: skip
    assert result.exit_code == 0, result.output
    assert f"wrote {target}" in result.output
    assert "扶贫工作月报" in _pdf_text(target)


def test_an_unknown_county_is_named_before_any_task(world, tmp_path):
    _, url = world
    folder = tmp_path / "batch"
    result = cli(url, "report", "monthly", "--county", f"{DEMO_COUNTY},449999",
                 "--month", "2018-06", "-o", str(folder),
                 "--dask", f"tcp://127.0.0.1:{ABSENT_PORT}")  # fmt: skip
    assert result.exit_code == 1
    assert "no townships in county 449999" in result.output
    assert not folder.exists()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["-o", "reports.xlsx"], "give -o DIR"),
        (["--format", "docx"], "--format must be xlsx or pdf"),
        (["--as-of", "2018-07-01"], "not in the month"),
    ],
)
def test_bad_options_are_refused_before_any_task(world, tmp_path, args, message):
    _, url = world
    result = cli(url, "report", "monthly", "--county", "all", "--month", "2018-06",
                 "--dask", f"tcp://127.0.0.1:{ABSENT_PORT}", *args)  # fmt: skip
    assert result.exit_code == 2, result.output
    assert message in result.output


def test_a_scheduler_that_is_not_there_is_named(world, tmp_path):
    _, url = world
    address = f"tcp://127.0.0.1:{ABSENT_PORT}"
    result = cli(url, "report", "monthly", "--county", "all", "--month", "2018-06",
                 "-o", str(tmp_path / "batch"), "--dask", address)  # fmt: skip
    assert result.exit_code == 1
    assert f"no Dask scheduler at {address}" in result.output
    assert not (tmp_path / "batch").exists()


def test_an_atomic_write_that_fails_leaves_neither_file_nor_temporary(tmp_path):
    target = tmp_path / "report.xlsx"
    target.write_bytes(b"the old report")
    with pytest.raises(TypeError):
        write_atomically(target, object())  # type: ignore[arg-type]  # the write fails
    assert target.read_bytes() == b"the old report"
    assert _names(tmp_path) == {"report.xlsx"}
    write_atomically(target, b"the new report")
    assert target.read_bytes() == b"the new report" and _names(tmp_path) == {"report.xlsx"}
