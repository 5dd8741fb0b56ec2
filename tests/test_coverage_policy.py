"""The policy profile: defaults with their sources, user files over them, clear errors."""

from __future__ import annotations

import dataclasses
import re

import pytest

from geo.policy import DEFAULT_PROFILE, PolicyError, load_profile


def write(tmp_path, text: str):
    path = tmp_path / "profile.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_every_value_says_where_it_comes_from() -> None:
    rows = list(load_profile().rows())
    assert len(rows) > 20
    for section, key, _, source in rows:
        assert re.match(r"(seeds? 00\d|default|issue 7)", source), (section, key, source)
    cited = {key for _, key, _, source in rows if source.startswith("seed")}
    assert {"hamlet_min_population", "poor_village_standard_clinic", "scattered_only"} <= cited


def test_the_default_file_comments_each_seed_rule() -> None:
    text = DEFAULT_PROFILE.read_text(encoding="utf-8")
    assert "seed 002 §11" in text and "seed 002 §9" in text and "seeds 003/004" in text


def test_defaults_are_the_policy_thresholds() -> None:
    profile = load_profile()
    assert profile.road.max_distance_m == 500
    assert profile.road.hamlet_min_population == 200  # seed 002 §11
    assert profile.clinic.max_minutes == 30
    assert profile.walk.speed_kmh == 4
    assert profile.isochrone.minutes == (15, 30, 60)
    assert profile.network.speed("village", "gravel") == pytest.approx(20 * 0.6)


def test_a_user_file_changes_only_what_it_names(tmp_path) -> None:
    path = write(tmp_path, "[clinic]\nmax_minutes = 45\n[network.speed_kmh]\nvillage = 15\n")
    profile = load_profile(path)
    assert profile.clinic.max_minutes == 45.0
    assert profile.clinic.health_centre_max_minutes == 60.0
    assert profile.network.speed_kmh["village"] == 15 and profile.network.speed_kmh["county"] == 40
    assert profile.fingerprint != load_profile().fingerprint
    assert profile.name == str(path)


def test_false_switches_a_threshold_off(tmp_path) -> None:
    profile = load_profile(write(tmp_path, "[school]\nmax_minutes = false\n"))
    assert profile.school.max_minutes is None


def test_the_profile_is_frozen() -> None:
    profile = load_profile()
    with pytest.raises(dataclasses.FrozenInstanceError):
        profile.clinic.max_minutes = 10  # type: ignore[misc]
    with pytest.raises(TypeError):
        profile.network.speed_kmh["village"] = 99  # type: ignore[index]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[clinic]\nmax_minute = 45\n", r"\[clinic\]: unknown key\(s\) \['max_minute'\]"),
        ("[clinc]\nmax_minutes = 45\n", r"unknown section\(s\) \['clinc'\]"),
        ("[clinic]\nmax_minutes = 'soon'\n", r"\[clinic\] max_minutes: expected a number"),
        ("[road]\nhamlet_min_population = 199.5\n", r"expected a whole number"),
        ("[walk]\nspeed_kmh = -4\n", r"must not be negative"),
        ("[cadre]\nscattered_only = 1\n", r"expected true/false"),
        ("[clinic\nmax_minutes = 45\n", r"not valid TOML"),
    ],
)
def test_bad_profiles_fail_naming_the_key(tmp_path, text: str, message: str) -> None:
    with pytest.raises(PolicyError, match=message):
        load_profile(write(tmp_path, text))


def test_a_missing_file_is_a_clear_error(tmp_path) -> None:
    with pytest.raises(PolicyError, match="profile not found"):
        load_profile(tmp_path / "nope.toml")


def test_other_analyses_read_their_own_section(tmp_path) -> None:
    """A later analysis adds its section to the defaults and reads it as its dataclass."""

    @dataclasses.dataclass(frozen=True)
    class LaterPolicy:
        max_slope_deg: float

    profile = load_profile(overrides={"clinic": {"max_minutes": 20}})
    with pytest.raises(PolicyError, match=r"no \[later_analysis\] section"):
        profile.section("later_analysis", LaterPolicy)
    merged = dict(profile.raw) | {"later_analysis": {"max_slope_deg": 25}}
    extended = dataclasses.replace(profile, raw=merged)
    assert extended.section("later_analysis", LaterPolicy).max_slope_deg == 25.0
    with pytest.raises(PolicyError, match="missing key"):
        dataclasses.replace(profile, raw={"later_analysis": {}}).section(
            "later_analysis", LaterPolicy
        )
