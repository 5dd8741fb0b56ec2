"""Writes from the API: household fields, help records (九到户), inspection visits.

Every write runs in the caller's scoped transaction, validates values the way imports do
(value sets of ``geo.vocab``, ID numbers with ``geo.idnumber``, the database's named CHECKs
as the last word), and appends before/after to the audit log in the same transaction.
Household edits use optimistic concurrency: the caller sends the version they read (ETag /
If-Match) and a stale version is refused instead of silently overwriting someone's edit.

Ids, scopes, versions and audit fields are never taken from the caller: the allowed fields
are listed here, and the API's request models refuse any other.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError

from geo import idnumber, vocab
from layers import audit
from layers.access import Caller, code_in_scope
from layers.derived_boundaries import refresh_derived_boundaries
from layers.features import COORD_DECIMALS
from layers.history import set_actor, set_effective_date

# Fields of a household that an editor may change (the 建档立卡 card); everything else —
# id, household_no, village, timestamps, version, synthetic — is the system's.
HOUSEHOLD_FIELDS = (
    "head_name", "id_number", "phone", "members", "labour_members", "category", "main_cause",
    "secondary_cause", "housing_status", "status", "exit_year", "cadre_id", "registered_year",
)  # fmt: skip
HOUSEHOLD_VOCABS = {
    "category": vocab.CATEGORY,
    "main_cause": vocab.CAUSE,
    "secondary_cause": vocab.CAUSE,
    "housing_status": vocab.HOUSING_STATUS,
    "status": vocab.STATUS,
}
REQUIRED = frozenset(
    {"head_name", "members", "labour_members", "category", "main_cause", "housing_status", "status"}
)  # NOT NULL on the card
FINANCE_LOAN_CAP = Decimal(50_000)  # 金融扶持: credit loans up to 50,000 yuan (seed 003)
EARLIEST_RECORD = dt.date(2000, 1, 1)
MAX_VISIT_DISTANCE_M = 5_000  # a visit is recorded near the household it is about
SAME_PLACE_DEG = 10.0**-COORD_DECIMALS


class EditRejected(ValueError):
    """The values cannot be stored; the message names the field and the rule."""


class NotInScope(LookupError):
    """No such row in the caller's scope (whether it exists elsewhere is not said)."""


class EditConflict(RuntimeError):
    """The row changed since the caller read it (stale If-Match)."""


class PreconditionRequired(RuntimeError):
    """An update without If-Match: the caller must say which version they edit."""


@dataclass(frozen=True)
class Saved:
    id: int
    version: int | None = None
    changed: bool = True


@dataclass(frozen=True)
class IfMatch:
    """The versions an If-Match header admits (RFC 9110 §13.1.1).

    ``*`` admits any version of a row that exists; otherwise only the versions named by
    strong entity tags (a weak tag never matches under the strong comparison If-Match uses).
    """

    any_version: bool = False
    versions: frozenset[int] = frozenset()
    weak: bool = False  # the header named weak tags only: say why it cannot match

    def admits(self, version: int) -> bool:
        return self.any_version or version in self.versions


# --- households ---------------------------------------------------------------------------


def update_household(
    conn: sa.Connection,
    caller: Caller,
    household_id: int,
    if_match: IfMatch | None,
    changes: Mapping[str, Any],
    effective_date: dt.date | None = None,
) -> Saved:
    """Apply ``changes`` to a household at a version ``if_match`` admits; audited.

    Returns the version after the edit. An edit that changes nothing keeps the version and
    writes no audit row (``Saved.changed`` is False): only real changes are logged.
    ``effective_date``: the day the change took effect (an exit assessed in March and entered
    in December), which the archive records; not in the future, not before registration.
    """
    if if_match is None:
        raise PreconditionRequired("send If-Match with the ETag of the household you edit")
    unknown = set(changes) - set(HOUSEHOLD_FIELDS) - {"location"}
    if unknown:
        raise EditRejected(f"these fields cannot be changed: {', '.join(sorted(unknown))}")
    before = _scoped_household(conn, caller, household_id, lock=True)
    set_actor(conn, caller.actor)  # the archive (household_history.source) names the editor
    if not if_match.admits(before["version"]):
        raise EditConflict(_conflict_message(household_id, before["version"], if_match))
    if effective_date is not None:
        _check_effective_date(conn, household_id, effective_date)
    set_effective_date(conn, effective_date)
    changes = dict(changes)
    location = changes.pop("location", None)
    cleared = sorted(name for name in REQUIRED if name in changes and changes[name] is None)
    if cleared:
        raise EditRejected(f"{', '.join(cleared)}: cannot be emptied")
    _validate_household(conn, {**before, **changes}, changes)
    assignments = [f"{name} = :{name}" for name in changes]
    differs = [f"{name} IS DISTINCT FROM :{name}" for name in changes]
    params: dict[str, Any] = dict(changes)
    rederive = False
    if location is not None:
        rederive = _check_location_in_village(conn, location, before["village_code"])
        point = "ST_SetSRID(ST_MakePoint(:lon, :lat), 4326)"
        assignments.append(f"geom = {point}")
        # the API gives coordinates to COORD_DECIMALS places: the same point sent back is
        # no move (ST_Equals would call the 1 cm rounding one)
        differs.append(f"geom IS NULL OR NOT ST_DWithin(geom, {point}, {SAME_PLACE_DEG!r})")
        params |= {"lon": location[0], "lat": location[1]}
    if not differs:
        return Saved(household_id, before["version"], changed=False)
    assignments += ["version = version + 1", "updated_at = now()"]
    # the database compares old and new values (types, geometry): no change, no new version
    sql = (
        f"UPDATE household SET {', '.join(assignments)} "
        f"WHERE id = :id AND ({' OR '.join(f'({d})' for d in differs)})"
    )
    try:
        with conn.begin_nested():
            updated = conn.execute(sa.text(sql), {**params, "id": household_id}).rowcount
    except IntegrityError as exc:
        raise _rejected(exc) from None
    if not updated:
        return Saved(household_id, before["version"], changed=False)
    after = audit.snapshot(conn, "household", household_id)
    audit.record(conn, "household", household_id, "update", caller.actor, before, after)
    if rederive:
        # the derived village polygon must contain its households again (示意界线 follow points)
        refresh_derived_boundaries(conn, before["village_code"][:6])
    return Saved(household_id, after["version"])


def _conflict_message(household_id: int, version: int, if_match: IfMatch) -> str:
    if if_match.weak:
        return (
            "If-Match needs a strong ETag (as the item's ETag header gives it); a weak tag "
            "(W/...) never matches (RFC 9110 §13.1.1)"
        )
    named = ", ".join(str(v) for v in sorted(if_match.versions)) or "none"
    return (
        f"household {household_id} is at version {version}, not {named}: "
        "reload it and apply your change again"
    )


def _check_effective_date(conn: sa.Connection, household_id: int, day: dt.date) -> None:
    if day > dt.date.today():
        raise EditRejected(f"effective_date: {day} is in the future")
    registered = first_version_date(conn, household_id)
    if registered is not None and day < registered:
        raise EditRejected(
            f"effective_date: {day} is before the household was registered ({registered})"
        )


def first_version_date(conn: sa.Connection, household_id: int) -> dt.date | None:
    """The day the archive starts: the household's first version (its registration)."""
    return conn.execute(
        sa.text("SELECT min(valid_from) FROM household_history WHERE household_id = :id"),
        {"id": household_id},
    ).scalar()


def _scoped_household(
    conn: sa.Connection, caller: Caller, household_id: int, *, lock: bool = False
) -> dict[str, Any]:
    visible = conn.execute(
        sa.text(
            f"SELECT 1 FROM household t WHERE t.id = :id AND {code_in_scope('t.village_code')}"
        ),
        {"id": household_id, "scope": caller.scope.code},
    ).first()
    if visible is None:
        raise NotInScope(f"household {household_id} not found")
    return audit.snapshot(conn, "household", household_id, lock=lock)


def _validate_household(conn: sa.Connection, row: Mapping[str, Any], changes: Mapping) -> None:
    """Value sets, ID number, member counts, status/exit year, cadre of the same township."""
    for name, values in HOUSEHOLD_VOCABS.items():
        if name in changes and changes[name] is not None and changes[name] not in values:
            raise EditRejected(f"{name}: unknown value {changes[name]!r}")
    if changes.get("id_number") is not None:
        problem = idnumber.explain_invalid(changes["id_number"])
        if problem:
            raise EditRejected(f"id_number: {problem}")
    labour, members = row["labour_members"], row["members"]
    if labour is not None and members is not None and labour > members:
        raise EditRejected("labour_members: more labour members than members")
    if row["secondary_cause"] is not None and row["secondary_cause"] == row["main_cause"]:
        raise EditRejected("secondary_cause: must differ from main_cause")
    if (row["status"] == "poor") != (row["exit_year"] is None):
        raise EditRejected(
            "exit_year: required when status is exited or returned, empty when status is poor"
        )
    if changes.get("cadre_id") is not None:
        _check_cadre(conn, changes["cadre_id"], row["village_code"])


def _check_cadre(conn: sa.Connection, cadre_id: int, village_code: str) -> None:
    """A household's cadre works for the household's township (seeds 003/004)."""
    township = village_code[:9]
    found = conn.execute(
        sa.text("SELECT 1 FROM cadre WHERE id = :id AND township_code = :t"),
        {"id": cadre_id, "t": township},
    ).first()
    if found is None:
        raise EditRejected(f"cadre_id: no cadre {cadre_id} in township {township}")


def _check_location_in_village(
    conn: sa.Connection, location: tuple[float, float], village_code: str
) -> bool:
    """Refuse a point outside the household's village; returns whether the village's polygon
    is derived (示意界线). A derived polygon only approximates the points it was drawn
    around, so there the point must lie in the county, and the polygons are re-derived."""
    inside, derived = conn.execute(
        sa.text(
            "SELECT CASE WHEN v.boundary_derived OR v.geom IS NULL THEN ST_Covers(c.geom, p.pt) "
            "            ELSE ST_Covers(v.geom, p.pt) END, "
            "       v.boundary_derived OR v.geom IS NULL "
            "FROM village v JOIN county c ON c.code = left(v.code, 6), "
            "     (SELECT ST_SetSRID(ST_MakePoint(:lon, :lat), 4326) AS pt) p "
            "WHERE v.code = :v"
        ),
        {"lon": location[0], "lat": location[1], "v": village_code},
    ).one_or_none() or (False, False)
    if not inside:
        where = "county" if derived else "village"
        raise EditRejected(
            f"location: the point is not inside the household's {where} "
            f"{village_code[:6] if derived else village_code}"
        )
    return bool(derived)


def _rejected(exc: IntegrityError) -> EditRejected:
    """The database refused: say which rule, never the conflicting row's values or place.

    A duplicate ID number gets the same answer whether the other household is in the
    caller's scope or not, so the answer does not reveal hidden households.
    """
    constraint = getattr(getattr(exc.orig, "diag", None), "constraint_name", None) or "a rule"
    if constraint == "uq_household_id_number":
        return EditRejected(
            "id_number: this ID number cannot be registered for this household; "
            "check it against the ID card and with the county office"
        )
    return EditRejected(f"rejected by the database rule {constraint}")


# --- help records and visits -------------------------------------------------------------


def add_help_record(conn: sa.Connection, caller: Caller, values: Mapping[str, Any]) -> Saved:
    """Add a 帮扶记录 (九到户 measure) to a household in scope; audited."""
    household = _scoped_household(conn, caller, values["household_id"])
    _check_date("date", values["date"])
    if values["measure"] not in vocab.MEASURE:
        raise EditRejected(f"measure: unknown value {values['measure']!r}")
    amount = values.get("amount")
    if amount is not None and amount < 0:
        raise EditRejected("amount: must not be negative")
    if values["measure"] == "finance" and amount is not None and amount > FINANCE_LOAN_CAP:
        raise EditRejected("amount: 金融扶持 credit loans are at most 50,000 yuan (seed 003)")
    if values.get("cadre_id") is not None:
        _check_cadre(conn, values["cadre_id"], household["village_code"])
    columns = (
        "household_id", "date", "cadre_id", "measure", "note", "amount",
        "signed_household", "signed_village", "signed_cadre",
    )  # fmt: skip
    row = {c: values.get(c) for c in columns}
    for flag in ("signed_household", "signed_village", "signed_cadre"):
        row[flag] = bool(row[flag])
    new_id = _insert(conn, "help_record", row)
    audit.record(
        conn, "help_record", new_id, "insert", caller.actor, None,
        audit.snapshot(conn, "help_record", new_id, geometry=None),
    )  # fmt: skip
    return Saved(new_id)


def add_visit(conn: sa.Connection, caller: Caller, values: Mapping[str, Any]) -> Saved:
    """Add an inspection visit; the inspector is the caller (never taken from the body)."""
    _scoped_household(conn, caller, values["household_id"])
    _check_date("date", values["date"])
    if values["result"] not in vocab.VISIT_RESULT:
        raise EditRejected(f"result: unknown value {values['result']!r}")
    row = {
        "household_id": values["household_id"],
        "date": values["date"],
        "inspector": caller.name,
        "result": values["result"],
        "findings": values.get("findings"),
    }
    location = values.get("location")
    geom_sql = "NULL"
    if location is not None:
        near = conn.execute(
            sa.text(
                "SELECT ST_DWithin(geom::geography, "
                "ST_SetSRID(ST_MakePoint(:lon, :lat), 4326)::geography, :d) "
                "FROM household WHERE id = :id"
            ),
            {"lon": location[0], "lat": location[1], "d": MAX_VISIT_DISTANCE_M,
             "id": values["household_id"]},
        ).scalar()  # fmt: skip
        if not near:
            raise EditRejected(
                f"location: more than {MAX_VISIT_DISTANCE_M // 1000} km from the household"
            )
        geom_sql = "ST_SetSRID(ST_MakePoint(:lon, :lat), 4326)"
        row |= {"lon": location[0], "lat": location[1]}
    new_id = conn.execute(
        sa.text(
            "INSERT INTO visit (household_id, date, inspector, result, findings, geom) "
            f"VALUES (:household_id, :date, :inspector, :result, :findings, {geom_sql}) "
            "RETURNING id"
        ),
        row,
    ).scalar_one()
    audit.record(
        conn, "visit", new_id, "insert", caller.actor, None, audit.snapshot(conn, "visit", new_id)
    )
    return Saved(new_id)


def _check_date(name: str, value: dt.date) -> None:
    if value > dt.date.today():
        raise EditRejected(f"{name}: {value} is in the future")
    if value < EARLIEST_RECORD:
        raise EditRejected(f"{name}: {value} is before {EARLIEST_RECORD}")


def _insert(conn: sa.Connection, table: str, row: Mapping[str, Any]) -> int:
    columns = ", ".join(row)
    values = ", ".join(f":{c}" for c in row)
    try:
        with conn.begin_nested():
            return conn.execute(
                sa.text(f"INSERT INTO {table} ({columns}) VALUES ({values}) RETURNING id"), row
            ).scalar_one()
    except IntegrityError as exc:
        raise _rejected(exc) from None
