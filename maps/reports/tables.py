"""The report's tables with Chinese headers, shared by the XLSX and the PDF.

Each table is a :class:`Table`: a DataFrame whose columns are the Chinese headers, the
number format of each column, and a totals row where one makes sense. No drawing here.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pandas as pd

from geo import vocab
from geo.flags import FLAG_KINDS, SYNTHETIC_NOTE, exit_line, profile_line, rule_source, rule_text
from layers.reports import MonthlyReport

INTEGER, MONEY, PERCENT, DATE, TEXT, DECIMAL = "int", "money", "pct", "date", "text", "dec"


@dataclass
class Table:
    """A sheet of the report: title, data (Chinese headers) and a format per column."""

    sheet: str
    title: str
    data: pd.DataFrame
    formats: dict[str, str] = field(default_factory=dict)
    total_row: bool = False

    def with_total(self, label_column: str, label: str = "合计") -> Table:
        numbers = [c for c, f in self.formats.items() if f in (INTEGER, MONEY)]
        total = {c: self.data[c].sum() for c in numbers}
        total[label_column] = label
        data = pd.concat([self.data, pd.DataFrame([total])], ignore_index=True)
        return Table(self.sheet, self.title, data, self.formats, True)


def unit_header(report: MonthlyReport) -> tuple[str, str]:
    return ("村代码", "行政村") if report.area.level == "township" else ("乡镇代码", "乡镇")


def _share(numerator: pd.Series, denominator: pd.Series) -> pd.Series:
    return numerator / denominator.where(denominator > 0)


def summary_rows(report: MonthlyReport) -> list[tuple[str, object, str]]:
    """(项目, 数值, 说明) of the summary sheet and the PDF's first page."""
    s, p, area = report.summary, report.period, report.area
    rows: list[tuple[str, object, str]] = [
        ("地区", f"{area.title}（{area.code}）", "乡镇报告按行政村汇总，县报告按乡镇汇总"),
        ("报告月份", p.label, "每月一报（seed 001）"),
        ("数据截至", p.as_of, "各项状态为该日的动态档案记录"),
        ("生成时间", report.generated_at.strftime("%Y-%m-%d %H:%M"), ""),
        ("政策口径", f"{report.profile_name}（{report.profile_fingerprint}）", "见“口径说明”"),
    ]
    if report.synthetic:
        rows.append(("数据说明", SYNTHETIC_NOTE, "演示数据，非真实人员"))
    rows += [
        ("建档立卡户数", s["households"], ""),
        ("建档立卡人数", s["people"], ""),
        ("未脱贫户数", s["poor_households"], f"{s['poor_people']:,}人"),
        ("已脱贫户数", s["exited_households"], f"{s['exited_people']:,}人"),
        ("返贫户数", s["returned_households"], ""),
        ("本月脱贫户数", s["exits_month_households"], f"{s['exits_month_people']:,}人"),
        ("本年脱贫人数", s["exits_year_people"], f"{s['exits_year_households']:,}户"),
        ("本年脱贫目标人数", s["target_year_people"], "seed 002 §3 年度目标按本地建档人数折算"),
        ("本年目标完成率", s["progress_year"], ""),
        ("至年底累计目标人数", s["target_cumulative_people"], "seed 002 §3"),
        (
            "收入年度",
            s["income_year"],
            f"最近一年收入；脱贫线{exit_line(report.policy, s['income_year'], labour=True):,.0f}元"
            f"（有劳动力户），{profile_line(report.policy, s['income_year']):,.0f}元（无劳动力户）",
        ),
        ("收入中位数（元）", s["median_income"], "人均可支配收入"),
        ("曾为危房户数", s["dangerous_ever"], ""),
        ("仍为危房户数", s["still_dangerous"], "到2018年底全面完成（seed 002 §10）"),
        ("本月帮扶记录", s["records_month"], f"本年{s['records_year']:,}条"),
        ("帮扶干部人数", s["cadres"], f"无帮扶干部的户：{s['without_cadre']:,}"),
        ("预警条数", s["flags"], "见“预警汇总”“预警明细”"),
    ]
    return rows


def status_table(report: MonthlyReport) -> Table:
    code, name = unit_header(report)
    f = report.status
    data = pd.DataFrame(
        {
            code: f["unit"],
            name: f["name"],
            "户数": f["households"],
            "人数": f["people"],
            "未脱贫户": f["poor_households"],
            "未脱贫人": f["poor_people"],
            "已脱贫户": f["exited_households"],
            "已脱贫人": f["exited_people"],
            "返贫户": f["returned_households"],
            "返贫人": f["returned_people"],
            "分散贫困户": f["scattered_households"],
        }
    )
    formats = {c: INTEGER for c in data.columns[2:]} | {code: TEXT, name: TEXT}
    table = Table("户数人数", "建档立卡户数、人数（按状态）", data, formats).with_total(name)
    table.data["脱贫人口占比"] = _share(table.data["已脱贫人"], table.data["人数"])
    table.formats["脱贫人口占比"] = PERCENT
    return table


def exits_table(report: MonthlyReport) -> Table:
    code, name = unit_header(report)
    f = report.exits
    data = pd.DataFrame(
        {
            code: f["unit"],
            name: f["name"],
            "本月脱贫户": f["exits_month_households"],
            "本月脱贫人": f["exits_month_people"],
            "本年脱贫户": f["exits_year_households"],
            "本年脱贫人": f["exits_year_people"],
            "本年目标人数": f["target_year_people"],
            "本月返贫户": f["returns_month_households"],
            "本年返贫户": f["returns_year_households"],
            "累计已脱贫人": f["exited_people"],
            "至年底累计目标人数": f["target_cumulative_people"],
        }
    )
    formats = {c: INTEGER for c in data.columns[2:]} | {code: TEXT, name: TEXT}
    table = Table("脱贫进度", "脱贫进度与目标（seed 002 §3）", data, formats).with_total(name)
    table.data.insert(7, "本年完成率", _share(table.data["本年脱贫人"], table.data["本年目标人数"]))
    table.data["累计完成率"] = _share(table.data["累计已脱贫人"], table.data["至年底累计目标人数"])
    table.formats |= {"本年完成率": PERCENT, "累计完成率": PERCENT}
    return table


def progress_table(report: MonthlyReport) -> Table:
    f = report.progress
    data = pd.DataFrame(
        {
            "月份": f["month"],
            "月末日期": f["month_end"],
            "月末未脱贫户": f["poor_households"],
            "月末已脱贫户": f["exited_households"],
            "月末返贫户": f["returned_households"],
            "当月脱贫户": f["exits_households"],
            "当月脱贫人": f["exits_people"],
            "本年累计脱贫户": f["exits_households_cumulative"],
            "本年累计脱贫人": f["exits_people_cumulative"],
            "本年目标人数": f["target_year_people"],
        }
    )
    data["累计完成率"] = _share(data["本年累计脱贫人"], data["本年目标人数"])
    formats = {c: INTEGER for c in data.columns[2:]} | {
        "月份": TEXT,
        "月末日期": DATE,
        "累计完成率": PERCENT,
    }
    return Table("逐月进度", f"{report.period.start.year}年逐月进度", data, formats)


def income_table(report: MonthlyReport) -> Table:
    f = report.income
    data = pd.DataFrame(
        {
            "收入区间": f["label"],
            "未脱贫户": f["poor"],
            "已脱贫户": f["exited"],
            "返贫户": f["returned"],
            "合计户数": f["households"],
        }
    )
    formats = {"收入区间": TEXT} | {c: INTEGER for c in data.columns[1:]}
    year = report.summary["income_year"]
    title = (
        f"{year}年人均可支配收入分布（脱贫线：有劳动力户"
        f"{exit_line(report.policy, year, labour=True):,.0f}元，无劳动力户"
        f"{profile_line(report.policy, year):,.0f}元）"
    )
    return Table("收入分布", title, data, formats).with_total("收入区间")


def histogram_table(report: MonthlyReport) -> Table:
    f = report.income_histogram
    lower = f["bucket"].astype(int)
    label = [f"{lo:,}–{lo + 500:,}" for lo in lower]
    if len(f):
        label[-1] = label[-1] if lower.iloc[-1] < 15_000 else f"≥{lower.iloc[-1]:,}"
    data = pd.DataFrame(
        {
            "收入（元）": label,
            "下限": lower,
            "未脱贫户": f["poor"],
            "已脱贫户": f["exited"],
            "返贫户": f["returned"],
        }
    )
    formats = {"收入（元）": TEXT} | {c: INTEGER for c in data.columns[1:]}
    return Table("收入分档", "人均收入分档（每500元）", data, formats)


def housing_table(report: MonthlyReport) -> Table:
    code, name = unit_header(report)
    f = report.housing
    data = pd.DataFrame(
        {
            code: f["unit"],
            name: f["name"],
            "曾为危房户": f["dangerous_ever"],
            "已改造或搬迁": f["rebuilt"],
            "仍为危房户": f["still_dangerous"],
            "其中C级": f["still_c"],
            "其中D级": f["still_d"],
            "已脱贫仍住危房": f["exited_in_danger"],
            "本月完成改造": f["rebuilt_month"],
            "本年完成改造": f["rebuilt_year"],
        }
    )
    formats = {c: INTEGER for c in data.columns[2:]} | {code: TEXT, name: TEXT}
    table = Table("危房改造", "危房改造进度（seed 002 §10）", data, formats).with_total(name)
    table.data.insert(4, "改造完成率", _share(table.data["已改造或搬迁"], table.data["曾为危房户"]))
    table.formats["改造完成率"] = PERCENT
    return table


def measures_table(report: MonthlyReport) -> Table:
    f = report.measures
    data = pd.DataFrame(
        {
            "帮扶措施（九到户）": f["label"],
            "本月记录数": f["records_month"],
            "本月帮扶户数": f["households_month"],
            "本年记录数": f["records_year"],
            "本年帮扶户数": f["households_year"],
            "本年金额（元）": f["amount_year"],
            "本年三方签字齐全": f["fully_signed_year"],
        }
    )
    formats = {"帮扶措施（九到户）": TEXT} | {c: INTEGER for c in data.columns[1:]}
    formats["本年金额（元）"] = MONEY
    table = Table("帮扶措施", "帮扶记录（按九到户措施，seed 003）", data, formats)
    return table.with_total("帮扶措施（九到户）")


def cadres_table(report: MonthlyReport) -> Table:
    f = report.cadres
    days = report.policy.no_help_days
    data = pd.DataFrame(
        {
            "干部ID": f["cadre_id"],
            "帮扶干部": f["name"],
            "单位": f["unit"],
            "层级": f["unit_level"].map(vocab.UNIT_LEVEL),
            "联系户数": f["households"],
            "其中未脱贫/返贫": f["poor_households"],
            "本月记录": f["records_month"],
            "本年记录": f["records_year"],
            "最近记录日期": f["last_record"],
            f"超过{days}天未走访户数": f["households_unvisited"],
        }
    )
    formats = {
        "干部ID": INTEGER,
        "帮扶干部": TEXT,
        "单位": TEXT,
        "层级": TEXT,
        "最近记录日期": DATE,
    } | {c: INTEGER for c in data.columns[4:] if c != "最近记录日期"}
    return Table("干部帮扶", "帮扶责任人工作量（seeds 003/004）", data, formats)


COVERAGE_HEADERS = {
    "households": "户数",
    "uncovered": "未覆盖户",
    "flag_road": "远离硬化路",
    "flag_hamlet_road": "自然村路未硬化",
    "flag_clinic": "就医远",
    "flag_water": "无自来水",
    "flag_school": "上学远",
    "flag_cadre": "无帮扶干部",
}


def coverage_table(report: MonthlyReport) -> Table | None:
    if report.coverage is None:
        return None
    code, name = unit_header(report)
    f = report.coverage
    data = pd.DataFrame({code: f["unit"], name: f["name"]})
    for column, header in COVERAGE_HEADERS.items():
        data[header] = f[column]
    data["计算时间"] = pd.to_datetime(f["computed_at"]).dt.strftime("%Y-%m-%d %H:%M")
    formats = {code: TEXT, name: TEXT, "计算时间": TEXT} | {
        h: INTEGER for h in COVERAGE_HEADERS.values()
    }
    title = "基础设施与帮扶覆盖（gongjian coverage 的最近结果，非按月回溯）"
    return Table("覆盖情况", title, data, formats).with_total(name)


def flags_table(report: MonthlyReport) -> Table:
    code, name = unit_header(report)
    f = report.flags
    names = dict(zip(report.status["unit"], report.status["name"], strict=False))
    data = pd.DataFrame({code: f["unit"] if len(f) else []})
    data[name] = [names.get(u, f"{u}（乡镇级：干部）") for u in data[code]]
    for kind, label in FLAG_KINDS.items():
        data[label] = f[kind].astype(int) if kind in f else 0
    data["合计"] = data[list(FLAG_KINDS.values())].sum(axis=1)
    formats = {code: TEXT, name: TEXT} | {c: INTEGER for c in data.columns[2:]}
    title = f"预警汇总（截至{report.period.as_of}）"
    return Table("预警汇总", title, data, formats).with_total(name)


def flag_list_table(report: MonthlyReport) -> Table:
    f = report.flag_list
    if not len(f):
        f = pd.DataFrame(
            columns=[
                "township_code",
                "village_code",
                "household_no",
                "cadre_name",
                "label",
                "description",
                "rule",
            ]
        )
    data = pd.DataFrame(
        {
            "乡镇代码": f["township_code"],
            "村代码": f["village_code"],
            "户编号": f["household_no"],
            "帮扶干部": f["cadre_name"],
            "预警类型": f["label"],
            "情况": f["description"],
            "规则": f["rule"],
        }
    )
    formats = dict.fromkeys(data.columns, TEXT)
    return Table("预警明细", "预警明细（不含户主姓名与身份证号）", data, formats)


def policy_table(report: MonthlyReport) -> Table:
    rows = [("[monitoring] " + k, v, source) for k, v, source in report.policy.rows()]
    rows += [
        (f"预警：{label}", rule_text(report.policy, kind), rule_source(kind))
        for kind, label in FLAG_KINDS.items()
    ]
    data = pd.DataFrame(rows, columns=["参数/规则", "取值", "来源"])
    data["取值"] = data["取值"].astype(str)
    return Table("口径说明", "政策口径与预警规则", data, dict.fromkeys(data.columns, TEXT))


def report_tables(report: MonthlyReport) -> list[Table]:
    """Every sheet after the summary, in order."""
    tables = [
        status_table(report),
        exits_table(report),
        progress_table(report),
        income_table(report),
        histogram_table(report),
        housing_table(report),
        measures_table(report),
        cadres_table(report),
        coverage_table(report),
        flags_table(report),
        flag_list_table(report),
        policy_table(report),
    ]
    return [t for t in tables if t is not None]


def file_stem(report: MonthlyReport) -> str:
    """A file name people recognise: 连州市星子镇_2018年6月_扶贫月报."""
    return f"{report.area.title}_{report.period.label}_扶贫月报"
