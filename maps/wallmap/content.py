"""The sheet's tables built from the data: per-village statistics, the work group's roster
with each member's paired households (seed 004 "六有": names, duties, phones, and the
distribution of scattered poor households), and the leaders' box.

Pure data → :class:`~maps.wallmap.tables.Table`; no drawing here.
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from geo import vocab
from layers.wallmap_data import SheetData
from maps.wallmap.tables import Column, Table

ROLE_LABELS = {**vocab.WG_ROLE, "other": "帮扶责任人"}
UNASSIGNED_FILL = "#fbe3e1"
TOTAL_FILL = "#e9e9e9"


def village_statistics(sheet: SheetData) -> pd.DataFrame:
    """Per village: households, people, 未脱贫/返贫/已脱贫, exit share, households without
    a cadre."""
    hh = sheet.households
    villages = sheet.villages[["code", "name", "key_level"]].copy()
    grouped = hh.groupby("village_code")
    stats = pd.DataFrame(
        {
            "households": grouped.size(),
            "people": grouped["members"].sum(),
            "poor": grouped["status"].apply(lambda s: int((s == "poor").sum())),
            "returned": grouped["status"].apply(lambda s: int((s == "returned").sum())),
            "exited": grouped["status"].apply(lambda s: int((s == "exited").sum())),
            "no_cadre": grouped["cadre_id"].apply(lambda s: int(s.isna().sum())),
        }
    )
    if "uncovered" in hh and hh["uncovered"].notna().any():  # coverage has been computed
        stats["uncovered"] = grouped["uncovered"].apply(lambda s: int(s.eq(True).sum()))
    out = villages.merge(stats, left_on="code", right_index=True, how="left").fillna(
        {c: 0 for c in stats.columns}
    )
    for column in stats.columns:
        out[column] = out[column].astype(int)
    return out


def statistics_table(sheet: SheetData) -> Table:
    """各村分散贫困户统计: one row per village and a total row; 未覆盖 once coverage exists."""
    stats = village_statistics(sheet)
    covered = "uncovered" in stats
    counts = ["households", "people", "poor", "returned", "exited", "no_cadre"]
    counts += ["uncovered"] if covered else []
    rows, styles = [], {}
    for _, v in stats.iterrows():
        key = isinstance(v["key_level"], str)
        name = ("★" if key else "") + v["name"]
        rows.append(_stat_cells(name, v, covered))
    total = stats[counts].sum()
    styles[len(rows)] = {"bold": True, "fill": TOTAL_FILL}
    rows.append(_stat_cells("合计", total, covered))
    columns = [
        Column("村名", 8),
        Column("户数", 6, "right"),
        Column("人数", 6, "right"),
        Column("未脱贫", 6, "right"),
        Column("返贫", 6, "right"),
        Column("已脱贫", 6, "right"),
        Column("脱贫率", 6, "right"),
        Column("无帮扶人", 6, "right"),
    ]
    if covered:
        columns.append(Column("未覆盖", 6, "right"))
    return Table(columns, rows, styles)


def _stat_cells(name: str, v, covered: bool = False) -> list[str]:
    n = int(v["households"])
    width = 8 if covered else 7
    if n == 0:
        return [name] + ["—"] * width
    share = int(v["exited"]) / n
    cells = [
        name, f"{n:,}", f"{int(v['people']):,}", f"{int(v['poor']):,}", f"{int(v['returned']):,}",
        f"{int(v['exited']):,}", f"{share:.0%}", f"{int(v['no_cadre']):,}",
    ]  # fmt: skip
    if covered:
        cells.append(f"{int(v['uncovered']):,}")
    return cells


@dataclass(frozen=True)
class Leader:
    role: str
    name: str
    unit: str
    phone: str
    duty: str


def leaders(sheet: SheetData) -> list[Leader]:
    """组长 and 副组长 of the township's work group (seed 004: 可设组长、副组长各1名)."""
    roster = sheet.roster
    out = []
    for _, r in roster[roster["role"].isin(["leader", "deputy"])].iterrows():
        out.append(
            Leader(
                ROLE_LABELS[r["role"]],
                r["name"],
                r["unit"] or "",
                r["phone"] or "",
                r["duty"] or "",
            )
        )
    return out


def _members(sheet: SheetData) -> pd.DataFrame:
    """Roster members in order (组长, 副组长, 成员), then cadres of shown households who are
    not in the group (e.g. key villages' resident teams)."""
    members = sheet.roster[["cadre_id", "name", "unit", "phone", "role", "duty"]].copy()
    outside = sheet.cadres[~sheet.cadres["cadre_id"].isin(members["cadre_id"])]
    if not outside.empty:
        extra = outside.assign(role="other", duty="")[members.columns]
        members = pd.concat([members, extra], ignore_index=True)
    return members


def roster_table(sheet: SheetData) -> Table:
    """帮扶工作组人员及分工 (seed 004 "六有": 姓名、分工、联系电话), one line per member."""
    rows, styles = [], {}
    for i, m in enumerate(_members(sheet).itertuples(index=False), start=1):
        rows.append(
            [
                str(i),
                m.name,
                ROLE_LABELS.get(m.role, m.role),
                m.unit or "",
                m.phone or "",
                m.duty or "",
            ]
        )
        if m.role in ("leader", "deputy"):
            styles[len(rows) - 1] = {"bold": True}
    columns = [
        Column("序号", 4, "right"),
        Column("姓名", 6),
        Column("职务", 4),
        Column("工作单位", 12),
        Column("联系电话", 8),
        Column("分工", 16),
    ]
    return Table(columns, rows, styles)


def pairing_table(sheet: SheetData, *, with_roster: bool = True) -> Table:
    """帮扶工作组成员及结对帮扶户: each member with the households they are paired with (by
    village), then the households without a cadre. ``with_roster`` adds unit and duty (when
    the roster is not printed elsewhere on the sheet)."""
    hh = sheet.households
    village_names = dict(zip(sheet.villages["code"], sheet.villages["name"], strict=True))
    lists = household_lists(hh, village_names)
    rows, styles = [], {}
    for i, m in enumerate(_members(sheet).itertuples(index=False), start=1):
        households = lists.get(m.cadre_id, "")
        role = ROLE_LABELS.get(m.role, m.role)
        if with_roster:
            rows.append(
                [str(i), m.name, role, m.unit or "", m.phone or "", m.duty or "", households]
            )
        else:
            rows.append([str(i), m.name, role, m.phone or "", households])
        if m.role in ("leader", "deputy"):
            styles[len(rows) - 1] = {"bold": True}
    unassigned = hh[hh["cadre_id"].isna()]
    if not unassigned.empty:
        styles[len(rows)] = {"bold": True, "fill": UNASSIGNED_FILL, "colour": "#8b1a1a"}
        note = "尚无帮扶责任人，须尽快落实"
        cells = (
            ["", "（未落实）", "", "", "", note] if with_roster else ["", "（未落实）", "", note]
        )
        rows.append([*cells, lists.get(None, "")])
    columns = [Column("序号", 4, "right"), Column("姓名", 6), Column("职务", 4)]
    if with_roster:
        columns += [Column("工作单位", 9.4), Column("联系电话", 8), Column("分工", 10.4)]
    else:
        columns += [Column("联系电话", 8)]
    columns.append(Column("结对帮扶户（户主）", 24.0 if with_roster else 28.0, shrink=False))
    return Table(columns, rows, styles)


def household_lists(households: pd.DataFrame, village_names: dict[str, str]) -> dict:
    """cadre id (None: no cadre) → '12户（未脱贫3） 西洞村：朱梅雪、曾东成；上楼村：…'.

    Names are masked on public sheets (they come masked from the query).
    """
    if households.empty:
        return {}
    frame = households[["id", "cadre_id", "village_code", "head_name", "status"]].copy()
    frame["key"] = frame["cadre_id"].astype("float").fillna(-1).astype(int)
    frame["open"] = frame["status"] != "exited"
    frame = frame.sort_values(["key", "village_code", "id"])
    names = frame.groupby(["key", "village_code"], sort=True)["head_name"].agg(
        lambda s: "、".join(s.astype(str))
    )
    totals = frame.groupby("key").agg(n=("id", "size"), open=("open", "sum"))
    out = {}
    for key, total in totals.iterrows():
        parts = [
            f"{village_names.get(code, code)}：{text}" for code, text in names.loc[key].items()
        ]
        head = f"{int(total['n'])}户" + (f"（未脱贫{int(total['open'])}）" if total["open"] else "")
        out[None if key == -1 else int(key)] = head + " " + "；".join(parts)
    return out


def count_summary(sheet: SheetData) -> dict[str, int]:
    hh = sheet.households
    return {
        "households": len(hh),
        "people": int(hh["members"].sum()) if len(hh) else 0,
        "poor": int((hh["status"] == "poor").sum()),
        "returned": int((hh["status"] == "returned").sum()),
        "exited": int((hh["status"] == "exited").sum()),
        "members": len(sheet.roster),
        "no_cadre": int(hh["cadre_id"].isna().sum()),
    }


def change_summary_table(sheet: SheetData) -> Table:
    """变化统计: per village, the households that exited, returned to poverty (返贫), were newly
    registered, moved, or left the township since ``sheet.changes_since``; a total row."""
    from geo.changes import KINDS

    changes = sheet.changes
    names = dict(zip(sheet.villages["code"], sheet.villages["name"], strict=True))
    rows, styles = [], {}
    totals = dict.fromkeys(KINDS, 0)
    village = changes["village_now"].fillna(changes["village_before"])
    for code in sheet.villages["code"]:
        mine = changes[village == code]
        counts = dict.fromkeys(KINDS, 0)
        for kinds in mine["kinds"]:
            for kind in kinds:
                counts[kind] += 1
                totals[kind] += 1
        rows.append([names[code], *(f"{counts[k]:,}" for k in KINDS)])
    styles[len(rows)] = {"bold": True, "fill": TOTAL_FILL}
    rows.append(["合计", *(f"{totals[k]:,}" for k in KINDS)])
    columns = [Column("村名", 8)] + [Column(label, 7, "right") for label in KINDS.values()]
    return Table(columns, rows, styles)


def change_list_table(sheet: SheetData) -> Table:
    """变化户名单: each changed household with its village, head (masked on public sheets),
    what changed, status then and now, and its cadre."""
    from geo.changes import KINDS

    changes = sheet.changes
    names = dict(zip(sheet.villages["code"], sheet.villages["name"], strict=True))
    cadres = dict(zip(sheet.cadres["cadre_id"], sheet.cadres["name"], strict=True))
    cadre_of = dict(zip(sheet.households["id"], sheet.households["cadre_id"], strict=True))
    rows = []
    for i, c in enumerate(changes.itertuples(index=False), start=1):
        village = c.village_now if isinstance(c.village_now, str) else c.village_before
        cadre = cadre_of.get(c.id)
        rows.append(
            [
                str(i),
                names.get(village, village or ""),
                c.head_name or "",
                "、".join(KINDS[k] for k in c.kinds),
                vocab.STATUS.get(c.status_before, "—"),
                vocab.STATUS.get(c.status_now, "—"),
                cadres.get(cadre, "") if pd.notna(cadre) else "",
            ]
        )
    columns = [
        Column("序号", 4, "right"),
        Column("村名", 8),
        Column("户主", 6),
        Column("变化", 10),
        Column("原状态", 5),
        Column("现状态", 5),
        Column("帮扶责任人", 6),
    ]
    return Table(columns, rows)
