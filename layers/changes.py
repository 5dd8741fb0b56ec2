"""The change counters of migration 0003, kept current in memory by LISTEN/NOTIFY.

Every write to a counted table bumps ``gongjian_meta.layer_change`` and sends
``NOTIFY gongjian_change, '<table> <version>'`` at commit. A :class:`ChangeWatcher` holds one
connection that LISTENs, so the API's hot path (a tile from the cache, a known token) needs
no query at all: the counters it keys its caches on arrive by themselves, milliseconds after
a commit. Until the watcher is connected — or after it lost its connection — :meth:`versions`
answers None and callers ask the database instead, so a broken watcher costs speed, never
correctness.

>>> watcher = ChangeWatcher("postgresql://…")  # doctest: +SKIP
>>> watcher.start(); watcher.versions(("household",))  # doctest: +SKIP
(42,)
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Sequence

import psycopg

CHANNEL = "gongjian_change"
log = logging.getLogger(__name__)


class ChangeWatcher:
    """A background thread mirroring ``gongjian_meta.layer_change`` into a dict."""

    def __init__(self, conninfo: str, retry_seconds: float = 2.0) -> None:
        self._conninfo = conninfo
        self._retry = retry_seconds
        self._versions: dict[str, int] = {}
        self._ready = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="gongjian-changes", daemon=True)
            self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._ready.clear()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def wait_ready(self, timeout: float) -> bool:
        return self._ready.wait(timeout)

    def versions(self, tables: Sequence[str]) -> tuple[int, ...] | None:
        """The counters of ``tables``, or None when not known here (then ask the database)."""
        if not self._ready.is_set():
            return None
        try:
            return tuple(self._versions[t] for t in tables)
        except KeyError:
            return None

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self._listen()
            except psycopg.Error as exc:
                log.warning("change watcher lost its connection (%s); retrying", exc)
            self._ready.clear()
            self._stop.wait(self._retry)

    def _listen(self) -> None:
        with psycopg.connect(self._conninfo, autocommit=True, connect_timeout=5) as conn:
            conn.execute(f"LISTEN {CHANNEL}")
            # read the counters after LISTEN: a change between the two is not missed
            rows = conn.execute("SELECT table_name, version FROM gongjian_meta.layer_change")
            self._versions = dict(rows.fetchall())
            self._ready.set()
            while not self._stop.is_set():
                for note in conn.notifies(timeout=1.0):
                    table, _, version = note.payload.partition(" ")
                    if version.isdigit():
                        current = self._versions.get(table, 0)
                        self._versions[table] = max(current, int(version))
