"""Chinese fonts for printed maps: Noto Sans CJK SC from Debian ``fonts-noto-cjk``.

Debian ships Noto Sans CJK as OpenType collections with CFF outlines (``.ttc``). Matplotlib's
PDF backend embeds Type 42 fonts as ``CIDFontType2``/``FontFile2``, which is only valid for
TrueType (``glyf``) outlines: a CFF subset in that slot makes a PDF that poppler opens with
warnings and stricter readers reject. So on first use we build, once per machine, a TrueType
copy of the SC face (CFF curves converted to quadratics with fontTools' cu2qu) covering the
characters a map can need, cache it, and register it with matplotlib. The PDF then carries a
proper embedded subset (``pdffonts``: "CID TrueType", emb yes, sub yes) with selectable text.

>>> from maps.fonts import use_cjk_fonts
>>> family = use_cjk_fonts()          # doctest: +SKIP
>>> family                            # doctest: +SKIP
['Gongjian Noto Sans CJK SC', 'DejaVu Sans']
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from collections.abc import Iterable
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from functools import cache
from pathlib import Path

#: Where Debian's fonts-noto-cjk puts the collections; other distributions use similar paths.
SEARCH_DIRS = (
    Path("/usr/share/fonts/opentype/noto"),
    Path("/usr/share/fonts/noto-cjk"),
    Path("/usr/share/fonts/google-noto-cjk"),
    Path("/usr/share/fonts/opentype/noto-cjk"),
    Path("/usr/local/share/fonts"),
)
COLLECTIONS = {"regular": "NotoSansCJK-Regular.ttc", "bold": "NotoSansCJK-Bold.ttc"}
FACE = "Noto Sans CJK SC"  # the Simplified Chinese face inside the collection
FAMILY = "Gongjian Noto Sans CJK SC"  # our TrueType copy; distinct so matplotlib cannot mix them
INSTALL_HINT = "apt-get install -y fonts-noto-cjk"
CONVERTER_VERSION = "1"

#: Unicode blocks kept in the TrueType copy: Latin, punctuation, symbols, full-width forms and
#: the whole CJK Unified Ideographs block (every name in the national ID system's common set).
RANGES = (
    (0x0020, 0x024F),  # Basic Latin, Latin-1, Latin Extended-A/B
    (0x02B0, 0x02FF),  # spacing modifiers
    (0x0370, 0x03FF),  # Greek (map notes use α, μ, …)
    (0x2000, 0x2BFF),  # punctuation, super/subscripts, letterlike, arrows, math, shapes, misc
    (0x2E80, 0x2FDF),  # CJK radicals
    (0x3000, 0x33FF),  # CJK symbols and punctuation, kana, enclosed CJK, CJK compatibility
    (0x4E00, 0x9FFF),  # CJK Unified Ideographs
    (0xF900, 0xFAFF),  # CJK compatibility ideographs
    (0xFE10, 0xFE6F),  # vertical forms, CJK compatibility forms, small forms
    (0xFF00, 0xFFEF),  # half-width and full-width forms
)


class FontNotFound(RuntimeError):
    """Noto Sans CJK is not installed."""


@dataclass(frozen=True)
class PreparedFont:
    weight: str
    path: Path


def find_collection(weight: str = "regular", dirs: Iterable[Path] = SEARCH_DIRS) -> Path:
    """Path of the Noto Sans CJK collection of ``weight`` ('regular' or 'bold').

    Raises FontNotFound with the install command when it is missing.
    """
    name = COLLECTIONS[weight]
    for folder in dirs:
        candidate = Path(folder) / name
        if candidate.is_file():
            return candidate
    from matplotlib import font_manager

    for found in font_manager.findSystemFonts():
        if Path(found).name == name:
            return Path(found)
    raise FontNotFound(f"{name} not found (Noto Sans CJK); install it: {INSTALL_HINT}")


def cache_dir() -> Path:
    """``$GONGJIAN_FONT_CACHE`` or ``$XDG_CACHE_HOME/gongjian/fonts`` (``~/.cache/...``)."""
    explicit = os.environ.get("GONGJIAN_FONT_CACHE")
    if explicit:
        return Path(explicit)
    xdg = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(xdg) / "gongjian" / "fonts"


def prepared_path(source: Path, weight: str, folder: Path) -> Path:
    """Cache file name: changes when the source font or the converter changes."""
    stat = source.stat()
    key = f"{source.resolve()}:{stat.st_size}:{int(stat.st_mtime)}:{CONVERTER_VERSION}"
    digest = hashlib.sha256(key.encode()).hexdigest()[:12]
    return folder / f"GongjianNotoSansCJKsc-{weight.capitalize()}-{digest}.ttf"


def convert_to_truetype(source: Path, weight: str, target: Path) -> Path:
    """Write the SC face of ``source`` as a TrueType-outline font limited to :data:`RANGES`.

    Takes 10–20 s per weight (about 21,000 glyphs); the result is deterministic.
    """
    from fontTools import subset
    from fontTools.pens.cu2quPen import Cu2QuPen
    from fontTools.pens.ttGlyphPen import TTGlyphPen
    from fontTools.ttLib import TTCollection, newTable

    font = _face(TTCollection(str(source), lazy=True), FACE)
    wanted = [cp for low, high in RANGES for cp in range(low, high + 1)]
    options = subset.Options()
    options.layout_features = ["kern", "vert", "vrt2"]
    options.name_IDs = ["*"]
    options.name_languages = ["*"]
    options.notdef_outline = True
    options.hinting = False
    options.glyph_names = False
    subsetter = subset.Subsetter(options)
    subsetter.populate(unicodes=[cp for cp in wanted if cp in font.getBestCmap()])
    subsetter.subset(font)

    order = font.getGlyphOrder()
    glyph_set = font.getGlyphSet()
    glyf = newTable("glyf")
    glyf.glyphOrder = order
    glyf.glyphs = {}
    for name in order:
        pen = TTGlyphPen(glyph_set)
        # CFF contours run counter-clockwise, TrueType clockwise: reverse while converting
        glyph_set[name].draw(Cu2QuPen(pen, max_err=1.0, reverse_direction=True))
        glyf[name] = pen.glyph()
    font["glyf"] = glyf
    font["loca"] = newTable("loca")
    del font["CFF "]
    if "VORG" in font:
        del font["VORG"]  # CFF-only table
    font["maxp"].tableVersion = 0x00010000
    for attr in (
        "maxZones",
        "maxTwilightPoints",
        "maxStorage",
        "maxFunctionDefs",
        "maxInstructionDefs",
        "maxStackElements",
        "maxSizeOfInstructions",
    ):
        setattr(font["maxp"], attr, 0)
    font["maxp"].maxZones = 1
    font["head"].glyphDataFormat = 0
    font["post"].formatType = 3.0  # no glyph names
    _rename(font, weight)
    font.sfntVersion = "\x00\x01\x00\x00"
    font.recalcTimestamp = False
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_suffix(f".{os.getpid()}.part")
    font.save(str(partial))
    partial.replace(target)  # atomic: a concurrent process never sees half a font
    return target


def _face(collection, family: str):
    for font in collection.fonts:
        if font["name"].getDebugName(1) == family:
            return font
    raise FontNotFound(f"no face {family!r} in the collection")


def _rename(font, weight: str) -> None:
    """Our family name (so matplotlib picks this copy); the PostScript name stays Noto's."""
    style = "Bold" if weight == "bold" else "Regular"
    names = {1: FAMILY, 2: style, 4: f"{FAMILY} {style}", 16: FAMILY, 17: style}
    table = font["name"]
    for record in list(table.names):
        if record.nameID in names:
            table.removeNames(nameID=record.nameID)
    for name_id, value in names.items():
        table.setName(value, name_id, 3, 1, 0x409)
        table.setName(value, name_id, 1, 0, 0)


def prepare_fonts(folder: Path | None = None) -> list[PreparedFont]:
    """The TrueType copies of both weights, converting (in parallel) what is not cached yet."""
    folder = _writable(folder or cache_dir())
    jobs = {}
    for weight in COLLECTIONS:
        source = find_collection(weight)
        jobs[weight] = (source, prepared_path(source, weight, folder))
    missing = {w: job for w, job in jobs.items() if not job[1].is_file()}
    if len(missing) > 1:
        with ProcessPoolExecutor(max_workers=min(2, os.cpu_count() or 1)) as pool:
            futures = [pool.submit(convert_to_truetype, s, w, t) for w, (s, t) in missing.items()]
            for future in futures:
                future.result()
    else:
        for weight, (source, target) in missing.items():
            convert_to_truetype(source, weight, target)
    return [PreparedFont(weight, target) for weight, (_, target) in jobs.items()]


def _writable(folder: Path) -> Path:
    try:
        folder.mkdir(parents=True, exist_ok=True)
        probe = folder / ".probe"
        probe.touch()
        probe.unlink()
        return folder
    except OSError:
        fallback = Path(tempfile.gettempdir()) / f"gongjian-fonts-{os.getuid()}"
        fallback.mkdir(parents=True, exist_ok=True)
        return fallback


@cache
def use_cjk_fonts() -> list[str]:
    """Register the CJK fonts with matplotlib and set the rc defaults for print.

    Returns the font family list to use (``rcParams['font.family']`` is set to it too).
    Text in PDFs is embedded as a TrueType subset (``pdf.fonttype`` 42) and stays selectable;
    SVG keeps text as text. Idempotent and cheap after the first call in a process.
    """
    import matplotlib as mpl
    from matplotlib import font_manager

    for prepared in prepare_fonts():
        font_manager.fontManager.addfont(str(prepared.path))
    family = [FAMILY]  # one font: no per-character fallback lookups (it covers Latin too)
    mpl.rcParams.update(
        {
            "font.family": family,
            "pdf.fonttype": 42,
            "ps.fonttype": 42,
            "svg.fonttype": "none",
            "axes.unicode_minus": False,
        }
    )
    return family


def bold(size: float | None = None):
    """FontProperties of the bold CJK face (titles, table headers)."""
    from matplotlib.font_manager import FontProperties

    use_cjk_fonts()
    return FontProperties(family=FAMILY, weight="bold", size=size)
