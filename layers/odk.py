"""ODK Central submissions of a plan's visit form (``geo.routing.odk``) stored as visits.

Each submission goes through :func:`layers.field.sync_visit`, like a visit from our own
phone app: stored once per ODK instance id, flagged "not on site?" by the same policy.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from dataclasses import dataclass, field

import sqlalchemy as sa

from geo.field import FieldPolicy
from layers.access import Caller
from layers.field import FieldError, FieldVisit, NotFound, plan_row, store_photo, sync_visit


@dataclass
class OdkSummary:
    stored: int = 0
    duplicate: int = 0
    flagged: int = 0
    messages: list[str] = field(default_factory=list)

    def describe(self) -> str:
        return (
            f"{self.stored} visit(s) stored, {self.duplicate} already stored, "
            f"{self.flagged} flagged not on site"
        )


def import_odk(
    conn: sa.Connection,
    plan_id: int,
    submissions: list,
    photos: dict[str, bytes],
    caller: Caller,
    policy: FieldPolicy,
    *,
    max_photo_bytes: int,
    source: str = "submissions.csv",
) -> OdkSummary:
    """ODK Central submissions (``geo.routing.odk.read_submissions``) as visits of the plan.

    The instance id is the visit's client id (importing the export again stores nothing
    twice); times are the form's start and end on the phone's clock (ODK records no send
    time, so no skew is corrected). All rows are checked first; a row that cannot be stored
    stops the import with its row number and nothing of it is kept (the caller's transaction).
    """
    if plan_row(conn, plan_id, caller) is None:
        raise NotFound(f"没有编号为 {plan_id} 的路线计划（或不在您的范围内）")
    members = _plan_households(conn, plan_id)
    for s in submissions:
        if s.household_no not in members:
            raise FieldError(f"{source} row {s.row}, column household: 户 {s.household_no} "
                             f"不在路线计划 #{plan_id} 中")  # fmt: skip
        if s.photo and s.photo not in photos:
            raise FieldError(f"{source} row {s.row}, column photo: 附件 {s.photo} 不在导出包中 "
                             "（请下载带附件的 ZIP）")  # fmt: skip
    summary = OdkSummary()
    now = dt.datetime.now(dt.UTC)
    for s in submissions:
        household_id, version = members[s.household_no]
        sha = None
        if s.photo:
            data = photos[s.photo]
            sha = hashlib.sha256(data).hexdigest()
            store_photo(conn, data, sha256=sha, media_type=_media_type(s.photo),
                        actor=caller.actor, max_bytes=max_photo_bytes)  # fmt: skip
        visit = FieldVisit(
            client_id=s.instance_id, plan_id=plan_id, household_id=household_id,
            household_version=version, result=s.result, checks=s.checks, notes=s.notes,
            lon=s.lon, lat=s.lat, accuracy_m=s.accuracy_m, started_at=s.started_at,
            recorded_at=s.recorded_at, sent_at=now, photo_sha256=sha,
        )  # fmt: skip
        outcome = sync_visit(conn, visit, caller, policy, now=now, source="odk")
        if outcome.status not in ("stored", "duplicate"):
            raise FieldError(f"{source} row {s.row}: {outcome.message}")
        summary.stored += outcome.status == "stored"
        summary.duplicate += outcome.status == "duplicate"
        summary.flagged += bool(outcome.flags)
    return summary


def _plan_households(conn, plan_id: int) -> dict[str, tuple[int, int]]:
    rows = conn.execute(
        sa.text(
            "SELECT h.household_no, h.id, h.version FROM route_stop s "
            "JOIN household h ON h.id = s.household_id WHERE s.plan_id = :p"
        ),
        {"p": plan_id},
    ).all()
    return {r.household_no: (r.id, r.version) for r in rows}


def _media_type(filename: str) -> str:
    suffix = filename.rsplit(".", 1)[-1].lower()
    return {"jpg": "image/jpeg", "jpeg": "image/jpeg", "png": "image/png",
            "webp": "image/webp"}.get(suffix, "application/octet-stream")  # fmt: skip
