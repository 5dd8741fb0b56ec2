"""The pure parts of import/export: header mapping, value synonyms, checks, masking (no DB)."""

from __future__ import annotations

from datetime import date

import numpy as np
import pandas as pd
import pytest

from geo import idnumber
from geo.columns import code_for_value, map_headers, normalise_header
from geo.crs import wgs84_to_bd09, wgs84_to_gcj02
from geo.masking import mask_id_number, mask_name, mask_phone, neutralise_formula
from geo.validate import (
    check_lonlat,
    duplicates,
    guess_offset,
    parse_date,
    parse_id_numbers,
    parse_int,
    parse_phones,
)


@pytest.mark.parametrize(
    "header, field",
    [
        ("户编号", "household_no"),
        (" 户　编　号 ", "household_no"),
        ("户主姓名（必填）*", "head_name"),
        ("家庭人口数（人）", "members"),
        ("ＰＨＯＮＥ", "phone"),
        ("Household_No", "household_no"),
        ("labour_mem", "labour_members"),  # a shapefile's 10-character name
        ("主要致贫原", "main_cause"),  # 主要致贫原因 cut to 10 GBK bytes
        ("２０１６年人均纯收入", "income_2016"),
        ("人均可支配收入(2017年)", "income_2017"),
        ("inc_2018", "income_2018"),
    ],
)
def test_headers_map_to_fields(header: str, field: str) -> None:
    assert map_headers([header], "households").fields == {header: field}


def test_mapping_overrides_and_unknown_columns() -> None:
    mapped = map_headers(["HH", "户号", "备注"], "households", {"HH": "household_no"})
    assert mapped.fields == {"HH": "household_no"}
    assert mapped.duplicates == {"household_no": ["HH", "户号"]}
    assert mapped.unknown == ["备注"]
    assert normalise_header("纬　度") == "纬度"


@pytest.mark.parametrize(
    "vocab, text, code",
    [
        ("cause", "因病致贫", "illness"),
        ("cause", "缺劳动力", "labour"),
        ("category", "五保户", "tekun"),
        ("category", "dibao", "dibao"),
        ("status", "已脱贫", "exited"),
        ("housing_status", "D级", "dangerous_d"),
        ("road_class", "Y", "township"),
        ("measure", "小额信贷", "finance"),
    ],
)
def test_value_synonyms(vocab: str, text: str, code: str) -> None:
    assert code_for_value(vocab, text) == code


def test_unknown_value_lists_the_choices() -> None:
    with pytest.raises(ValueError, match="expected one of 一般贫困户、低保户、特困供养户"):
        code_for_value("category", "富裕户")


def test_id_numbers_valid_and_excel_damage() -> None:
    good = [idnumber.make("441882", date(1980, 1, 1 + i), i) for i in range(20)]
    damaged = ["4.41882198001011E+17", 441882198001011000, "441882198001011000", "441882198001011"]
    values, problems = parse_id_numbers(pd.Series(good + damaged, dtype=object))
    assert values.iloc[:20].tolist() == good
    assert [p.index for p in problems] == [20, 21, 22, 23]
    assert "scientific notation" in problems[0].message
    assert "stored as a number" in problems[1].message
    assert "rounded by Excel" in problems[2].message
    assert "15 digits" in problems[3].message


def test_full_width_numbers_and_ranges() -> None:
    values, problems = parse_int(pd.Series(["４", "3.0", "2.5", "-1"]), "members", low=1)
    assert values.tolist() == [4, 3, None, None]
    assert [p.message for p in problems] == ["'2.5' is not a whole number", "-1 is below 1"]


def test_phones_and_dates() -> None:
    _, problems = parse_phones(
        pd.Series(["13800000000", "0763-6601234", "+86 13800000000", "1234"])
    )
    assert [p.index for p in problems] == [3]
    values, problems = parse_date(
        pd.Series(["2016-09-01", "2016年9月1日", "20160901", "2016-02-30"]), "d"
    )
    assert values.iloc[:3].tolist() == [date(2016, 9, 1)] * 3
    assert problems[0].message == "'2016-02-30' is not a calendar date"


def test_duplicates_name_the_first_row() -> None:
    problems = duplicates(pd.Series(["a", "b", "a", None, None]), "no", [2, 3, 4, 5, 6])
    assert [(p.index, p.message) for p in problems] == [(2, "a repeats row 2")]


def test_swapped_and_outside() -> None:
    problems = check_lonlat(np.array([24.8, 121.47, np.nan]), np.array([112.4, 31.23, 24.8]))
    assert [p.message.split(" ")[0] for p in problems] == ["latitude", "(121.470000,", "missing"]


def test_offset_guess_finds_gcj02_and_bd09() -> None:
    import shapely

    west = shapely.box(112.40, 24.80, 112.42, 24.82)
    polygons = np.array([west] * 10, dtype=object)
    x, y = np.linspace(112.415, 112.419, 10), np.full(10, 24.81)
    assert guess_offset(x, y, polygons).better is None
    assert guess_offset(*wgs84_to_gcj02(x, y), polygons).better == "gcj02"
    assert guess_offset(*wgs84_to_bd09(x, y), polygons).better == "bd09"


def test_masks() -> None:
    assert (mask_name("张三明"), mask_name("张三"), mask_name("欧阳小明")) == (
        "张*明",
        "张*",
        "欧**明",
    )
    assert mask_id_number("44188219900101123X") == "441882********123X"
    assert mask_phone("13812345678") == "138****5678"
    assert mask_phone("0763-6601234") == "076*-***1234"
    assert [neutralise_formula(v) for v in ("=1+1", "+86", "-x", "@A1", "ok", -3)] == [
        "'=1+1",
        "'+86",
        "'-x",
        "'@A1",
        "ok",
        -3,
    ]
