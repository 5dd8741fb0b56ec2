"""Policy profiles: the thresholds and speeds of the analyses, out of the code.

The defaults live in ``geo/policy/default.toml`` (each value commented with the seed file it
comes from, or marked as a default of ours); the same source is kept machine-readable in the
``source`` metadata of the dataclass fields below, so exports can print it next to the value.
A user profile (a TOML file) repeats only the fields it changes and is merged over the
defaults; every key is checked, so a typo is an error naming the key, not a silent default.

Sections are plain frozen dataclasses. Another analysis adds its own section without touching
this module: put ``[relocation]`` into default.toml and read it with
``profile.section("relocation", RelocationPolicy)``.

>>> profile = load_profile()
>>> profile.clinic.max_minutes
30.0
>>> load_profile(overrides={"clinic": {"max_minutes": 45}}).clinic.max_minutes
45.0
>>> source_of(ClinicPolicy, "poor_village_standard_clinic")
'seed 002 §9 (村村有标准化卫生站)'
"""

from __future__ import annotations

import hashlib
import json
import tomllib
import types
import typing
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, TypeVar

DEFAULT_PROFILE = Path(__file__).resolve().parent / "policy" / "default.toml"
T = TypeVar("T")


class PolicyError(ValueError):
    """A profile that cannot be used; the message names the file and the key."""


def cite(source: str) -> dict[str, str]:
    """Field metadata naming where a value comes from ('seed 002 §11' or 'default: ...')."""
    return {"source": source}


def source_of(cls: type, name: str) -> str:
    return next(f.metadata.get("source", "") for f in fields(cls) if f.name == name)


@dataclass(frozen=True)
class AssessPolicy:
    statuses: tuple[str, ...] = field(metadata=cite("default: all registered households"))


@dataclass(frozen=True)
class NetworkPolicy:
    snap_m: float = field(metadata=cite("default: joins road ends within digitising error"))
    margin_m: float = field(metadata=cite("default: roads/facilities loaded beyond the area"))
    speed_kmh: Mapping[str, float] = field(
        metadata=cite("default: JTG B01-2014 design speeds lowered for mountain roads")
    )
    surface_factor: Mapping[str, float] = field(metadata=cite("default: AccessMod-style table"))

    def speed(self, road_class: str, surface: str) -> float:
        """km/h on a road of ``road_class`` and ``surface``; KeyError names an unknown value."""
        if road_class not in self.speed_kmh:
            raise KeyError(f"no speed for road class {road_class!r} in [network.speed_kmh]")
        if surface not in self.surface_factor:
            raise KeyError(f"no factor for surface {surface!r} in [network.surface_factor]")
        return self.speed_kmh[road_class] * self.surface_factor[surface]


@dataclass(frozen=True)
class WalkPolicy:
    speed_kmh: float = field(metadata=cite("default: issue 7 (AccessMod flat walking speed)"))
    tobler: bool = field(metadata=cite("default: off"))
    tobler_step_m: float = field(metadata=cite("default: about the DEM resolution"))
    max_walk_m: float = field(metadata=cite("default: farther from every road is off-network"))


@dataclass(frozen=True)
class RoadPolicy:
    max_distance_m: float | None = field(metadata=cite("default: issue 7 example (500 m)"))
    hamlet_min_population: int = field(metadata=cite("seed 002 §11 (200人以上的自然村)"))
    hamlet_poor_villages_only: bool = field(metadata=cite("seed 002 §11 (贫困村)"))
    hamlet_use_recorded: bool = field(metadata=cite("default: recorded road_hardened counts"))
    trunk_classes: tuple[str, ...] = field(metadata=cite("default: county roads and above"))


@dataclass(frozen=True)
class ClinicPolicy:
    max_minutes: float | None = field(metadata=cite("default: issue 7 example (30 min)"))
    village_clinic_max_minutes: float | None = field(metadata=cite("default: not assessed"))
    health_centre_max_minutes: float | None = field(metadata=cite("default: 60 min"))
    include_substandard: bool = field(metadata=cite("default: any village clinic counts"))
    poor_village_standard_clinic: bool = field(metadata=cite("seed 002 §9 (村村有标准化卫生站)"))


@dataclass(frozen=True)
class WaterPolicy:
    assess: bool = field(metadata=cite("seed 002 §11 (村村通自来水)"))
    supply_area_counts: bool = field(metadata=cite("default: a supply area means piped"))
    village_min_share: float = field(metadata=cite("default: half of the people"))


@dataclass(frozen=True)
class SchoolPolicy:
    max_minutes: float | None = field(metadata=cite("default: no seed gives a number"))
    levels: tuple[str, ...] = field(metadata=cite("default: compulsory-education levels"))


@dataclass(frozen=True)
class CadrePolicy:
    scattered_only: bool = field(metadata=cite("seeds 003/004 (每个分散贫困户都有干部联系帮扶)"))
    max_households: int = field(metadata=cite("default: seeds 003/004 say 若干"))


@dataclass(frozen=True)
class IsochronePolicy:
    minutes: tuple[float, ...] = field(metadata=cite("issue 7: 15/30/60-minute catchments"))
    cell_m: float = field(metadata=cite("default: travel-time grid cell"))


CORE_SECTIONS: dict[str, type] = {
    "assess": AssessPolicy,
    "network": NetworkPolicy,
    "walk": WalkPolicy,
    "road": RoadPolicy,
    "clinic": ClinicPolicy,
    "water": WaterPolicy,
    "school": SchoolPolicy,
    "cadre": CadrePolicy,
    "isochrone": IsochronePolicy,
}


@dataclass(frozen=True)
class Profile:
    """A loaded policy profile: typed core sections plus the merged raw tables."""

    name: str
    raw: Mapping[str, Any]
    assess: AssessPolicy
    network: NetworkPolicy
    walk: WalkPolicy
    road: RoadPolicy
    clinic: ClinicPolicy
    water: WaterPolicy
    school: SchoolPolicy
    cadre: CadrePolicy
    isochrone: IsochronePolicy

    def section(self, name: str, cls: type[T]) -> T:
        """Section ``name`` as dataclass ``cls`` (for sections other analyses add)."""
        if name not in self.raw:
            raise PolicyError(f"profile {self.name}: no [{name}] section")
        return build_section(cls, self.raw[name], f"{self.name} [{name}]")

    @property
    def fingerprint(self) -> str:
        """Short hash of the merged values: results say which profile made them."""
        text = json.dumps(_plain(self.raw), sort_keys=True, ensure_ascii=False)
        return hashlib.sha256(text.encode()).hexdigest()[:12]

    def as_dict(self) -> dict[str, Any]:
        return _plain(self.raw)

    def rows(self) -> Iterator[tuple[str, str, Any, str]]:
        """(section, key, value, source) of every core value, for exports and reports."""
        for name, cls in CORE_SECTIONS.items():
            section = getattr(self, name)
            for f in fields(cls):
                yield name, f.name, getattr(section, f.name), f.metadata.get("source", "")


def load_profile(
    path: str | Path | None = None, overrides: Mapping[str, Any] | None = None
) -> Profile:
    """The default profile, with the TOML file at ``path`` and then ``overrides`` over it."""
    merged = _read_toml(DEFAULT_PROFILE)
    name = "default"
    if path is not None:
        user = _read_toml(Path(path))
        _check_known(user, merged, str(path))
        merged = deep_merge(merged, user)
        name = str(path)
    if overrides:
        _check_known(overrides, merged, "overrides")
        merged = deep_merge(merged, overrides)
        name += "+overrides"
    sections = {
        key: build_section(cls, merged.get(key, {}), f"{name} [{key}]")
        for key, cls in CORE_SECTIONS.items()
    }
    return Profile(name=name, raw=types.MappingProxyType(merged), **sections)


def deep_merge(base: Mapping[str, Any], over: Mapping[str, Any]) -> dict[str, Any]:
    """``over`` merged into a copy of ``base``; nested tables merge key by key."""
    result = dict(base)
    for key, value in over.items():
        if isinstance(value, Mapping) and isinstance(result.get(key), Mapping):
            result[key] = deep_merge(result[key], value)
        else:
            result[key] = value
    return result


def build_section(cls: type[T], table: Mapping[str, Any], where: str) -> T:
    """Dataclass ``cls`` from a TOML table; unknown or missing keys and wrong types fail."""
    if not isinstance(table, Mapping):
        raise PolicyError(f"{where}: expected a table, got {table!r}")
    hints = typing.get_type_hints(cls)
    known = {f.name for f in fields(cls)}
    unknown = sorted(set(table) - known)
    if unknown:
        raise PolicyError(f"{where}: unknown key(s) {unknown}; known: {sorted(known)}")
    missing = sorted(known - set(table))
    if missing:
        raise PolicyError(f"{where}: missing key(s) {missing}")
    values = {k: _coerce(table[k], hints[k], f"{where} {k}") for k in known}
    return cls(**values)


def _coerce(value: Any, hint: Any, where: str) -> Any:
    """TOML value → the field's type. ``false`` switches an optional threshold off."""
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin in (types.UnionType, typing.Union) and type(None) in args:
        if value is False:
            return None
        (inner,) = [a for a in args if a is not type(None)]
        return _coerce(value, inner, where)
    if hint is bool:
        if not isinstance(value, bool):
            raise PolicyError(f"{where}: expected true/false, got {value!r}")
        return value
    if hint in (int, float):
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise PolicyError(f"{where}: expected a number, got {value!r}")
        if hint is int and not float(value).is_integer():
            raise PolicyError(f"{where}: expected a whole number, got {value!r}")
        if value < 0:
            raise PolicyError(f"{where}: must not be negative, got {value!r}")
        return hint(value)
    if origin is tuple:
        if not isinstance(value, list):
            raise PolicyError(f"{where}: expected a list, got {value!r}")
        return tuple(_coerce(v, args[0], where) for v in value)
    if origin in (Mapping, dict) or hint is Mapping:
        if not isinstance(value, Mapping):
            raise PolicyError(f"{where}: expected a table, got {value!r}")
        return types.MappingProxyType(
            {k: _coerce(v, args[1], f"{where}.{k}") for k, v in value.items()}
        )
    if hint is str:
        if not isinstance(value, str):
            raise PolicyError(f"{where}: expected text, got {value!r}")
        return value
    raise PolicyError(f"{where}: unsupported type {hint!r}")  # pragma: no cover


def _read_toml(path: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as f:
            return tomllib.load(f)
    except FileNotFoundError as exc:
        raise PolicyError(f"profile not found: {path}") from exc
    except tomllib.TOMLDecodeError as exc:
        raise PolicyError(f"{path}: not valid TOML: {exc}") from exc


def _check_known(user: Mapping[str, Any], base: Mapping[str, Any], where: str) -> None:
    """A user profile may only change sections the defaults (or another analysis) define;
    a misspelt section would otherwise be ignored without a word."""
    unknown = sorted(set(user) - set(base))
    if unknown:
        raise PolicyError(f"{where}: unknown section(s) {unknown}; known: {sorted(base)}")


def _plain(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return value
