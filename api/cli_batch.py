"""``--county all`` (or ``A,B,…``) for the analysis commands: one Dask task per county.

The options here are shared by ``gongjian coverage``, ``relocation``, ``flags`` and ``report
monthly``; the work is :mod:`layers.batch` (a report's task: :mod:`maps.reports.batch`).
Progress is one line per finished county (a rich bar on a terminal, quiet under CI), then a
table of every county with its households, seconds, peak memory and, for a county not done,
the reason.
"""

from __future__ import annotations

import time

import typer
from rich.table import Table

from api.cli_common import counting_progress, fail, out, ready_engine

DASK_OPTION = typer.Option(
    None,
    "--dask",
    envvar="GONGJIAN_DASK",
    help="Dask scheduler address (tcp://HOST:8786) for --county all/A,B; default: a local cluster.",
)
WORKERS_OPTION = typer.Option(2, "--workers", min=1, help="Workers of the local Dask cluster.")
FALLBACK_OPTION = typer.Option(
    False, "--local-fallback", help="If the --dask scheduler is not there, run on a local cluster."
)


def is_batch(county: str | None, dask: str | None) -> bool:
    """``--county all``, a comma list, or any county with ``--dask``: run as Dask tasks."""
    if not county:
        return False
    return county.strip().lower() == "all" or "," in county or bool(dask)


def run(
    command: str,
    county: str,
    *,
    dask: str | None,
    workers: int,
    local_fallback: bool,
    options,
    flagged_label: str,
    work=None,
    record=None,
    note=None,
) -> None:
    """Run ``command`` for the counties asked, print the table; exit 1 if any county failed.

    ``work``: the task a worker runs (default ``layers.batch.run_county``); ``record``:
    called in the client with each outcome as it arrives (a report batch writes the file);
    ``note``: a line printed after the table, from all outcomes.
    """
    from layers import batch

    engine = ready_engine()
    try:
        counties = batch.counties_asked(engine, county)
        client = batch.connect(dask, workers, local_fallback=local_fallback)
    except batch.BatchError as exc:
        fail(str(exc))
    url = engine.url.render_as_string(hide_password=False)  # workers get the URL, not the engine
    started = time.perf_counter()
    outcomes = []
    try:
        with _progress(command, len(counties)) as (progress, task):
            for outcome in batch.run_batch(
                client, url, command, counties, options, work or batch.run_county
            ):
                outcomes.append(record(outcome) if record else outcome)
                progress.update(task, advance=1, description=f"{command}: {outcome.county}")
    finally:
        batch.close(client)
    _print_outcomes(command, outcomes, time.perf_counter() - started, flagged_label)
    if note is not None:
        out.print(note(outcomes), highlight=False, soft_wrap=True)
    if any(not o.done for o in outcomes):
        raise typer.Exit(1)


class _progress:
    """A rich bar advancing per finished county on a terminal; nothing under CI."""

    def __init__(self, command: str, total: int) -> None:
        self.progress = counting_progress()
        self.task = self.progress.add_task(f"{command}: {total} counties", total=total)

    def __enter__(self):
        self.progress.__enter__()
        return self.progress, self.task

    def __exit__(self, *exc) -> None:
        self.progress.__exit__(*exc)


def _print_outcomes(command: str, outcomes, seconds: float, flagged_label: str) -> None:
    table = Table(title=f"{command} — one Dask task per county", padding=(0, 1))
    for column in ("县", "乡镇", "户", flagged_label, "秒", "峰值MB", "worker", "结果"):
        table.add_column(column, justify="left" if column in ("县", "worker", "结果") else "right")
    for o in sorted(outcomes, key=lambda o: o.county):
        table.add_row(
            o.county,
            f"{o.townships}",
            f"{o.households:,}",
            f"{o.flagged:,}",
            f"{o.seconds:.1f}",
            f"{o.peak_mb:.0f}",
            o.worker,
            "done" if o.done else "not done (below)",
        )
    out.print(table)
    for o in sorted(outcomes, key=lambda o: o.county):
        if not o.done:  # the whole reason, unwrapped: it says what to fix
            out.print(f"county {o.county} not done: {o.reason}", highlight=False, soft_wrap=True)
    done = [o for o in outcomes if o.done]
    households = sum(o.households for o in done)
    out.print(
        f"{len(done)} of {len(outcomes)} counties done, {households:,} households, "
        f"{seconds:.1f} s wall",
        highlight=False,
    )
