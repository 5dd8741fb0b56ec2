"""A county's atlas (one PDF: a contents page, then every township's sheet and 附表) and the
demo's maps (``gongjian demo`` renders them into ./out)."""

from __future__ import annotations

import datetime as dt
import io
from collections.abc import Callable
from pathlib import Path

from matplotlib.backends.backend_pdf import PdfPages
from matplotlib.figure import Figure
from sqlalchemy.engine import Engine

from layers.wallmap_data import (
    county_name,
    county_overview,
    county_township_codes,
    data_as_of,
    fetch_township_sheet,
    synthetic_township_codes,
)
from maps.fonts import use_cjk_fonts
from maps.wallmap import panels
from maps.wallmap import symbology as sym
from maps.wallmap.drawing import halo_text
from maps.wallmap.paper import MM_PER_PT, Paper
from maps.wallmap.projection import LocalFrame
from maps.wallmap.render import (
    DEFAULT_WEB_BASE_URL,
    MapOptions,
    WallmapError,
    build_sheet,
    close,
    save,
    save_page,
)

Progress = Callable[[str], None]


def render_county_atlas(
    engine: Engine,
    county: str,
    *,
    paper: str = "A3",
    public: bool = False,
    as_of: dt.date | None = None,
    color_by: str = "status",
    scattered_only: bool = True,
    progress: Progress | None = None,
    web_base_url: str | None = DEFAULT_WEB_BASE_URL,
) -> bytes:
    """One PDF: a contents page (the county's townships, households, page numbers), then the
    攻坚图 of every township of ``county`` with its 附表 pages, all on ``paper``."""
    as_of = as_of or data_as_of(engine, county)
    codes = county_township_codes(engine, county)
    name = county_name(engine, county)
    if not codes or name is None:
        raise WallmapError(f"no townships in county {county!r}")
    options = MapOptions(
        paper=paper,
        color_by=color_by,
        public=public,
        scattered_only=scattered_only,
        web_base_url=web_base_url,
    ).check()
    buffer = io.BytesIO()
    rendered_sheets, page_numbers, page = [], {}, 2
    synthetic = False
    for code in codes:
        if progress:
            progress(code)
        sheet = fetch_township_sheet(
            engine, code, as_of=as_of, public=public, scattered_only=scattered_only
        )
        rendered = build_sheet(sheet, options)
        synthetic |= sheet.synthetic
        page_numbers[code] = page
        page += len(rendered.pages)
        rendered_sheets.append(rendered)
    overview = county_overview(engine, county, as_of)
    metadata = {
        "Title": f"{name}分散贫困户分布图集（攻坚图）",
        "Creator": "gongjian 攻坚图",
        "CreationDate": None,
        "ModDate": None,
    }
    with PdfPages(buffer, metadata=metadata) as pdf:
        pdf.savefig(
            contents_page(
                name,
                overview,
                page_numbers,
                Paper.named(options.paper, "portrait"),
                as_of,
                synthetic,
            )
        )
        for rendered in rendered_sheets:
            for figure in rendered.pages:
                pdf.savefig(figure)
            close(rendered)
    return buffer.getvalue()


def contents_page(
    county: str,
    overview,
    page_numbers: dict[str, int],
    paper: Paper,
    as_of: dt.date,
    synthetic: bool,
) -> Figure:
    """Cover: the county's townships shaded by households still poor, and the contents."""
    use_cjk_fonts()
    fig = Figure(figsize=paper.size_in)
    ax = panels.page_axes(fig, paper)
    W, H = paper.size_mm
    m = paper.margin_mm
    ax.text(
        W / 2,
        H - m - paper.pt("title") * MM_PER_PT,
        f"{county}分散贫困户分布图集（攻坚图）",
        ha="center",
        va="center",
        fontsize=paper.pt("title"),
        fontweight="bold",
    )
    ax.text(
        W / 2,
        H - m - paper.pt("title") * MM_PER_PT * 2.2,
        f"截至 {as_of.year}年{as_of.month:02d}月{as_of.day:02d}日",
        ha="center",
        va="center",
        fontsize=paper.pt("subtitle"),
        color="#333333",
    )
    if synthetic:
        panels.draw_stamp(ax, paper, W - m, H - m - paper.pt("title") * MM_PER_PT)
    c = overview.geometry.union_all().centroid
    frame = LocalFrame.at(c.x, c.y)
    towns = overview.to_crs(frame.crs)
    map_w, map_h = W - 2 * m, H * 0.5
    top = H - m - paper.pt("title") * MM_PER_PT * 3.2
    a = fig.add_axes((m / W, (top - map_h) / H, map_w / W, map_h / H))
    a.set_axis_off()
    a.set_aspect("equal")
    still_poor = towns["poor"] + towns["returned"]
    share = (still_poor / towns["households"].clip(lower=1)).fillna(0)
    towns.assign(share=share).plot(
        ax=a,
        column="share",
        cmap="Reds",
        # stretch over the townships' range (light to mid red) so differences show
        vmin=share.min() - (share.max() - share.min() + 0.01) * 0.6,
        vmax=share.max() + (share.max() - share.min() + 0.01) * 0.4,
        edgecolor="#ffffff",
        linewidth=0.8 * paper.type_scale,
    )
    for _, t in towns.iterrows():
        p = t.geometry.representative_point()
        halo_text(
            a,
            paper.pt("village") * 0.2,
            p.x,
            p.y,
            f"{t['name']}\n第 {page_numbers.get(t['code'], '')} 页",
            ha="center",
            va="center",
            fontsize=paper.pt("village") * 0.8,
            color=sym.LABEL_TEXT,
        )
    rows = [
        f"{t['name']}　分散贫困户 {int(t['households']):,} 户，其中未脱贫 {int(t['poor']):,} 户、"
        f"返贫 {int(t['returned']):,} 户、已脱贫 {int(t['exited']):,} 户"
        f"　……　第 {page_numbers.get(t['code'], '')} 页"
        for _, t in towns.iterrows()
    ]
    y = top - map_h - 8 * paper.type_scale
    size = paper.pt("legend") * 1.1
    for i, text in enumerate(rows):
        ax.text(
            m + 10 * paper.type_scale,
            y - i * size * MM_PER_PT * 1.6,
            text,
            ha="left",
            va="center",
            fontsize=size,
        )
    ax.text(
        m,
        m,
        "颜色越深，该乡镇分散贫困户中未脱贫和返贫户的比例越高。"
        + ("示例数据（合成），不代表任何真实的人或户。" if synthetic else ""),
        ha="left",
        va="bottom",
        fontsize=paper.pt("note"),
        color="#555555",
    )
    return fig


def render_demo_maps(
    engine: Engine,
    out_dir: Path = Path("out"),
    *,
    paper: str = "A1",
    preview_dpi: int = 40,
    progress: Progress | None = None,
) -> list[Path]:
    """The demo townships' 攻坚图 as ``out/{code}_{name}_攻坚图_{paper}.pdf`` with a PNG
    preview of each sheet; returns the files written. For ``gongjian demo``."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    options = MapOptions(paper=paper).check()
    for code in synthetic_township_codes(engine):
        sheet = fetch_township_sheet(engine, code)
        if progress:
            progress(f"{code} {sheet.name}")
        rendered = build_sheet(sheet, options)
        try:
            stem = out_dir / f"{code}_{sheet.name}_攻坚图_{paper}"
            pdf = stem.with_suffix(".pdf")
            pdf.write_bytes(save(rendered, options))
            png = stem.with_suffix(".png")
            png.write_bytes(save_page(rendered.pages[0], "png", preview_dpi))
            written += [pdf, png]
        finally:
            close(rendered)
    return written
