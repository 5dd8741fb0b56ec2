"""The [monitoring] policy, income lines, exit targets and reporting periods (pure Python)."""

from __future__ import annotations

import datetime as dt
from dataclasses import fields

import pytest

from geo.flags import (
    FLAG_KINDS,
    FLAG_RULES,
    MonitoringPolicy,
    Period,
    cumulative_target_share,
    exit_line,
    exit_target_share,
    monitoring_policy,
    profile_line,
    rule_text,
)
from geo.policy import PolicyError, load_profile
from layers.models import FLAG_KIND_CODES


@pytest.fixture(scope="module")
def policy() -> MonitoringPolicy:
    return monitoring_policy(load_profile())


def test_seed_002_lines_in_their_years(policy: MonitoringPolicy) -> None:
    assert exit_line(policy, 2018, labour=True) == 7365  # 45 % of provincial rural income
    # the demo generator's lines (geo/demo/people.py) are the same 7 %/yr series
    assert [exit_line(policy, y, labour=True) for y in (2016, 2017)] == [6433, 6883]
    assert [profile_line(policy, y) for y in (2014, 2016, 2017, 2018)] == [4000, 4580, 4900, 5243]


def test_yearly_targets_are_increments_adding_up_to_everyone(policy: MonitoringPolicy) -> None:
    shares = [exit_target_share(policy, y) for y in (2016, 2017, 2018)]
    assert shares == pytest.approx([0.5 / 1.765, 0.6 / 1.765, 0.665 / 1.765])
    assert cumulative_target_share(policy, 2017) == pytest.approx(1.1 / 1.765)
    assert cumulative_target_share(policy, 2018) == pytest.approx(1.0)
    assert exit_target_share(policy, 2019) == 0


def test_every_threshold_cites_a_seed_or_says_default() -> None:
    for f in fields(MonitoringPolicy):
        source = f.metadata.get("source", "")
        assert "seed" in source or "default" in source or "issue" in source, f.name


def test_rules_show_the_thresholds_in_force() -> None:
    changed = monitoring_policy(
        load_profile(overrides={"monitoring": {"no_help_days": 60, "income_jump_factor": 4}})
    )
    assert "60天" in rule_text(changed, "no_help_record")
    assert "4倍" in rule_text(changed, "income_jump")
    assert set(FLAG_RULES) == set(FLAG_KINDS)
    assert tuple(FLAG_KINDS) == FLAG_KIND_CODES  # the migration's CHECK has every kind


def test_a_misspelt_key_is_an_error_naming_it() -> None:
    profile = load_profile(overrides={"monitoring": {"no_help_dais": 60}})
    with pytest.raises(PolicyError, match="no_help_dais"):
        monitoring_policy(profile)


def test_month_periods_and_their_boundaries() -> None:
    june = Period.of("2018-06")
    assert (june.start, june.as_of, june.year_start) == (
        dt.date(2018, 6, 1),
        dt.date(2018, 6, 30),
        dt.date(2018, 1, 1),
    )
    assert Period.of("2016-02").as_of == dt.date(2016, 2, 29)
    assert Period.containing(dt.date(2018, 12, 31)).month == "2018-12"
    with pytest.raises(ValueError, match="not in the month"):
        Period.of("2018-06", dt.date(2018, 7, 1))
    with pytest.raises(ValueError, match="2018-06"):
        Period.of("June")
