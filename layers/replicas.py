"""Reads to replicas, writes to the primary: the API's router of engines.

With ``GONGJIAN_READ_URLS`` the API hands read-only requests an engine of a healthy replica
and everything else the primary's. A background thread checks every replica each
``check_s`` (connect timeout 1 s): a replica that does not answer, is not in recovery, or
whose replay is more than ``max_lag_s`` behind the primary is skipped until a later check
finds it well again. Lag is measured against the primary's own WAL position history — lag
= now − the moment the primary was first seen past the replica's replay position (0 when
caught up) — so an idle primary never makes a replica look late (the replay timestamp would).

Read your own writes: after a caller's write the API remembers the primary's WAL position
(:meth:`ReadRouter.note_write`); that caller's next reads go to a replica only when it has
replayed that position (waiting up to ``wait_s``), else to the primary.

>>> LagClock().lag_s(replay_lsn=5, now=10.0) is None   # nothing known of the primary yet
True
>>> clock = LagClock(); clock.sample(100, at=1.0); clock.sample(200, at=2.0)
>>> clock.lag_s(replay_lsn=200, now=2.5), clock.lag_s(replay_lsn=150, now=2.5)
(0.0, 0.5)
"""

from __future__ import annotations

import bisect
import contextlib
import itertools
import logging
import threading
import time
from collections import deque
from dataclasses import dataclass, field

import psycopg
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from layers.standby import parse_lsn

log = logging.getLogger(__name__)
CONNECT_TIMEOUT_S = 1


class LagClock:
    """The primary's WAL position over time, to turn a replica's replay position into seconds."""

    def __init__(self, keep_s: float = 600) -> None:
        self._samples: deque[tuple[float, int]] = deque()
        self._keep_s = keep_s

    def sample(self, lsn: int, at: float) -> None:
        if self._samples and self._samples[-1][1] == lsn:
            return  # no new WAL: the older sample says since when this position is current
        self._samples.append((at, lsn))
        while self._samples and at - self._samples[0][0] > self._keep_s:
            self._samples.popleft()

    def lag_s(self, replay_lsn: int, now: float) -> float | None:
        """Seconds since the primary first wrote past ``replay_lsn``; 0 when caught up."""
        if not self._samples:
            return None
        lsns = [lsn for _, lsn in self._samples]
        first_past = bisect.bisect_right(lsns, replay_lsn)
        if first_past == len(lsns):
            return 0.0
        if first_past == 0:
            return now - self._samples[0][0] + 1e-3  # behind everything we remember
        return now - self._samples[first_past][0]


@dataclass
class Replica:
    """One read URL: its engine and what the last check found."""

    name: str
    url: str
    engine: Engine
    healthy: bool = False
    replay_lsn: int = 0
    lag_s: float | None = None
    checked_at: float = 0.0
    problem: str = "not checked yet"
    _conn: psycopg.Connection | None = field(default=None, repr=False)


class ReadRouter:
    """Chooses the engine of each read; keeps replica health and callers' last writes."""

    def __init__(
        self,
        primary: Engine,
        replica_engines: dict[str, Engine],
        *,
        max_lag_s: float = 5.0,
        check_s: float = 0.5,
        wait_s: float = 0.2,
    ) -> None:
        self.primary = primary  # the login engine: WAL positions are asked there
        self.replicas = [
            Replica(name, e.url.render_as_string(hide_password=False), e)
            for name, e in replica_engines.items()
        ]
        self.max_lag_s = max_lag_s
        self.check_s = check_s
        self.wait_s = wait_s
        self._clock = LagClock(keep_s=max(600.0, 4 * max_lag_s))
        self._round_robin = itertools.count()
        self._last_write: dict[str, int] = {}  # caller key -> primary LSN after its write
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    # -- the request path -------------------------------------------------------------
    def replica_for_read(
        self, caller_key: str | None, min_lsn: int | None = None
    ) -> Replica | None:
        """A healthy replica that has replayed the caller's last write, or None (primary)."""
        needed = max(self._last_write.get(caller_key, 0) if caller_key else 0, min_lsn or 0)
        candidates = [r for r in self.replicas if self._usable(r)]
        if not candidates:
            return None
        start = next(self._round_robin)
        for i in range(len(candidates)):
            replica = candidates[(start + i) % len(candidates)]
            if needed and not self._wait_replayed(replica, needed):
                continue
            if self._reachable(replica):
                return replica
        return None

    def note_write(self, caller_key: str) -> int | None:
        """Remember the primary's WAL position now (after the caller's commit); returns it."""
        try:
            with self.primary.connect() as conn:
                lsn = parse_lsn(conn.execute(sa.text("SELECT pg_current_wal_lsn()::text")).scalar())
        except sa.exc.SQLAlchemyError:
            return None
        with self._lock:
            if len(self._last_write) > 100_000:
                self._last_write.clear()  # a flood of callers: they read from the primary at worst
            self._last_write[caller_key] = lsn
        return lsn

    def _usable(self, replica: Replica) -> bool:
        return (
            replica.healthy
            and replica.lag_s is not None
            and replica.lag_s <= self.max_lag_s
            and time.monotonic() - replica.checked_at < max(3 * self.check_s, 2.0)
        )

    def _wait_replayed(self, replica: Replica, needed: int) -> bool:
        """True once the replica has replayed ``needed``; polls up to ``wait_s``."""
        if replica.replay_lsn >= needed:
            return True
        deadline = time.monotonic() + self.wait_s
        while True:
            try:
                with replica.engine.connect() as conn:
                    text = conn.execute(sa.text("SELECT pg_last_wal_replay_lsn()::text")).scalar()
            except sa.exc.SQLAlchemyError:
                self._mark_down(replica, "no answer")
                return False
            replay = parse_lsn(text) or 0
            replica.replay_lsn = max(replica.replay_lsn, replay)
            if replay >= needed:
                return True
            if time.monotonic() >= deadline:
                return False
            time.sleep(0.01)

    def _reachable(self, replica: Replica) -> bool:
        """A pooled connection checks out (pre-ping): a replica stopped since the last check
        is found here, before the request uses it."""
        try:
            with replica.engine.connect():
                return True
        except sa.exc.SQLAlchemyError as exc:
            self._mark_down(replica, str(exc).splitlines()[0])
            return False

    def _mark_down(self, replica: Replica, problem: str) -> None:
        if replica.healthy:
            log.warning("replica %s skipped: %s", replica.name, problem)
        replica.healthy = False
        replica.problem = problem

    # -- health checks ------------------------------------------------------------------
    def start(self) -> None:
        if self.replicas and self._thread is None:
            self.check_all()
            self._stop.clear()
            self._thread = threading.Thread(target=self._run, name="gongjian-replicas", daemon=True)
            self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None
        for replica in self.replicas:
            _close(replica._conn)
            replica._conn = None

    def _run(self) -> None:
        while not self._stop.wait(self.check_s):
            self.check_all()

    def check_all(self) -> None:
        """Sample the primary's WAL position, then ask every replica where its replay is."""
        try:
            with self.primary.connect() as conn:
                lsn = parse_lsn(conn.execute(sa.text("SELECT pg_current_wal_lsn()::text")).scalar())
            self._clock.sample(lsn, time.monotonic())
        except sa.exc.SQLAlchemyError as exc:
            log.warning("replica checks: primary does not answer (%s)", exc)
        for replica in self.replicas:
            self._check(replica)

    def _check(self, replica: Replica) -> None:
        try:
            if replica._conn is None or replica._conn.closed:
                replica._conn = psycopg.connect(
                    _libpq(replica.url), connect_timeout=CONNECT_TIMEOUT_S, autocommit=True
                )
            recovery, replay = replica._conn.execute(
                "SELECT pg_is_in_recovery(), pg_last_wal_replay_lsn()::text"
            ).fetchone()
        except psycopg.Error as exc:
            _close(replica._conn)
            replica._conn = None
            self._mark_down(replica, str(exc).strip().splitlines()[0] if str(exc) else "down")
            replica.checked_at = time.monotonic()
            return
        now = time.monotonic()
        replica.replay_lsn = parse_lsn(replay) or 0
        replica.lag_s = self._clock.lag_s(replica.replay_lsn, now)
        replica.checked_at = now
        if not recovery:
            self._mark_down(replica, "not a standby (promoted?): writes would not reach it")
        elif replica.lag_s is not None and replica.lag_s > self.max_lag_s:
            self._mark_down(replica, f"replay {replica.lag_s:.1f} s behind")
        else:
            if not replica.healthy:
                log.info("replica %s in use", replica.name)
            replica.healthy, replica.problem = True, ""


def _libpq(url: str) -> str:
    return sa.make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


def _close(conn: psycopg.Connection | None) -> None:
    if conn is not None:
        with contextlib.suppress(psycopg.Error):
            conn.close()
