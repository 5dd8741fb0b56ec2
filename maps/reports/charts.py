"""Charts and the small map of the monthly report (matplotlib, Noto Sans CJK).

Each ``draw_*`` function draws one figure element onto a matplotlib Axes from a
:class:`layers.reports.MonthlyReport`; the PDF lays them out on A4 pages and the XLSX embeds
the map as a picture (:func:`map_png`).
"""

from __future__ import annotations

import io

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib import patheffects
from matplotlib.axes import Axes
from matplotlib.lines import Line2D

from geo import vocab
from geo.flags import FLAG_KINDS, SYNTHETIC_NOTE, exit_line, profile_line
from layers.reports import MonthlyReport
from maps.palette import STATUS_COLOURS

# Same colours as the wall map (maps/wallmap/symbology.py)
TARGET_COLOUR = "#555555"
GRID = {"color": "#dddddd", "linewidth": 0.6}


def use_fonts() -> None:
    """Noto Sans CJK from maps.fonts (the wall map's registration), else what is there."""
    try:
        from maps.fonts import use_cjk_fonts
    except ImportError:  # pragma: no cover - maps.fonts is part of the package
        return
    use_cjk_fonts()


def _style(ax: Axes, title: str) -> None:
    ax.set_title(title, fontsize=10, loc="left", fontweight="bold")
    ax.grid(True, axis="y", **GRID)
    ax.set_axisbelow(True)
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)
    ax.tick_params(labelsize=7)


def draw_progress(ax: Axes, report: MonthlyReport) -> None:
    """Cumulative exits (people) month by month against the year's target."""
    f = report.progress
    months = [m[5:] + "月" for m in f["month"]]
    x = np.arange(len(f))
    ax.bar(x, f["exits_people"], color=STATUS_COLOURS["exited"], alpha=0.45, label="当月脱贫人数")
    ax.plot(
        x,
        f["exits_people_cumulative"],
        marker="o",
        ms=3,
        color=STATUS_COLOURS["exited"],
        label="本年累计脱贫人数",
    )
    target = float(f["target_year_people"].iloc[0]) if len(f) else 0
    ax.axhline(target, color=TARGET_COLOUR, linestyle="--", linewidth=1)
    ax.annotate(
        f"本年目标 {target:,.0f}人（seed 002 §3）",
        (0, target),
        xytext=(2, 3),
        textcoords="offset points",
        fontsize=7,
        color=TARGET_COLOUR,
    )
    ax.set_xticks(x, months)
    ax.set_ylim(0, max(target, float(f["exits_people_cumulative"].max() or 0)) * 1.15 + 1)
    _style(ax, f"{report.period.start.year}年脱贫进度（人）")
    ax.legend(fontsize=7, frameon=False, loc="center left")


def draw_status_bars(ax: Axes, report: MonthlyReport) -> None:
    """Households by status per unit, stacked horizontal bars."""
    f = report.status.iloc[::-1]
    y = np.arange(len(f))
    left = np.zeros(len(f))
    for status in ("exited", "returned", "poor"):
        values = f[f"{status}_households"].to_numpy(dtype=float)
        ax.barh(
            y,
            values,
            left=left,
            color=STATUS_COLOURS[status],
            label=vocab.STATUS[status],
            height=0.7,
        )
        left += values
    ax.set_yticks(y, f["name"], fontsize=6 if len(f) > 15 else 7)
    ax.grid(True, axis="x", **GRID)
    _style(ax, "各单位建档立卡户（按状态）")
    ax.grid(False, axis="y")
    ax.legend(fontsize=7, frameon=False, ncols=3, loc="lower right")


def draw_income(ax: Axes, report: MonthlyReport) -> None:
    """Per-capita income histogram (households, stacked by status) with the two lines."""
    f = report.income_histogram
    year = int(report.summary["income_year"])
    bottom = np.zeros(len(f))
    x = f["bucket"].to_numpy(dtype=float) + 250
    for status in ("exited", "returned", "poor"):
        values = f[status].to_numpy(dtype=float)
        ax.bar(
            x,
            values,
            width=480,
            bottom=bottom,
            color=STATUS_COLOURS[status],
            label=vocab.STATUS[status],
        )
        bottom += values
    lines = (
        (profile_line(report.policy, year), "4,000元线（折算）", "#e08214"),
        (exit_line(report.policy, year, labour=True), "脱贫线（45%）", "#2d004b"),
    )
    top = bottom.max() if len(bottom) else 1
    for value, label, colour in lines:
        ax.axvline(value, color=colour, linestyle="--", linewidth=1)
        ax.text(
            value,
            top * 1.02,
            f"{label}\n{value:,.0f}元",
            fontsize=6.5,
            color=colour,
            ha="center",
            va="bottom",
        )
    ax.set_ylim(0, top * 1.25 + 1)
    ax.set_xlabel("人均可支配收入（元）", fontsize=7)
    _style(ax, f"{year}年人均收入分布（户）")
    ax.legend(fontsize=7, frameon=False, loc="upper right")


def draw_housing(ax: Axes, report: MonthlyReport) -> None:
    """Dangerous houses rebuilt and remaining per unit."""
    f = report.housing.iloc[::-1]
    y = np.arange(len(f))
    ax.barh(y, f["rebuilt"], color="#4575b4", label="已改造/搬迁", height=0.7)
    ax.barh(
        y, f["still_dangerous"], left=f["rebuilt"], color="#fdae61", label="仍为危房", height=0.7
    )
    ax.set_yticks(y, f["name"], fontsize=6 if len(f) > 15 else 7)
    _style(ax, "危房改造进度（户）")
    ax.grid(False, axis="y")
    ax.grid(True, axis="x", **GRID)
    ax.legend(fontsize=7, frameon=False, loc="lower right")


def draw_measures(ax: Axes, report: MonthlyReport) -> None:
    """Help records per 九到户 measure: this year and this month."""
    f = report.measures
    x = np.arange(len(f))
    ax.bar(x - 0.2, f["records_year"], width=0.4, color="#8073ac", label="本年")
    ax.bar(x + 0.2, f["records_month"], width=0.4, color="#e08214", label="本月")
    ax.set_xticks(x, f["label"], rotation=30, ha="right", fontsize=7)
    _style(ax, "帮扶记录（九到户，条）")
    ax.legend(fontsize=7, frameon=False)


def draw_flags(ax: Axes, report: MonthlyReport) -> None:
    """Flags by kind as of the report's day."""
    kinds = [k for k in FLAG_KINDS if k in report.flags.columns]
    counts = pd.Series({k: int(report.flags[k].sum()) for k in kinds}, dtype=float)
    counts = counts.reindex(list(FLAG_KINDS), fill_value=0).iloc[::-1]
    y = np.arange(len(counts))
    ax.barh(y, counts.to_numpy(), color="#b2182b", height=0.65)
    for yi, value in zip(y, counts.to_numpy(), strict=True):
        ax.text(value, yi, f" {value:,.0f}", va="center", fontsize=6.5)
    ax.set_yticks(y, [FLAG_KINDS[k] for k in counts.index], fontsize=7)
    ax.set_xlim(0, max(counts.max(), 1) * 1.2)
    _style(ax, f"预警（截至{report.period.as_of}）")
    ax.grid(False, axis="y")
    ax.grid(True, axis="x", **GRID)


def draw_map(ax: Axes, report: MonthlyReport) -> None:
    """Township: villages and household points by status, flagged households ringed.
    County: townships shaded by the share of households still poor."""
    # units without a boundary yet (a county set up from the official codes, before its
    # households or polygons are imported) cannot be drawn: the map shows the others
    units = report.units[report.units.geometry.notna() & ~report.units.geometry.is_empty]
    if units.empty:
        ax.text(0.5, 0.5, "尚无边界", ha="center", va="center", transform=ax.transAxes)
        ax.set_axis_off()
        return
    ax.set_aspect(1 / np.cos(np.radians(units.geometry.union_all().centroid.y or 24)))
    if report.area.level == "township" and len(report.households):
        units.plot(
            ax=ax,
            facecolor=np.where(units["key_level"].notna(), "#fff2cc", "#f7f7f7"),
            edgecolor="#54278f",
            linewidth=0.6,
        )
        homes = report.households
        for status in ("exited", "returned", "poor"):
            mine = homes[homes["status"] == status]
            ax.scatter(
                mine.geometry.x,
                mine.geometry.y,
                s=3,
                color=STATUS_COLOURS[status],
                linewidths=0,
                label=vocab.STATUS[status],
            )
        ringed = homes[homes["id"].isin(_paper_exit_households(report))]
        ax.scatter(
            ringed.geometry.x,
            ringed.geometry.y,
            s=16,
            facecolors="none",
            edgecolors="#111111",
            linewidths=0.5,
        )
        handles = [
            Line2D([], [], marker="o", ls="", color=STATUS_COLOURS[s], label=vocab.STATUS[s], ms=4)
            for s in ("poor", "returned", "exited")
        ] + [
            Line2D(
                [],
                [],
                marker="o",
                ls="",
                mfc="none",
                mec="black",
                label="疑似数字脱贫（预警）",
                ms=5,
            )
        ]
        ax.legend(handles=handles, fontsize=7, frameon=True, loc="lower left")
    else:
        share = units.merge(
            report.status[["unit", "households", "poor_households", "returned_households"]],
            on="unit",
            how="left",
        )
        value = (share["poor_households"] + share["returned_households"]) / share["households"]
        share.assign(value=value).plot(
            ax=ax,
            column="value",
            cmap="YlOrRd",
            edgecolor="#3f007d",
            linewidth=0.6,
            legend=True,
            vmin=0,
            vmax=max(float(value.max() or 0) * 1.6, 0.01),  # keep labels readable: mid tones
            alpha=0.85,
            legend_kwds={"shrink": 0.5, "label": "未脱贫+返贫户占比"},
            missing_kwds={"color": "#eeeeee"},
        )
    halo = [patheffects.withStroke(linewidth=2, foreground="white")]
    for row in units.itertuples():
        point = row.geom.representative_point()
        ax.annotate(
            row.name,
            (point.x, point.y),
            fontsize=5.5 if len(units) > 15 else 7,
            ha="center",
            va="center",
            color="#3f007d",
            path_effects=halo,
        )
    ax.set_xticks([])
    ax.set_yticks([])
    ax.set_xlabel("")
    ax.set_ylabel("")
    title = f"{report.area.title}（截至{report.period.as_of}）"
    ax.set_title(title, fontsize=10, loc="left", fontweight="bold")
    if report.synthetic:
        ax.text(
            0.99,
            0.01,
            SYNTHETIC_NOTE,
            transform=ax.transAxes,
            ha="right",
            va="bottom",
            fontsize=7,
            color="#c00000",
        )


# Flags that point at an exit on paper (数字脱贫, seed 003): ringed on the map.
PAPER_EXIT_KINDS = (
    "exited_low_income",
    "exited_sanbaozhang",
    "exited_dangerous_house",
    "income_jump",
    "status_flip_flop",
)


def _paper_exit_households(report: MonthlyReport) -> set:
    flags = report.flag_list
    if not len(flags):
        return set()
    return set(flags.loc[flags["kind"].isin(PAPER_EXIT_KINDS), "household_id"].dropna())


def map_png(report: MonthlyReport, dpi: int = 130) -> bytes:
    """The small map alone as PNG bytes (for the XLSX)."""
    use_fonts()
    figure, ax = plt.subplots(figsize=(7, 7))
    try:
        draw_map(ax, report)
        figure.tight_layout()
        buffer = io.BytesIO()
        figure.savefig(buffer, format="png", dpi=dpi)
        return buffer.getvalue()
    finally:
        plt.close(figure)
