"""The QR code on the sheet leads to the township's web map, and a phone can read it.

The sheet is rendered as a user gets it (the CLI, with the server's public address set),
rasterised and decoded with zbar (Debian zbar-tools), which knows nothing of our code.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
import sqlalchemy as sa
from typer.testing import CliRunner

from maps.wallmap.furniture import qr_spec, web_twin_url
from maps.wallmap.paper import Paper

PUBLIC_URL = "http://192.168.31.7:8020"


def decode_qr(image: Path) -> list[str]:
    zbarimg = shutil.which("zbarimg")
    assert zbarimg, "zbarimg missing: run scripts/setup.sh (Debian zbar-tools)"
    found = subprocess.run(
        [zbarimg, "-q", "--raw", "-Sdisable", "-Sqrcode.enable", str(image)],
        capture_output=True,
        text=True,
    ).stdout
    return [line for line in found.splitlines() if line]


@pytest.fixture(scope="module")
def smallest(demo_world, engine) -> str:
    """The demo township with the fewest scattered households (quickest to draw at A0)."""
    with engine.connect() as conn:
        return conn.execute(
            sa.text(
                "SELECT v.township_code FROM household h JOIN village v ON v.code = h.village_code "
                "WHERE h.scattered AND h.synthetic GROUP BY 1 ORDER BY count(*), 1 LIMIT 1"
            )
        ).scalar()


def render_cli(database_url, monkeypatch, code: str, paper: str, target: Path, *extra: str):
    from api.cli import app

    monkeypatch.setenv("DATABASE_URL", database_url)
    monkeypatch.setenv("GONGJIAN_PUBLIC_URL", PUBLIC_URL)
    args = ["map", "township", code, "--paper", paper, "-o", str(target), *extra]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output


def test_a3_print_qr_decodes_to_the_web_twin(smallest, database_url, monkeypatch, tmp_path):
    pdf = tmp_path / "a3.pdf"
    render_cli(database_url, monkeypatch, smallest, "A3", pdf)
    # a 150 dpi scan of the printed page: what an office printer and a phone camera resolve
    subprocess.run(
        ["pdftoppm", "-f", "1", "-l", "1", "-r", "150", "-png", "-singlefile", str(pdf),
         str(tmp_path / "a3")],
        check=True,
    )  # fmt: skip
    assert decode_qr(tmp_path / "a3.png") == [f"{PUBLIC_URL}/townships/{smallest}"]


def test_a0_png_qr_decodes_at_a_coarse_resolution(smallest, database_url, monkeypatch, tmp_path):
    png = tmp_path / "a0.png"
    # 40 dpi: the A0 sheet seen from afar (each paper millimetre ~1.6 pixels)
    render_cli(database_url, monkeypatch, smallest, "A0", png, "--format", "png", "--dpi", "40")
    assert decode_qr(png) == [f"{PUBLIC_URL}/townships/{smallest}"]


@pytest.mark.parametrize(("paper", "least_mm"), [("A4", 0.45), ("A3", 0.6), ("A0", 1.5)])
def test_module_size_suits_the_paper(paper, least_mm):
    """Modules of ≥ 0.6 mm read at arm's length (A3); ≥ 1.5 mm from a metre or more (A0),
    for a long LAN address."""
    url = web_twin_url("http://192.168.100.100:8000", "441882101")
    spec = qr_spec(url, Paper.named(paper, "landscape"))
    assert spec.module_mm >= least_mm
    assert spec.side_mm <= 0.1 * min(Paper.named(paper, "landscape").size_mm)  # a corner only
