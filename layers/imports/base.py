"""What every import shares: options, the summary, and errors that name file, row and field."""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from geo.validate import Problem

DEFAULT_MAX_BYTES = 2 * 1024**3  # the CLI's limit; POST /imports passes a smaller one
MESSAGE_LIMIT = 50  # problems listed in an error before "... and N more"


class ImportError_(ValueError):
    """A file that cannot be loaded; the message names file, row and field.

    ``problems`` lists them one by one ({file, row, field, message}) when the file's rows
    were at fault (empty for a file that could not be read at all).
    """

    def __init__(self, message: str, problems: list[dict] | None = None) -> None:
        super().__init__(message)
        self.problems = problems or []


class UploadTooLarge(ImportError_):
    """A file (or what a zip archive unpacks to) larger than the import limit."""


class OutOfScope(ImportError_):
    """Rows outside the area the importing user may change (POST /imports): nothing loaded."""


class Progress(Protocol):
    """Where an import reports its stages (the CLI draws a rich progress bar)."""

    def stage(self, name: str, total: int | None = None) -> None: ...

    def advance(self, amount: int) -> None: ...


class NoProgress:
    def stage(self, name: str, total: int | None = None) -> None:
        pass

    def advance(self, amount: int) -> None:
        pass


class StageTimes:
    """A Progress that times each stage and passes everything on to ``inner``.

    >>> times = StageTimes(NoProgress())
    >>> times.stage("reading"); times.stage("checking"); [n for n, _ in times.finish()]
    ['reading', 'checking']
    """

    def __init__(self, inner: Progress) -> None:
        self.inner = inner
        self.times: list[tuple[str, float]] = []
        self._name: str | None = None
        self._started = 0.0

    def stage(self, name: str, total: int | None = None) -> None:
        self._close()
        self._name, self._started = name, time.perf_counter()
        self.inner.stage(name, total)

    def advance(self, amount: int) -> None:
        self.inner.advance(amount)

    def stop(self) -> None:
        getattr(self.inner, "stop", lambda: None)()

    def _close(self) -> None:
        if self._name is not None:
            self.times.append((self._name, time.perf_counter() - self._started))
            self._name = None

    def finish(self) -> list[tuple[str, float]]:
        self._close()
        return self.times

    def describe(self) -> str:
        return ", ".join(f"{name} {seconds:.2f} s" for name, seconds in self.finish())


@dataclass
class ImportOptions:
    """How to import: ``gongjian import`` flags, shared with ``POST /imports``.

    >>> ImportOptions(crs="gcj02", dry_run=True).existing
    'update'
    """

    actor: str = "unknown"
    crs: str | None = None
    dry_run: bool = False
    skip_invalid: bool = False
    existing: str = "update"  # update: rows already in the database are updated; error: refused
    mapping: dict[str, str] | None = None  # file header -> field, overrides the built-in names
    layer: str | None = None  # layer of a GeoPackage or sheet of a workbook
    max_bytes: int = DEFAULT_MAX_BYTES
    scope: str | None = None  # an administrative code: every row must lie within it (API)
    income_year: int | None = None  # the year of an undated income column (--income-year)
    effective_date: dt.date | None = None  # the day the file's changes took effect
    progress: Progress = field(default_factory=NoProgress)


@dataclass
class ImportSummary:
    """What an import did (or, with dry_run, would do)."""

    layer: str
    path: Path
    read: int = 0
    inserted: int = 0
    updated: int = 0
    unchanged: int = 0
    rejected: int = 0
    dry_run: bool = False
    rejects_path: Path | None = None
    notes: list[str] = field(default_factory=list)
    extra: dict[str, tuple[int, int, int]] = field(default_factory=dict)  # table -> i/u/unch
    errors: list[dict] = field(default_factory=list)  # the rejected rows' problems
    # households left outside their village by newly imported village polygons
    misplaced: list[dict] = field(default_factory=list)

    def describe(self) -> str:
        verb = "would load" if self.dry_run else "loaded"
        text = (
            f"{verb} {self.path.name} into {self.layer}: read {self.read}, "
            f"inserted {self.inserted}, updated {self.updated}, unchanged {self.unchanged}"
        )
        if self.rejected:
            text += f", rejected {self.rejected} (see {self.rejects_path})"
        return text

    def count(self, inserted: int, updated: int, total: int) -> None:
        self.inserted, self.updated = inserted, updated
        self.unchanged = total - inserted - updated


@dataclass
class RowErrors:
    """Collects every problem of a file before refusing it, so a clerk fixes all at once.

    ``rows`` turns a data position into the row number the user sees (header = row 1).
    """

    path: Path
    rows: Callable[[int], int] = lambda i: i + 2
    problems: list[tuple[int, str, str]] = field(default_factory=list)  # (position, field, msg)
    hints: list[str] = field(default_factory=list)

    def add(self, position: int, column: str, message: str) -> None:
        self.problems.append((position, column, message))

    def extend(self, problems: list[Problem], names: dict[str, str] | None = None) -> None:
        """Add problems; ``names`` shows fields by the header the file used."""
        for p in problems:
            self.add(p.index, (names or {}).get(p.field, p.field), p.message)

    def file_error(self, column: str, message: str) -> None:
        """A problem of the whole file (a missing column): reported on the header row."""
        self.problems.append((-1, column, message))

    def messages(self) -> list[str]:
        ordered = sorted(self.problems, key=lambda p: p[0])
        return [self._line(*p) for p in ordered]

    def as_dicts(self, limit: int = 1000) -> list[dict]:
        """The problems as {file, row, field, message}, in row order (at most ``limit``)."""
        ordered = sorted(self.problems, key=lambda p: p[0])[:limit]
        return [
            {
                "file": self.path.name,
                "row": 1 if position < 0 else self.rows(position),
                "field": column,
                "message": message,
            }
            for position, column, message in ordered
        ]

    def _line(self, position: int, column: str, message: str) -> str:
        row = 1 if position < 0 else self.rows(position)
        return f"{self.path.name}: row {row}, field '{column}': {message}"

    @property
    def bad_positions(self) -> set[int]:
        return {p for p, _, _ in self.problems if p >= 0}

    def by_position(self) -> dict[int, str]:
        """Position → all its messages joined, for the rejects file's error column."""
        joined: dict[int, list[str]] = {}
        for position, column, message in self.problems:
            joined.setdefault(position, []).append(f"{column}: {message}")
        return {p: "; ".join(m) for p, m in joined.items()}

    def has_file_errors(self) -> bool:
        return any(p < 0 for p, _, _ in self.problems)

    def raise_if_any(self, limit: int = MESSAGE_LIMIT, error: type = ImportError_) -> None:
        if not self.problems:
            return
        lines = self.messages()
        shown = lines[:limit]
        more = len(lines) - len(shown)
        tail = f"\n... and {more} more" if more else ""
        hints = "".join(f"\nhint: {h}" for h in self.hints)
        raise error(
            f"{len(lines)} problem(s), nothing was loaded:\n" + "\n".join(shown) + tail + hints,
            self.as_dicts(),
        )
