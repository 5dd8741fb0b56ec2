"""The sensitivity register: every field that leaves the platform, classified once.

Every output — OGC items and tiles, analysis and flag endpoints, reports, route files,
exports, wall maps and web maps — asks this register how to show a field to a caller who may
not see personal data (a viewer) or in a public output (``--public``, a wall map on the wall):

* ``public``: shown as stored (place names, counts, officials on the roster, seed 004);
* ``masked``: shown masked (张*明, 441882********123X, 138****5678; :mod:`geo.masking`);
* ``never``: never shown there (incomes, free-text notes about a household): dropped.

Editors, inspectors and admins of the area see everything in full.

A field is looked up as ``output.field`` first (where a name means something else in one
output: a cadre's ``phone`` is an official's and stays on the roster), then by its name alone
(``head_name`` is a household head wherever it appears, so a new layer inherits the rule),
then by pattern (``income_2016``). A field found nowhere is an error: new fields are
classified here, once, before any output can carry them.

>>> rule("household", "head_name").mask, str(rule("cadre", "phone").level)
('name', 'public')
>>> str(rule("household", "income_2017").level), str(rule("village", "name").level)
('never', 'public')
>>> rule("flag", "evidence").keys
('income', 'from', 'to')
>>> rule("household", "spouse_name")  # doctest: +ELLIPSIS
Traceback (most recent call last):
...
geo.sensitivity.UnclassifiedField: household.spouse_name is not in the sensitivity register...
"""

from __future__ import annotations

import fnmatch
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum

import pandas as pd

from geo.masking import MASKS as PYTHON_MASKS


class Level(StrEnum):
    PUBLIC = "public"
    MASKED = "masked"
    NEVER = "never"


class UnclassifiedField(LookupError):
    """A field no entry of the register classifies."""


@dataclass(frozen=True)
class Rule:
    """How a field is shown to viewers and in public outputs.

    ``mask``: for masked fields, the kind of mask (``name``, ``id_number``, ``phone``, or a
    mask an output registers for its own text, such as ``flag_description``). ``keys``: for
    a JSON object, the keys that are never public (removed; the rest stays).
    """

    level: Level
    mask: str | None = None
    keys: tuple[str, ...] = ()
    why: str = ""

    @property
    def is_public(self) -> bool:
        return self.level is Level.PUBLIC and not self.keys


PUBLIC = Rule(Level.PUBLIC)
OFFICIAL = Rule(Level.PUBLIC, why="officials' names and phones: on the wall roster (seed 004)")
PERSON_NAME = Rule(Level.MASKED, "name", why="a registered household member: 张*明")
ID_NUMBER = Rule(Level.MASKED, "id_number", why="GB 11643 number: region and last 4 kept")
HOUSEHOLD_PHONE = Rule(Level.MASKED, "phone", why="a household's own phone: 138****5678")
INCOME = Rule(Level.NEVER, why="a household's income (建档立卡 card; seed 003)")
HEALTH = Rule(Level.NEVER, why="a member's health (medical data)")
FREE_TEXT = Rule(Level.NEVER, why="free text about a household may hold anything personal")
INCOME_EVIDENCE = Rule(
    Level.PUBLIC, keys=("income", "from", "to"), why="a flag's evidence quotes incomes"
)
FLAG_TEXT = Rule(
    Level.MASKED, "flag_description", why="a flag's text quotes incomes: rebuilt without them"
)

# Where a name means something particular in one output.
BY_OUTPUT: dict[str, Rule] = {
    "cadre.name": OFFICIAL,
    "cadre.phone": OFFICIAL,
    "work_group.phone": OFFICIAL,
    "work_group_member.phone": OFFICIAL,
    "roster.phone": OFFICIAL,
    "household_member.name": PERSON_NAME,
    "household_member.health": HEALTH,
    "flag.evidence": INCOME_EVIDENCE,
    "flag.description": FLAG_TEXT,
    "help_record.note": FREE_TEXT,
    "visit.findings": FREE_TEXT,
    "visit_photo.data": Rule(Level.NEVER, why="a photo at a household's door (/field)"),
    "scenario.note": Rule(Level.PUBLIC, why="a planner's note on a scenario, no household's"),
    "audit_log.before": Rule(Level.NEVER, why="whole rows as they were, personal fields too"),
    "audit_log.after": Rule(Level.NEVER, why="whole rows as they became, personal fields too"),
    "api_user.token_hash": Rule(Level.NEVER, why="a credential"),
}

# Names that mean the same personal datum in every table, layer, analysis and file.
BY_NAME: dict[str, Rule] = {
    "head_name": PERSON_NAME,
    "member_name": PERSON_NAME,
    "member_names": PERSON_NAME,
    "id_number": ID_NUMBER,
    "phone": HOUSEHOLD_PHONE,
    "household_phone": HOUSEHOLD_PHONE,
    "income": INCOME,
    "incomes": INCOME,
    "per_capita_income": INCOME,
    "findings": FREE_TEXT,
    "cadre": OFFICIAL,
    "cadre_name": OFFICIAL,
    "cadre_phone": OFFICIAL,
    "inspector_name": OFFICIAL,
    "first_secretary": OFFICIAL,
    "helping_unit": OFFICIAL,
}

# Name patterns: the yearly income columns of exports (income_2016, collective_income_2016).
BY_PATTERN: tuple[tuple[str, Rule], ...] = (
    ("income_[0-9][0-9][0-9][0-9]", INCOME),
    ("collective_income_[0-9][0-9][0-9][0-9]", INCOME),
    ("collective_income", INCOME),
)

# Everything else that leaves the platform is public within the caller's scope. Listed, so
# that a field nobody has thought about is refused (UnclassifiedField) instead of shown.
PUBLIC_NAMES: frozenset[str] = frozenset(
    """
    accuracy_m action active actor after amount area_code area_ha arrival_min as_of
    assigned_households assigned_people at basis before begin_min birth_year boundary_derived
    bounds cadre_id cadres cadres_over_limit candidate candidates capacity_households category
    cells changed check_clothing check_education check_food check_housing check_medical checks
    city city_code client_id clinic_id clinic_min clinic_record_mismatch clock_skew_s code
    committee computed_at contiguous county_code created_at created_by criteria criteria_counts
    date day day_id day_start_min days departure_min description distance_m duty elevation_m
    eligible eligible_households end_geom end_name epsg evidence exit_year expires_at
    facility_id fingerprint finish_min flag_cadre flag_clinic flag_hamlet_road
    flag_health_centre flag_road flag_school flag_village_clinic flag_water flags flood_level
    from_candidates_max_min from_candidates_mean_min geom geometry group_key groups hamlet
    hamlet_id hamlet_ids hamlet_name hamlets hamlets_needing_road hard hardened_connected
    hardened_road_m hardening_reason has_standard_clinic hazard_kind hazard_level hazard_share
    health_centre_id health_centre_min hours household_id household_ids household_no
    household_version households households_per_cadre housing_status id income_year inspector
    inspectors is_poor_village karst key_level kind label labour_capacity labour_members
    lacks_standard_clinic lat latitude leg_m leg_min level line listed_road_km
    listed_road_surface listed_safe_water loaded_at lon longitude low_piped_share main_cause
    max_cadre_load measure media_type members minutes must_visit name needs_hardening network
    official_name order pairing_city params path people photo_sha256 piped_household_share
    piped_share piped_water plan_id planned point poor_villages
    poor_villages_without_standard_clinic population priority profile profile_name
    profile_values rank reachable_candidates reason reason_text reasons received_at recorded_at
    registered_year relation relief_m relocated relocation resolution_m result risk_reasons
    risk_score road_class road_hardened road_id road_m role row_id rule sample_size scattered
    scenario scenario_id school_id school_min schooling scope score score_min seat
    secondary_cause seed seq service_min sex sha256 share signed_cadre signed_household
    signed_village site_key site_minutes sites size_bytes slope_deg slope_mean_deg solver source
    standard start_date start_geom start_min start_name started_at status stops strategy surface
    synthetic table_name terrain_note timings title token_hash township_code township_name
    townships travel_min unassigned uncovered unit unit_level unreachable updated_at uploaded_at
    uploaded_by valid_from version village_clinic_id village_clinic_min village_code
    village_name villages visit_date visit_id wait_min water_nearby water_source whole_by
    window_end_min window_start_min within_capacity work_group_id year
    """.split()  # noqa: SIM905 -- a word list reads better as words
)


def rule(output: str, field: str) -> Rule:
    """The rule for ``field`` of ``output`` (a table, layer or file name)."""
    found = BY_OUTPUT.get(f"{output}.{field}") or BY_NAME.get(field)
    if found is not None:
        return found
    for pattern, matched in BY_PATTERN:
        if fnmatch.fnmatchcase(field, pattern):
            return matched
    if field in PUBLIC_NAMES:
        return PUBLIC
    raise UnclassifiedField(
        f"{output}.{field} is not in the sensitivity register (geo/sensitivity.py)"
    )


def hidden_fields(output: str, fields: list[str] | tuple[str, ...]) -> dict[str, Rule]:
    """The fields of ``fields`` that viewers and public outputs do not see as stored."""
    return {f: r for f in fields if not (r := rule(output, f)).is_public}


def public_value(value: object, how: Rule) -> object:
    """One value as a viewer sees it (None where it is never shown)."""
    if how.level is Level.NEVER or value is None:
        return None
    if how.keys and isinstance(value, Mapping):
        value = {k: v for k, v in value.items() if k not in how.keys}
    if how.level is Level.MASKED:
        masker = PYTHON_MASKS.get(how.mask or "")
        return masker(value) if masker else None
    return value


def shown(output: str, field: str, value: object) -> object:
    """``value`` of ``field`` of ``output`` as viewers and public outputs see it.

    >>> shown("route_stop", "head_name", "张三明"), shown("cadre", "phone", "13800000000")
    ('张*明', '13800000000')
    """
    return public_value(value, rule(output, field))


def public_frame(frame: pd.DataFrame, output: str) -> pd.DataFrame:
    """``frame`` as viewers and public outputs see it: masked columns masked, never-public
    columns dropped, never-public keys of JSON columns removed.

    >>> frame = pd.DataFrame({"household_no": ["1"], "head_name": ["张三明"],
    ...                       "income_2017": [5120.0]})
    >>> public_frame(frame, "household").to_dict("records")
    [{'household_no': '1', 'head_name': '张*明'}]
    """
    out = frame.copy()
    for name, how in hidden_fields(output, [str(c) for c in frame.columns]).items():
        if how.level is Level.NEVER or (how.mask and how.mask not in PYTHON_MASKS):
            out = out.drop(columns=name)
        else:
            out[name] = [public_value(v, how) for v in out[name]]
    return out
