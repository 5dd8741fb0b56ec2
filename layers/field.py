"""The inspectors' phone app (/field) in the database: offline packages, photos, synced visits.

* :func:`package` — one route plan as the phone keeps it offline: the days and their stops in
  order, each household with what to verify at the door (members, income when the caller's
  role may see it, housing, cadre, the last help record) and its version, and the map data of
  the route's area (roads, rivers, village boundaries, the days' paths) as compact GeoJSON.
* :func:`store_photo` — a photo, once per SHA-256 (uploading it again changes nothing).
* :func:`sync_visit` — one visit from a phone: stored once per client id (a replayed sync
  answers "duplicate"), refused with a reason when it cannot be stored (household outside the
  plan or the scope, photo not uploaded), reported as a conflict — not stored over anything —
  when the household changed since the download; times moved to the server's clock; flagged
  "not on site?" by :func:`geo.field.visit_flags`. Every insert is audited.

Scope: every read and write takes the caller; households outside the caller's scope are
"not found", as everywhere in the API.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import uuid
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa

from geo import vocab
from geo.field import CHINA, FieldPolicy, clock_skew, corrected, visit_findings, visit_flags
from geo.masking import mask_name, mask_phone
from geo.routing.sheets import CHECKS
from geo.synthetic import SYNTHETIC_NOTE
from layers import audit
from layers.access import Caller

PACKAGE_PAD_DEG = 0.01  # map data this far around the plan's households (about 1 km)
SIMPLIFY_DEG = 0.00003  # about 3 m: invisible at walking zooms, a third of the vertices gone
PHOTO_TYPES = ("image/jpeg", "image/png", "image/webp")
# value sets whose Chinese labels the phone shows (members, and a conflict's changed facts)
PHONE_LABELS = ("relation", "health", "schooling", "labour_capacity", "housing_status",
                "status", "category")  # fmt: skip


class FieldError(ValueError):
    """A request of the phone app that cannot be served; the message says why (Chinese, as
    the phone shows it)."""


class NotFound(FieldError):
    """No such plan, household or photo in the caller's scope."""


class PhotoTooLarge(FieldError):
    pass


@dataclass
class SyncOutcome:
    """What became of one visit: stored, duplicate, conflict or refused, and why."""

    status: str
    message: str
    visit_id: int | None = None
    flags: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    current: dict[str, Any] | None = None  # the household now (conflicts)

    def as_dict(self) -> dict[str, Any]:
        return {
            "status": self.status,
            "message": self.message,
            "visit_id": self.visit_id,
            "flags": self.flags,
            "flag_labels": [vocab.VISIT_FLAG[f] for f in self.flags],
            "warnings": self.warnings,
            "current": self.current,
        }


# --- the offline package --------------------------------------------------------------------


def plan_row(conn: sa.Connection, plan_id: int, caller: Caller):
    return conn.execute(
        sa.text(
            "SELECT id, title, area_code, township_code, synthetic, start_date, created_at "
            "FROM route_plan WHERE id = :id AND starts_with(area_code, :scope)"
        ),
        {"id": plan_id, "scope": caller.scope.code},
    ).first()


def package(conn: sa.Connection, plan_id: int, caller: Caller) -> dict[str, Any]:
    """The offline package of plan ``plan_id`` (NotFound outside the caller's scope)."""
    plan = plan_row(conn, plan_id, caller)
    if plan is None:
        raise NotFound(f"没有编号为 {plan_id} 的路线计划（或不在您的范围内）")
    households = _households(conn, plan_id, caller)
    days = _days(conn, plan_id)
    for day in days:
        day["stops"] = [h["household_id"] for h in households if h["day_id"] == day["id"]]
    return {
        "plan": {
            "id": plan.id,
            "title": plan.title,
            "area": plan.area_code,
            "synthetic": plan.synthetic,
            "note": SYNTHETIC_NOTE if plan.synthetic else None,
            "start_date": plan.start_date.isoformat() if plan.start_date else None,
        },
        "downloaded_at": dt.datetime.now(dt.UTC).isoformat(),
        "caller": {"name": caller.name, "role": caller.role, "sees_income": _sees_income(caller)},
        "checks": CHECKS,
        "results": vocab.VISIT_RESULT,
        "labels": {name: vocab.VOCABS[name] for name in PHONE_LABELS},
        "days": days,
        "households": households,
        "map": map_data(conn, plan_id),
    }


def _sees_income(caller: Caller) -> bool:
    return caller.sees_personal_data  # the household layer hides income from viewers


HOUSEHOLDS_SQL = """
SELECT s.household_id, s.day_id, s.seq, s.arrival_min, s.status AS stop_status,
       h.household_no, h.version, h.head_name, h.phone, h.members, h.labour_members,
       h.category, h.main_cause, h.housing_status, h.status, h.exit_year,
       v.name AS village_name, hm.name AS hamlet_name, c.name AS cadre_name,
       c.phone AS cadre_phone, ST_X(h.geom) AS lon, ST_Y(h.geom) AS lat,
       inc.per_capita_income AS income, inc.year AS income_year,
       help.date AS help_date, help.measure AS help_measure, help.note AS help_note,
       (SELECT coalesce(jsonb_agg(jsonb_build_object(
            'name', m.name, 'relation', m.relation, 'sex', m.sex, 'birth_year', m.birth_year,
            'health', m.health, 'labour_capacity', m.labour_capacity,
            'schooling', m.schooling) ORDER BY m.relation <> 'head', m.birth_year), '[]'::jsonb)
        FROM household_member m WHERE m.household_id = h.id) AS people
FROM route_stop s
JOIN household h ON h.id = s.household_id
JOIN village v ON v.code = h.village_code
LEFT JOIN route_day d ON d.id = s.day_id
LEFT JOIN hamlet hm ON hm.id = h.hamlet_id
LEFT JOIN cadre c ON c.id = h.cadre_id
LEFT JOIN LATERAL (SELECT i.per_capita_income, i.year FROM household_income i
                   WHERE i.household_id = h.id ORDER BY i.year DESC LIMIT 1) inc ON true
LEFT JOIN LATERAL (SELECT r.date, r.measure, r.note FROM help_record r
                   WHERE r.household_id = h.id ORDER BY r.date DESC, r.id DESC LIMIT 1) help
       ON true
WHERE s.plan_id = :plan AND starts_with(h.village_code, :scope)
ORDER BY d.inspector NULLS LAST, d.day, s.seq, h.household_no
"""


def _households(conn: sa.Connection, plan_id: int, caller: Caller) -> list[dict[str, Any]]:
    """The plan's households with what to verify, masked as the caller's role requires.

    Members' names are always masked (a lost phone must not list whole families); the head's
    name and phone are shown to roles that work with named households; income only to the
    roles the household layer shows it to."""
    rows = conn.execute(
        sa.text(HOUSEHOLDS_SQL), {"plan": plan_id, "scope": caller.scope.code}
    ).mappings()
    personal = caller.sees_personal_data
    out = []
    for r in rows:
        h = dict(r)
        h["head_name"] = h["head_name"] if personal else mask_name(h["head_name"])
        h["phone"] = h["phone"] if personal else mask_phone(h["phone"])
        for person in h["people"]:
            person["name"] = mask_name(person["name"])
        if not _sees_income(caller):
            h["income"] = h["income_year"] = None
        h["income"] = float(h["income"]) if h["income"] is not None else None
        h["help_date"] = h["help_date"].isoformat() if h["help_date"] else None
        h["labels"] = _labels(h)
        out.append(h)
    return out


def _labels(h: dict[str, Any]) -> dict[str, str | None]:
    """Chinese labels of the household's coded values, for the phone's card."""
    sets = {"category": vocab.CATEGORY, "main_cause": vocab.CAUSE,
            "housing_status": vocab.HOUSING_STATUS, "status": vocab.STATUS,
            "help_measure": vocab.MEASURE}  # fmt: skip
    return {k: s.get(h[k]) if h[k] else None for k, s in sets.items()}


def _days(conn: sa.Connection, plan_id: int) -> list[dict[str, Any]]:
    rows = conn.execute(
        sa.text(
            "SELECT id, inspector, inspector_name, day, date, start_min, finish_min, stops, "
            "travel_min, distance_m, start_name, ST_X(start_geom) AS start_lon, "
            "ST_Y(start_geom) AS start_lat FROM route_day WHERE plan_id = :plan "
            "ORDER BY inspector, day"
        ),
        {"plan": plan_id},
    ).mappings()
    return [dict(r) | {"date": r["date"].isoformat() if r["date"] else None} for r in rows]


MAP_SQL = """
WITH box AS (
    SELECT ST_SetSRID(ST_Expand(ST_Extent(s.geom)::geometry, :pad), 4326) AS g
    FROM route_stop s WHERE s.plan_id = :plan
), parts AS (
    SELECT json_build_object('layer', 'road', 'class', r.road_class, 'surface', r.surface) AS p,
           ST_Intersection(r.geom, box.g) AS geom
    FROM road r, box WHERE r.geom && box.g
    UNION ALL
    SELECT json_build_object('layer', 'river'), ST_Intersection(r.geom, box.g)
    FROM river r, box WHERE r.geom && box.g
    UNION ALL
    SELECT json_build_object('layer', 'village', 'name', v.name),
           ST_Intersection(ST_Boundary(v.geom), box.g)
    FROM village v, box WHERE v.geom && box.g
    UNION ALL
    SELECT json_build_object('layer', 'route', 'day_id', d.id), d.geom
    FROM route_day d WHERE d.plan_id = :plan AND d.geom IS NOT NULL
)
SELECT json_build_object('type', 'FeatureCollection', 'features', coalesce(json_agg(
    json_build_object('type', 'Feature', 'properties', p,
                      'geometry', ST_AsGeoJSON(ST_SimplifyPreserveTopology(geom, :tol), 5)::json)
), '[]'))
FROM parts WHERE NOT ST_IsEmpty(geom)
"""


def map_data(conn: sa.Connection, plan_id: int) -> dict[str, Any]:
    """Roads, rivers, village boundaries and the days' paths around the plan, as GeoJSON
    with 5 decimals (about 1 m) and 3 m simplification: small enough for a phone."""
    return conn.execute(
        sa.text(MAP_SQL), {"plan": plan_id, "pad": PACKAGE_PAD_DEG, "tol": SIMPLIFY_DEG}
    ).scalar_one()


def plans(conn: sa.Connection, caller: Caller, limit: int = 50) -> list[dict[str, Any]]:
    """The plans in the caller's scope, latest first, with their counts."""
    rows = conn.execute(
        sa.text(
            "SELECT p.id, p.title, p.area_code, p.planned, p.days, p.inspectors, p.start_date, "
            "p.created_at, p.synthetic, (SELECT count(*) FROM route_stop s WHERE s.plan_id = p.id"
            " AND s.result IS NOT NULL) AS visited FROM route_plan p "
            "WHERE starts_with(p.area_code, :scope) ORDER BY p.id DESC LIMIT :limit"
        ),
        {"scope": caller.scope.code, "limit": limit},
    ).mappings()
    return [
        dict(r)
        | {
            "start_date": r["start_date"].isoformat() if r["start_date"] else None,
            "created_at": r["created_at"].isoformat(),
        }
        for r in rows
    ]


# --- photos -------------------------------------------------------------------------------


def too_large(size: int, limit: int) -> str:
    return (
        f"照片 {size / 1e6:.1f} MB，超过上限 {limit / 1e6:.0f} MB"
        "（手机会先压缩照片；请在本应用里重新拍照或选择照片）"
    )


def store_photo(
    conn: sa.Connection,
    data: bytes,
    *,
    sha256: str,
    media_type: str,
    actor: str,
    max_bytes: int,
) -> bool:
    """Store a photo under its SHA-256 (checked); True if new, False if already stored."""
    if len(data) > max_bytes:
        raise PhotoTooLarge(too_large(len(data), max_bytes))
    if media_type not in PHOTO_TYPES:
        raise FieldError(f"照片格式 {media_type or '未知'} 不支持（需 JPEG、PNG 或 WebP）")
    actual = hashlib.sha256(data).hexdigest()
    if actual != sha256:
        raise FieldError(f"照片校验和不符（收到 {actual[:12]}…，应为 {sha256[:12]}…）：请重新同步")
    inserted = conn.execute(
        sa.text(
            "INSERT INTO visit_photo (sha256, media_type, size_bytes, data, uploaded_by) "
            "VALUES (:sha, :type, :size, :data, :actor) ON CONFLICT (sha256) DO NOTHING "
            "RETURNING sha256"
        ),
        {"sha": sha256, "type": media_type, "size": len(data), "data": data, "actor": actor},
    ).first()
    return inserted is not None


def photo(conn: sa.Connection, sha256: str, caller: Caller) -> tuple[bytes, str]:
    """A visit's photo, if a visit in the caller's scope shows it (NotFound otherwise)."""
    row = conn.execute(
        sa.text(
            "SELECT p.data, p.media_type FROM visit_photo p WHERE p.sha256 = :sha AND EXISTS ("
            "SELECT 1 FROM visit v JOIN household h ON h.id = v.household_id "
            "WHERE v.photo_sha256 = p.sha256 AND starts_with(h.village_code, :scope))"
        ),
        {"sha": sha256, "scope": caller.scope.code},
    ).first()
    if row is None:
        raise NotFound("没有这张照片（或不在您的范围内）")
    return bytes(row.data), row.media_type


# --- visits -----------------------------------------------------------------------------


@dataclass(frozen=True)
class FieldVisit:
    """One visit as the phone sends it (times on the phone's clock)."""

    client_id: uuid.UUID
    plan_id: int
    household_id: int
    household_version: int
    result: str
    checks: dict[str, bool | None]
    notes: str | None
    lon: float | None
    lat: float | None
    accuracy_m: float | None
    started_at: dt.datetime
    recorded_at: dt.datetime
    sent_at: dt.datetime
    photo_sha256: str | None = None
    accept_version: int | None = None  # the inspector checked the changed household

    def content(self) -> dict[str, Any]:
        """What a replay must repeat to be the same visit."""
        return {"household_id": self.household_id, "result": self.result,
                "checks": {k: self.checks.get(k) for k in CHECKS},
                "findings": visit_findings(self.checks, self.notes),
                "photo_sha256": self.photo_sha256}  # fmt: skip


def sync_visit(
    conn: sa.Connection,
    visit: FieldVisit,
    caller: Caller,
    policy: FieldPolicy,
    *,
    now: dt.datetime | None = None,
    source: str = "field",
) -> SyncOutcome:
    """Store one visit from a phone, once; see the module docstring for the outcomes."""
    now = now or dt.datetime.now(dt.UTC)
    lock = sa.text("SELECT pg_advisory_xact_lock(hashtext(:id))")  # concurrent replays wait
    conn.execute(lock, {"id": str(visit.client_id)})
    stored = _stored(conn, visit.client_id)
    if stored is not None:
        return _replayed(stored, visit)
    household = _household(conn, visit.household_id, caller)
    if household is None:
        return SyncOutcome("refused", f"户 #{visit.household_id} 不存在或不在您的范围内")
    warnings = []
    stop = _stop(conn, visit.plan_id, visit.household_id, caller)
    if stop == "no plan":
        warnings.append(f"路线计划 #{visit.plan_id} 已在服务器上删除：走访按户保存")
    elif stop is None:
        return SyncOutcome(
            "refused", f"户 {household.household_no} 不在路线计划 #{visit.plan_id} 中：未保存"
        )
    if household.version not in (visit.household_version, visit.accept_version):
        return _conflict(household, visit)
    if visit.photo_sha256 and not _photo_exists(conn, visit.photo_sha256):
        return SyncOutcome("refused", "照片尚未上传：请再次同步")
    skew = clock_skew(sent_at=visit.sent_at, received_at=now)
    if abs(skew) > policy.clock_skew_note_s:
        warnings.append(f"手机时钟偏差约 {skew / 60:+.0f} 分钟：时间已按服务器时钟校正")
    context = (caller, policy, skew, now, source)
    return _insert(conn, visit, household, stop, context, warnings)


def _stored(conn, client_id: uuid.UUID):
    return conn.execute(
        sa.text(
            "SELECT id, household_id, result, checks, findings, photo_sha256 FROM visit "
            "WHERE client_id = :id"
        ),
        {"id": client_id},
    ).first()


def _replayed(stored, visit: FieldVisit) -> SyncOutcome:
    same = {
        "household_id": stored.household_id, "result": stored.result,
        "checks": {k: (stored.checks or {}).get(k) for k in CHECKS},
        "findings": stored.findings, "photo_sha256": stored.photo_sha256,
    }  # fmt: skip
    if same == visit.content():
        return SyncOutcome("duplicate", "此走访已同步过（未重复保存）", stored.id)
    return SyncOutcome(
        "conflict",
        f"服务器上已有此走访（#{stored.id}）且内容不同：未覆盖，请联系管理员核对",
        stored.id,
    )


def _household(conn, household_id: int, caller: Caller):
    return conn.execute(
        sa.text(
            "SELECT id, household_no, version, members, labour_members, housing_status, "
            "status, category, head_name, ST_X(geom) AS lon, ST_Y(geom) AS lat FROM household "
            "WHERE id = :id AND starts_with(village_code, :scope)"
        ),
        {"id": household_id, "scope": caller.scope.code},
    ).first()


def _stop(conn, plan_id: int, household_id: int, caller: Caller):
    """The plan's stop for the household; None if not in the plan; 'no plan' if deleted."""
    if plan_row(conn, plan_id, caller) is None:
        return "no plan"
    return conn.execute(
        sa.text("SELECT id, visit_id FROM route_stop WHERE plan_id = :plan AND household_id = :h"),
        {"plan": plan_id, "h": household_id},
    ).first()


def _conflict(household, visit: FieldVisit) -> SyncOutcome:
    current = {
        "version": household.version, "members": household.members,
        "labour_members": household.labour_members, "housing_status": household.housing_status,
        "status": household.status, "category": household.category,
    }  # fmt: skip
    return SyncOutcome(
        "conflict",
        f"户 {household.household_no} 的登记信息在下载后已被修改（版本 "
        f"{visit.household_version} → {household.version}）：走访未保存，草稿保留；"
        "请核对新信息后再提交",
        current=current,
    )


def _photo_exists(conn, sha256: str) -> bool:
    sql = sa.text("SELECT 1 FROM visit_photo WHERE sha256 = :s")
    return conn.execute(sql, {"s": sha256}).first() is not None


def _insert(conn, visit, household, stop, context, warnings) -> SyncOutcome:
    caller, policy, skew, now, source = context
    recorded = min(corrected(visit.recorded_at, skew), now)
    started = min(corrected(visit.started_at, skew), recorded)
    has_position = visit.lon is not None and visit.lat is not None
    distance = _distance(conn, visit, household) if has_position else None
    duration = (recorded - started).total_seconds()
    flags = visit_flags(
        distance_m=distance, accuracy_m=visit.accuracy_m, duration_s=duration, policy=policy
    )
    row = {
        "household_id": household.id, "date": recorded.astimezone(CHINA).date(),
        "inspector": caller.name, "result": visit.result,
        "findings": visit_findings(visit.checks, visit.notes),
        "lon": visit.lon, "lat": visit.lat, "client_id": visit.client_id,
        "plan_id": None if stop == "no plan" else visit.plan_id,
        "started_at": started, "recorded_at": recorded, "received_at": now, "skew": skew,
        "accuracy_m": visit.accuracy_m, "distance_m": distance,
        "household_version": household.version,
        "checks": json.dumps({k: visit.checks.get(k) for k in CHECKS}),
        "flags": flags, "photo": visit.photo_sha256, "source": source,
    }  # fmt: skip
    visit_id = conn.execute(sa.text(INSERT_VISIT), row).scalar_one()
    audit.record(conn, "visit", visit_id, "insert", caller.actor, None,
                 audit.snapshot(conn, "visit", visit_id))  # fmt: skip
    if stop != "no plan":
        warnings += _mark_stop(conn, stop, visit_id, row)
    labels = "、".join(vocab.VISIT_FLAG[f] for f in flags)
    message = "已保存" + (f"；疑似未到现场（{labels}）" if flags else "")
    return SyncOutcome("stored", message, visit_id, flags, warnings)


INSERT_VISIT = """
INSERT INTO visit (household_id, date, inspector, result, findings, geom, client_id, plan_id,
                   started_at, recorded_at, received_at, clock_skew_s, accuracy_m, distance_m,
                   household_version, checks, flags, photo_sha256, source)
VALUES (:household_id, :date, :inspector, :result, :findings,
        CASE WHEN CAST(:lon AS float8) IS NULL THEN NULL
             ELSE ST_SetSRID(ST_MakePoint(:lon, :lat), 4326) END,
        :client_id, :plan_id, :started_at, :recorded_at, :received_at, :skew, :accuracy_m,
        :distance_m, :household_version, CAST(:checks AS jsonb), :flags, :photo, :source)
RETURNING id
"""


def _distance(conn, visit: FieldVisit, household) -> float:
    return conn.execute(
        sa.text(
            "SELECT ST_Distance(ST_SetSRID(ST_MakePoint(:x0, :y0), 4326)::geography, "
            "ST_SetSRID(ST_MakePoint(:x1, :y1), 4326)::geography)"
        ),
        {"x0": visit.lon, "y0": visit.lat, "x1": household.lon, "y1": household.lat},
    ).scalar_one()


def _mark_stop(conn, stop, visit_id: int, row: dict[str, Any]) -> list[str]:
    """The plan's stop shows the visit (like a results sheet); an earlier visit stays."""
    if stop.visit_id is not None:
        return [f"此户在本计划中已有走访 #{stop.visit_id}：本次另存为 #{visit_id}"]
    checks = json.loads(row["checks"])
    conn.execute(
        sa.text(
            "UPDATE route_stop SET result = :result, visit_id = :visit, visit_date = :date, "
            + ", ".join(f"check_{c} = :check_{c}" for c in CHECKS)
            + " WHERE id = :id"
        ),
        {"result": row["result"], "visit": visit_id, "date": row["date"], "id": stop.id}
        | {f"check_{c}": checks[c] for c in CHECKS},
    )
    return []
