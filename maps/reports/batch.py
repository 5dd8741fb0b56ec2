"""``gongjian report monthly --county all|A,B``: one Dask task per county renders its report.

:func:`report_county` is the task (module-level, so any ``dask worker`` with gongjian
installed imports it). The worker may be another machine: it reads the county in one
REPEATABLE READ snapshot (``layers.batch.read_snapshot``, rolled back: a report writes
nothing), computes exactly what ``report monthly --county C`` computes, renders the XLSX or
PDF in a temporary folder of its own, and returns the bytes with the numbers the batch
table prints. It never writes into a path the client chose.

:class:`ReportFolder` is the client's side: it writes each returned file into the output
directory atomically (a hidden ``.*.partial`` file, flushed, then renamed), so a killed run
never leaves a half file under a report's name, and rewrites ``index.csv`` after every
county, so even an interrupted overnight run says what is done.
"""

from __future__ import annotations

import csv
import io
import os
import tempfile
import time
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.pool import NullPool

from layers import batch
from layers.batch import BatchOptions, CountyOutcome

FORMATS = ("xlsx", "pdf")
INDEX = "index.csv"
# the index's columns: names of the sensitivity register (all public: codes, names, counts)
INDEX_COLUMNS = ("county_code", "name", "households", "townships", "flags", "path", "status",
                 "reason")  # fmt: skip
PARTIAL = ".partial"  # suffix of a file being written (hidden, renamed when complete)


def report_options(
    month: str | None,
    as_of: str | None,
    fmt: str,
    *,
    profile_path: str | None = None,
    with_flags: bool = True,
) -> BatchOptions:
    """The options of a report batch as plain values a worker rebuilds the period from."""
    extra = {"month": month, "as_of": as_of, "format": fmt, "with_flags": with_flags}
    return BatchOptions(profile_path, extra=extra)


def report_period(month: str | None, as_of: str | None):
    """The report's period as the single-county command reads ``--month`` and ``--as-of``."""
    import datetime as dt

    from geo.flags import Period

    day = dt.date.fromisoformat(as_of) if as_of else None
    if month:
        return Period.of(month, day)
    if day is None:
        raise ValueError("give --month YYYY-MM (or --as-of YYYY-MM-DD)")
    return Period.containing(day)


def report_county(
    database_url: str, command: str, county: str, options: BatchOptions
) -> CountyOutcome:
    """The task: ``county``'s monthly report, rendered, as bytes in the outcome."""
    from geo.policy import load_profile
    from layers.reports import ReportError, monthly_report
    from maps.reports.tables import file_stem

    started = time.perf_counter()
    batch.reset_peak_memory()
    outcome = CountyOutcome(county, command, worker=batch.worker_name())
    extra = options.extra
    fmt = extra.get("format", "xlsx")
    engine = sa.create_engine(database_url, poolclass=NullPool)
    try:
        period = report_period(extra.get("month"), extra.get("as_of"))
        profile = load_profile(options.profile_path)
        with batch.read_snapshot(engine) as conn:
            report = monthly_report(
                conn, county, period, profile, with_flags=extra.get("with_flags", True)
            )
        outcome.name = report.area.title
        outcome.townships = len(report.status)
        outcome.households = int(report.summary["households"])
        outcome.flagged = int(report.summary["flags"])
        outcome.file_name = f"{file_stem(report)}.{fmt}"
        outcome.content = render(report, fmt)
    except (ReportError, ValueError) as exc:
        # no households that month, an unknown area, a bad profile: the same on any worker
        outcome.reason = str(exc) or type(exc).__name__
    finally:
        engine.dispose()
        outcome.seconds = time.perf_counter() - started
        outcome.peak_mb = batch.peak_memory_mb()
    return outcome


def render(report, fmt: str) -> bytes:
    """The report as the bytes of an XLSX or PDF file (rendered in a folder of the task's own,
    as the API renders a download)."""
    from maps.reports import write_report

    if fmt not in FORMATS:
        raise ValueError(f"write the report as {' or '.join(FORMATS)}, not {fmt!r}")
    with tempfile.TemporaryDirectory(prefix="gongjian-report-") as folder:
        return write_report(report, Path(folder) / f"report.{fmt}").read_bytes()


def write_atomically(path: Path, content: bytes) -> Path:
    """Write ``content`` to ``path`` all at once: a hidden temporary file in the same directory,
    flushed to disk, renamed over ``path``. A crash leaves the old file or none, never half."""
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=PARTIAL)
    try:
        with os.fdopen(handle, "wb") as f:
            f.write(content)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(temporary, 0o666 & ~_umask())  # mkstemp makes 0600; a report is for sharing
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    return path


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


class ReportFolder:
    """The output directory of a report batch: one file per county, and ``index.csv``."""

    def __init__(self, directory: Path, titles: dict[str, str] | None = None) -> None:
        self.directory = Path(directory)
        self.titles = titles or {}  # county names for the index of counties that failed
        self.rows: dict[str, dict] = {}
        self.written = 0

    def record(self, outcome: CountyOutcome) -> CountyOutcome:
        """Write a done county's file (then drop its bytes), and the index; a file that
        cannot be written turns the county into a failed one, with the reason."""
        if not self.rows:
            self._open()
        path = ""
        if outcome.done:
            name = Path(outcome.file_name).name  # a name, never a path from the worker
            try:
                write_atomically(self.directory / name, outcome.content)
                path, self.written = name, self.written + 1
            except OSError as exc:
                outcome.reason = f"could not write {self.directory / name}: {exc}"
        outcome.content = b""  # written: the client need not hold every county's file
        self.rows[outcome.county] = {
            "county_code": outcome.county,
            "name": outcome.name or self.titles.get(outcome.county, ""),
            "households": outcome.households if outcome.done else "",
            "townships": outcome.townships if outcome.done else "",
            "flags": outcome.flagged if outcome.done else "",
            "path": path,
            "status": "done" if outcome.done else "failed",
            "reason": outcome.reason or "",
        }
        self._write_index()
        return outcome

    def note(self, outcomes: list[CountyOutcome]) -> str:
        """The line after the batch table: where the files and the index are."""
        reports = "report" if self.written == 1 else "reports"
        return f"wrote {self.written} {reports} to {self.directory}/ (index: {self.index_path})"

    @property
    def index_path(self) -> Path:
        return self.directory / INDEX

    def _open(self) -> None:
        """Create the directory; remove hidden partial files a killed earlier run left."""
        self.directory.mkdir(parents=True, exist_ok=True)
        for stale in self.directory.glob(f".*{PARTIAL}"):
            stale.unlink(missing_ok=True)

    def _write_index(self) -> None:
        text = io.StringIO()
        writer = csv.DictWriter(text, fieldnames=INDEX_COLUMNS, lineterminator="\n")
        writer.writeheader()
        writer.writerows(self.rows[code] for code in sorted(self.rows))
        # utf-8 with a BOM: Excel, which the offices open it with, then reads the names right
        write_atomically(self.index_path, text.getvalue().encode("utf-8-sig"))
