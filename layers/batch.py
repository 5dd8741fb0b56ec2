"""County-by-county batch runs on Dask distributed: one task per county.

:func:`run_county` is the task. It is module-level so that any ``dask worker`` with gongjian
installed can import it; it gets the database URL (never an engine: engines do not travel
between processes), the command, the county code and the command's options, reads that
county from PostGIS, computes, and replaces the county's result rows in ONE transaction (the
layers' ``refresh_townships`` writes with COPY inside it). A worker that dies mid-task drops
its connection, PostgreSQL rolls the transaction back, and the scheduler runs the task again
elsewhere: the county is redone, never half-written. Errors that another try cannot fix (a
county without roads, a bad terrain) come back as the county's ``reason`` instead of failing
the batch.

:func:`run_batch` submits the tasks to a running scheduler (``tcp://host:8786``) or to a
``distributed.LocalCluster`` of ``workers`` single-threaded processes, and yields each
county's summary as it finishes. Another task can be given: ``report monthly --county all``
submits :func:`maps.reports.batch.report_county`, which only reads (in one
:func:`read_snapshot`) and returns the rendered file for the client to write.
"""

from __future__ import annotations

import logging
import resource
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field

import sqlalchemy as sa
from sqlalchemy.pool import NullPool

log = logging.getLogger(__name__)
COMMANDS = ("coverage", "relocation", "flags")  # run_county: replace a county's result rows
REPORT = "report"  # maps.reports.batch.report_county: reads a county, returns its report file
RETRIES = 2  # a task that raised (lost connection, killed worker…) is run up to twice more
CONNECT_SECONDS = 5  # how long to wait for a scheduler before saying it is not there


class BatchError(RuntimeError):
    """The batch cannot start: no scheduler at the address, an unknown county or command."""


@dataclass
class CountyOutcome:
    """What one county's task did (small: it travels back from the worker)."""

    county: str
    command: str
    townships: int = 0
    households: int = 0
    flagged: int = 0  # uncovered (coverage) or candidates (relocation)
    seconds: float = 0.0
    peak_mb: float = 0.0
    worker: str = ""
    reason: str | None = None  # why the county was not done (None: done)
    name: str = ""  # the county's title (a report's area), for the report index
    file_name: str = ""  # a report task's file name, as the single-county command names it
    content: bytes = b""  # a report task's rendered file; the client writes it, then drops it

    @property
    def done(self) -> bool:
        return self.reason is None


@dataclass
class BatchOptions:
    """The command's options, as plain values a worker can rebuild a profile from."""

    profile_path: str | None = None
    isochrones: bool = True
    extra: dict = field(default_factory=dict)


def counties_asked(engine: sa.Engine, county: str) -> list[str]:
    """``all`` → every county with households, largest first; ``A,B`` → those (each must
    have townships)."""
    with engine.connect() as conn:
        if county.strip().lower() == "all":
            # largest first: the long tasks start early, the small ones fill the gaps
            codes = conn.execute(
                sa.text(
                    "SELECT t.county_code FROM household h "
                    "JOIN township t ON t.code = left(h.village_code, 9) "
                    "GROUP BY 1 ORDER BY count(*) DESC, 1"
                )
            ).scalars()
            found = list(codes)
            if not found:
                raise BatchError("no households in the database (load some, or the demo)")
            return found
        asked = [c.strip() for c in county.split(",") if c.strip()]
        known = set(
            conn.execute(
                sa.text("SELECT DISTINCT county_code FROM township WHERE county_code = ANY(:c)"),
                {"c": asked},
            ).scalars()
        )
    missing = [c for c in asked if c not in known]
    if missing:
        raise BatchError(f"no townships in county {', '.join(missing)}")
    return asked


def county_titles(engine: sa.Engine) -> dict[str, str]:
    """Every county's title as its report carries it (``清远市连州市``, as
    ``layers.reports.Area.title``), by code: the index of a report batch names the counties
    whose task failed too."""
    with engine.connect() as conn:
        rows = conn.execute(sa.text("SELECT code, coalesce(city, '') || name FROM county"))
        return {code: title for code, title in rows}


def run_county(
    database_url: str, command: str, county: str, options: BatchOptions
) -> CountyOutcome:
    """The task: assess ``county`` with ``command`` and replace its rows in one transaction."""
    from geo.network import NetworkError
    from geo.policy import load_profile
    from geo.terrain import TerrainError
    from layers import coverage, relocation
    from layers.analysis_store import township_groups

    if command not in COMMANDS:
        raise BatchError(f"unknown batch command {command!r}; one of {', '.join(COMMANDS)}")
    started = time.perf_counter()
    reset_peak_memory()
    outcome = CountyOutcome(county, command, worker=worker_name())
    engine = sa.create_engine(database_url, poolclass=NullPool)
    try:
        profile = load_profile(options.profile_path)
        codes = township_groups(engine, None, county, LookupError)[county]
        outcome.townships = len(codes)
        with engine.begin() as conn:
            if command == "flags":
                outcome.flagged, outcome.households = _flags(conn, county, options, profile)
                return outcome
            _require_roads(conn, county, codes)
            if command == "coverage":
                result, _ = coverage.refresh_townships(conn, codes, profile, options.isochrones)
                outcome.flagged = int(result.households.uncovered.sum())
            else:
                result, _ = relocation.refresh_townships(conn, codes, profile)
                outcome.flagged = int(result.households.candidate.sum())
            outcome.households = len(result.households)
    except (LookupError, NetworkError, TerrainError, ValueError) as exc:
        log.warning("county %s not done: %s", county, exc, exc_info=True)
        # the same input fails the same way on any worker: report it, do not retry
        outcome.reason = str(exc) or type(exc).__name__
    finally:
        engine.dispose()
        outcome.seconds = time.perf_counter() - started
        outcome.peak_mb = peak_memory_mb()
    return outcome


@contextmanager
def read_snapshot(engine: sa.Engine) -> Iterator[sa.Connection]:
    """One REPEATABLE READ transaction, always rolled back: every query of a task that only
    reads sees the same snapshot (a county's report stays consistent while imports and edits
    go on), and nothing it does is kept. Not READ ONLY: PostgreSQL refuses the temporary
    tables a report builds in a read-only transaction; the rollback drops them."""
    with engine.connect().execution_options(isolation_level="REPEATABLE READ") as conn:
        transaction = conn.begin()
        try:
            yield conn
        finally:
            transaction.rollback()


def reset_peak_memory() -> None:
    """Start this task's peak-memory count afresh (Linux: clear_refs 5 resets VmHWM); else
    the peak is the process's, which on Linux even survives exec from the parent."""
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
    except OSError:
        pass


def peak_memory_mb() -> float:
    """Peak resident memory since :func:`reset_peak_memory` (else since the start), MB."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _flags(conn: sa.Connection, county: str, options: BatchOptions, profile) -> tuple[int, int]:
    """Refresh the county's rows of the ``flag`` table; (flags written, households)."""
    import datetime as dt

    from geo.flags import FLAG_KINDS, monitoring_policy
    from layers.flags import FlagQuery, refresh_flags
    from layers.history import data_date

    as_of = options.extra.get("as_of")
    day = dt.date.fromisoformat(as_of) if as_of else data_date(conn, county)
    query = FlagQuery(county, day, tuple(options.extra.get("kinds") or FLAG_KINDS))
    written = refresh_flags(conn, query, monitoring_policy(profile), profile.fingerprint)
    households = conn.execute(
        sa.text("SELECT count(*) FROM household WHERE starts_with(village_code, :c)"),
        {"c": county},
    ).scalar_one()
    return written, households


def _require_roads(conn: sa.Connection, county: str, codes: Sequence[str]) -> None:
    """Both analyses measure access along roads to clinics: a county without either is
    reported, not run (the computation would fail later with a message naming no county)."""
    missing = [
        layer
        for layer in ("roads", "clinics")
        if not conn.execute(
            sa.text(
                f"SELECT EXISTS (SELECT 1 FROM {layer[:-1]} x JOIN township t "
                "ON ST_Intersects(x.geom, t.geom) WHERE t.code = ANY(:codes))"
            ),
            {"codes": list(codes)},
        ).scalar()
    ]
    if missing:
        raise LookupError(
            f"no {' and no '.join(missing)} in county {county}: load them first "
            f"(gongjian import {'|'.join(missing)} FILE), then run it again"
        )


def worker_name() -> str:
    """The address of the Dask worker running this task (``local`` outside one)."""
    try:
        from distributed import get_worker

        return get_worker().address
    except (ImportError, ValueError):
        return "local"


def connect(address: str | None, workers: int = 2, *, local_fallback: bool = False):
    """A ``distributed.Client``: to the scheduler at ``address``, else a LocalCluster.

    A scheduler that is not there fails within :data:`CONNECT_SECONDS` with a message naming
    the address, or (``local_fallback``) falls back to a local cluster.
    """
    from distributed import Client, LocalCluster

    if address:
        try:
            return Client(address, timeout=f"{CONNECT_SECONDS}s", set_as_default=False)
        except (OSError, TimeoutError) as exc:
            if not local_fallback:
                raise BatchError(
                    f"no Dask scheduler at {address} (waited {CONNECT_SECONDS} s: {exc}); "
                    "start one with `dask scheduler`, or add --local-fallback to run here"
                ) from exc
    cluster = LocalCluster(
        n_workers=workers,
        threads_per_worker=1,
        processes=True,
        dashboard_address=":0",
        silence_logs=40,
    )
    return Client(cluster, set_as_default=False)


def run_batch(
    client,
    database_url: str,
    command: str,
    counties: Sequence[str],
    options: BatchOptions,
    task: Callable[..., CountyOutcome] = run_county,
) -> Iterator[CountyOutcome]:
    """Submit one ``task`` per county (largest first is the caller's choice of order) and
    yield each county's outcome as it finishes; a task that raises is retried
    :data:`RETRIES` times, then reported with its error."""
    from distributed import as_completed

    futures = {
        client.submit(
            task,
            database_url,
            command,
            county,
            options,
            key=f"{command}-{county}-{time.time_ns()}",
            retries=RETRIES,
            pure=False,
        ): county
        for county in counties
    }
    for future in as_completed(futures, loop=client.loop):
        county = futures.pop(future)  # dropped: the scheduler frees the result (a report's file)
        try:
            outcome = future.result()
        except Exception as exc:  # reported per county, the batch goes on
            outcome = CountyOutcome(county, command, reason=f"failed after retries: {exc}")
        del future
        yield outcome


def close(client) -> None:
    """Close the client and, if it made one, its local cluster."""
    cluster = getattr(client, "cluster", None)
    client.close()
    if cluster is not None:
        cluster.close()
