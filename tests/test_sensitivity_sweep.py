"""The sensitivity register holds everywhere: a viewer of one township, and every ``--public``
file, gets no ID number, household phone, member's full name or household income.

Real PostGIS with the demo world and its analyses (coverage, relocation, flags, a route plan)
for one township; real HTTP through the app as built. Every GET endpoint of the OpenAPI
document is called with every value its path takes (every layer, format and a tile with
households at three zooms); every answer is turned into text (PDF through pdftotext, XLSX
cell by cell, vector tiles decoded) and searched for the township's own secrets, read from
the database: ID numbers, households' phones, full names of heads and members, and every
income in yuan as the outputs would write it (``7,294元``, ``7294.0``). Officials' names and
phones stay (seed 004: the roster on the wall), so they are not secrets here.
"""

from __future__ import annotations

import csv
import datetime as dt
import fnmatch
import io
import json
import re
import subprocess
from collections.abc import Iterator
from pathlib import Path

import mapbox_vector_tile
import openpyxl
import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from api.app import create_app
from api.cli import app as cli_app
from geo.flags import exit_line, monitoring_policy
from geo.policy import load_profile
from geo.sensitivity import BY_NAME, BY_PATTERN, INCOME, UnclassifiedField, rule
from layers import coverage, features, relocation
from layers.exports import EXPORT_LAYERS
from layers.flags import FlagQuery, refresh_flags
from layers.models import Base
from tests.api_support import Users, new_users, tile_of

AS_OF = dt.date(2018, 12, 31)
INCOME_KEYS = {name for name, how in BY_NAME.items() if how is INCOME} | set(
    rule("flag", "evidence").keys
)


def is_income_key(key: str) -> bool:
    """A field or JSON key that holds a household's income (the register's names)."""
    return key in INCOME_KEYS or any(
        how is INCOME and fnmatch.fnmatchcase(key, pattern) for pattern, how in BY_PATTERN
    )


# --- the township, its analyses and its secrets ----------------------------------------------


@pytest.fixture(scope="module")
def town(engine: sa.Engine, demo_world: dict) -> Iterator[str]:
    """The demo township with the most income flags, with its analyses refreshed."""
    policy = monitoring_policy(load_profile())
    with engine.begin() as conn:
        town = conn.execute(
            sa.text(
                "SELECT left(h.village_code, 9) FROM household h "
                "JOIN household_income i ON i.household_id = h.id "
                "WHERE h.status = 'exited' AND h.synthetic "
                "GROUP BY 1 ORDER BY count(*) DESC LIMIT 1"
            )
        ).scalar_one()
        refresh_flags(conn, FlagQuery(town, AS_OF), policy, "test")
    coverage.refresh(engine, township=town, with_isochrones=False)
    relocation.refresh(engine, township=town)
    yield town


@pytest.fixture(scope="module")
def users(engine: sa.Engine, town: str) -> Iterator[Users]:
    users = new_users(engine)
    users.add("viewer", "viewer", town)
    users.add("inspector", "inspector", town)
    yield users
    users.drop()


@pytest.fixture(scope="module")
def client(engine: sa.Engine, demo_world: dict) -> Iterator[TestClient]:
    with TestClient(create_app(engine)) as client:
        yield client


@pytest.fixture(scope="module")
def plan_id(client: TestClient, users: Users, town: str, engine: sa.Engine) -> Iterator[int]:
    body = {"area": town, "sample": 8, "inspectors": 1, "days": 1, "seed": 5,
            "as_of": "2018-12-20", "start_date": "2018-12-21", "strategy": "risk"}  # fmt: skip
    made = client.post("/routes", json=body, headers=users.headers("inspector"))
    assert made.status_code == 201, made.text
    yield made.json()["id"]
    with engine.begin() as conn:
        conn.execute(sa.text("DELETE FROM route_plan WHERE id = :id"), {"id": made.json()["id"]})


MINE = "SELECT id FROM household WHERE starts_with(village_code, :t)"
SECRET_SQL = {
    "ids": f"""SELECT id_number FROM household WHERE id IN ({MINE}) AND id_number IS NOT NULL
               UNION SELECT id_number FROM household_member
               WHERE household_id IN ({MINE}) AND id_number IS NOT NULL""",
    "phones": f"""SELECT phone FROM household WHERE id IN ({MINE}) AND phone IS NOT NULL
                  EXCEPT SELECT phone FROM cadre""",
    "names": f"""SELECT head_name FROM household WHERE id IN ({MINE})
                 UNION SELECT name FROM household_member WHERE household_id IN ({MINE})""",
    "incomes": f"""SELECT DISTINCT per_capita_income::float FROM household_income
                   WHERE household_id IN ({MINE}) AND per_capita_income >= 1000""",
    # officials and places: a member's name that is part of one of these says nothing
    "public_names": """SELECT name FROM cadre UNION ALL SELECT unit FROM cadre
                       UNION ALL SELECT name FROM village UNION ALL SELECT name FROM hamlet
                       UNION ALL SELECT name FROM township UNION ALL SELECT inspector FROM visit
                       UNION ALL SELECT concat(helping_unit, first_secretary) FROM village""",
}


CJK_RUN = re.compile(r"[\u4e00-\u9fff]{2,}")
ID_LIKE = re.compile(r"(?<![0-9])\d{17}[0-9Xx](?![0-9])")
DIGIT_RUN = re.compile(r"\+?\d[\d -]{5,}\d")
# incomes as outputs write them: 7,294元 in text; 7294.37 in data (whole yuan in data are
# told apart from years and amounts by their field: see is_income_key)
YUAN = re.compile(r"(?<![\d.,])(\d{1,3}(?:,\d{3})+|\d{4,})元")
DECIMAL = re.compile(r"(?<![\d.,])(\d{3,})\.(\d{1,2})(?![\d])")


def policy_lines() -> set[int]:
    """Income lines of every year (a line is not a household's income)."""
    policy = monitoring_policy(load_profile())
    return {
        round(exit_line(policy, year, labour=labour))
        for year in range(2010, 2025)
        for labour in (True, False)
    }


class Secrets:
    """What must never reach a viewer of ``town``, read from the database.

    Texts are cut into candidates (runs of Chinese characters, digit runs, numbers in yuan)
    that are looked up in sets, so a sweep of many megabytes stays quick.
    """

    def __init__(self, engine: sa.Engine, town: str) -> None:
        with engine.connect() as conn:
            found = {
                key: conn.execute(sa.text(sql), {"t": town}).scalars().all()
                for key, sql in SECRET_SQL.items()
            }
        public_names = " ".join(found["public_names"])
        self.ids = set(found["ids"])
        self.phones = {re.sub(r"\D", "", p) for p in found["phones"]}
        self.names = {n for n in found["names"] if len(n) >= 2 and n not in public_names}
        self.incomes = {round(v, 2) for v in found["incomes"] if round(v, 2) != round(v)}
        self.yuan = {round(v) for v in found["incomes"]} - policy_lines()
        assert self.ids and self.phones and self.names and self.yuan, "the demo lost people"

    def found_in(self, text: str) -> list[str]:
        leaks = [f"ID number {m}" for m in ID_LIKE.findall(text) if m in self.ids]
        leaks += [
            f"phone {m}" for m in DIGIT_RUN.findall(text) if re.sub(r"\D", "", m) in self.phones
        ]
        leaks += [f"name {n}" for run in CJK_RUN.findall(text) for n in self._names_in(run)]
        leaks += [
            f"income {m}元" for m in YUAN.findall(text) if int(m.replace(",", "")) in self.yuan
        ]
        leaks += [
            f"income {a}.{b}" for a, b in DECIMAL.findall(text) if float(f"{a}.{b}") in self.incomes
        ]
        return leaks

    def _names_in(self, run: str) -> list[str]:
        return [
            run[i : i + size]
            for size in (2, 3, 4)
            for i in range(len(run) - size + 1)
            if run[i : i + size] in self.names
        ]


@pytest.fixture(scope="module")
def secrets(engine: sa.Engine, town: str) -> Secrets:
    return Secrets(engine, town)


# --- turning every answer into text -----------------------------------------------------------


def as_text(body: bytes, media_type: str) -> str:
    if media_type.startswith("application/pdf"):
        return pdf_text(body)
    if "spreadsheetml" in media_type:
        return xlsx_text(body)
    if "mapbox-vector-tile" in media_type or media_type.startswith("application/vnd.mapbox"):
        return json.dumps(mapbox_vector_tile.decode(body), ensure_ascii=False, default=str)
    if media_type.startswith("image/png") or media_type.startswith("image/webp"):
        return ""  # pixels: the same sheet is read as PDF and SVG
    text = body.decode("utf-8")
    if "json" in media_type:
        assert_no_income_keys(json.loads(text))
    return text


def pdf_text(body: bytes) -> str:
    done = subprocess.run(["pdftotext", "-layout", "-", "-"], input=body, capture_output=True)
    assert done.returncode == 0, done.stderr
    return done.stdout.decode("utf-8")


def xlsx_text(body: bytes | Path) -> str:
    book = openpyxl.load_workbook(body if isinstance(body, Path) else io.BytesIO(body))
    return "\n".join(
        "\t".join("" if v is None else str(v) for v in row)
        for sheet in book.worksheets
        for row in sheet.iter_rows(values_only=True)
    )


def file_text(path: Path) -> str:
    if path.suffix == ".pdf":
        return pdf_text(path.read_bytes())
    if path.suffix == ".xlsx":
        return xlsx_text(path)
    if path.suffix == ".csv":
        header = next(csv.reader(path.open(encoding="utf-8-sig")))
        assert not [h for h in header if is_income_key(h)], f"{path.name}: {header}"
    text = path.read_text("utf-8")
    if path.suffix == ".geojson":
        assert_no_income_keys(json.loads(text), path.name)
    return text


def assert_no_income_keys(value: object, where: str = "") -> None:
    """No JSON object carries a number under an income key (an income band table may)."""
    if isinstance(value, dict):
        for key, item in value.items():
            number = isinstance(item, int | float) and not isinstance(item, bool)
            assert not (is_income_key(key) and number), f"{where}.{key} = {item!r}"
            assert_no_income_keys(item, f"{where}.{key}")
    elif isinstance(value, list):
        for item in value:
            assert_no_income_keys(item, where)


# --- the endpoints ------------------------------------------------------------------------------


def path_values(town: str, plan: int, tiles: list[tuple[int, int, int]]) -> dict[str, list[str]]:
    """Every value each path parameter of the API takes in this sweep."""
    return {
        "collection_id": list(features.REGISTRY),
        "layer": list(features.REGISTRY),
        "code": [town, town[:6]],
        "plan_id": [str(plan)],
        "fmt": [],  # from the path's own enum or pattern
        "item_id": [],  # from the items the viewer got
        "zxy": [f"{z}/{x}/{y}" for z, x, y in tiles],
        "kind": ["clinic", "water", "school", "roads"],
        "name": ["sweep"],
        "sha256": ["0" * 64],  # photos: inspectors and editors only (viewers get 403)
    }


def query_params(url: str, town: str) -> dict:
    """What a request needs besides its path: every item, a siting problem of the town."""
    if url.endswith("/items"):
        return {"limit": 10_000}
    if url.startswith("/analysis/siting/"):
        return {"township": town, "count": 2, "budget_km": 3}
    if url.endswith("/diff"):
        return {"township": town}
    return {}


def expand(path: str, spec: dict, values: dict[str, list[str]]) -> list[str]:
    """Concrete URLs of an OpenAPI path (parameters other than those of ``values`` fail)."""
    params = {p["name"]: p for p in spec.get("parameters", []) if p["in"] == "path"}
    if {"z", "x", "y"} <= set(params):
        path = path.replace("{z}/{x}/{y}", "{zxy}")
        params = {k: v for k, v in params.items() if k not in "zxy"} | {"zxy": {}}
    urls = [path]
    for name, param in params.items():
        if name == "item_id":
            continue  # single items are fetched from the list answers
        assert name in values, f"the sweep does not know the path parameter {name!r} of {path}"
        options = values[name] or formats(param)
        urls = [u.replace("{" + name + "}", v) for u in urls for v in options]
    return urls


def formats(param: dict) -> list[str]:
    schema = param.get("schema", {})
    if "enum" in schema:
        return list(schema["enum"])
    return re.findall(r"[a-z]+", schema.get("pattern", "").replace("^", ""))


def household_tiles(engine: sa.Engine, town: str) -> list[tuple[int, int, int]]:
    with engine.connect() as conn:
        lon, lat = conn.execute(
            sa.text(
                "SELECT ST_X(h.geom), ST_Y(h.geom) FROM household h JOIN flag f "
                "ON f.household_id = h.id WHERE starts_with(h.village_code, :t) LIMIT 1"
            ),
            {"t": town},
        ).one()
    return [tile_of(lon, lat, z) for z in (10, 13, 16)]


def test_a_viewer_gets_no_personal_data_from_any_endpoint(
    client: TestClient, users: Users, engine: sa.Engine, town: str, plan_id: int, secrets
) -> None:
    spec = client.app.openapi()
    values = path_values(town, plan_id, household_tiles(engine, town))
    headers = users.headers("viewer")
    leaks: dict[str, list[str]] = {}
    answered: dict[str, int] = {}
    item_urls: list[str] = []
    for path, operations in spec["paths"].items():
        if "get" not in operations or path.endswith("{item_id}"):
            continue
        for url in expand(path, operations["get"], values):
            response = client.get(url, params=query_params(url, town), headers=headers)
            answered[url] = response.status_code
            assert response.status_code < 500, f"{url}: {response.status_code} {response.text}"
            if response.status_code != 200:
                continue
            media = response.headers.get("content-type", "")
            if found := secrets.found_in(as_text(response.content, media)):
                leaks[url] = found[:5]
            if url.endswith("/items"):
                ids = [f["id"] for f in response.json()["features"][:3]]
                item_urls += [f"{url}/{i}" for i in ids]
    for url in item_urls:
        response = client.get(url, headers=headers)
        answered[url] = response.status_code
        assert response.status_code == 200, url
        if found := secrets.found_in(response.text):
            leaks[url] = found[:5]
    assert not leaks, json.dumps(leaks, ensure_ascii=False, indent=1)
    # the sweep really read the township's data, not a row of 404s
    ok = {url for url, status in answered.items() if status == 200}
    for must in ("/flags", f"/reports/monthly/{town}.json", f"/reports/monthly/{town}.pdf",
                 "/collections/flag/items", "/collections/household/items",
                 f"/maps/townships/{town}/gongjian.pdf", f"/routes/{plan_id}.gpx",
                 "/analysis/coverage", "/analysis/relocation"):  # fmt: skip
        assert must in ok, f"{must}: {answered.get(must)}"
    assert len(ok) > 150, f"only {len(ok)} answers were read"


def test_the_same_answers_carry_personal_data_for_the_roles_that_may_see_it(
    client: TestClient, users: Users, town: str, secrets
) -> None:
    """The sweep's secrets are real: an inspector of the township does get them."""
    headers = users.headers("inspector")
    answer = client.get("/collections/household/items", params={"limit": 10_000}, headers=headers)
    assert secrets.found_in(answer.text)
    flags = client.get("/flags", params={"kind": "exited_low_income,income_jump"}, headers=headers)
    assert any(found.startswith("income") for found in secrets.found_in(flags.text))


def test_flags_tell_viewers_the_rule_without_the_income(
    client: TestClient, users: Users, town: str
) -> None:
    answer = client.get(
        "/collections/flag/items", params={"kind": "exited_low_income"},
        headers=users.headers("viewer"),
    )  # fmt: skip
    flags = answer.json()["features"]
    assert flags, "the township has no exited_low_income flag to check"
    for flag in flags:
        props = flag["properties"]
        assert "income" not in props["evidence"] and props["evidence"]["line"] > 0
        assert re.fullmatch(r"已脱贫，\d{4}年人均可支配收入低于(有|无)劳动力户脱贫线[\d,]+元",
                            props["description"]), props["description"]  # fmt: skip


# --- the public files ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def public_files(database_url: str, town: str, tmp_path_factory) -> list[Path]:
    """Every ``--public`` output of the command line for the township."""
    out = tmp_path_factory.mktemp("public")
    runner = CliRunner(env={"DATABASE_URL": database_url, "CI": "1"})
    commands = [
        ["export", layer, "--format", fmt, "--township", town, "--public", "-o",
         str(out / f"{layer}.{fmt}")]
        for layer in EXPORT_LAYERS if layer != "counties"
        for fmt in ("csv", "xlsx", "geojson")
    ]  # fmt: skip
    commands += [
        ["map", "township", town, "--public", "--paper", "A3", "--format", fmt, "-o",
         str(out / f"map.{fmt}")]
        for fmt in ("pdf", "svg", "html")
    ]  # fmt: skip
    commands += [
        ["coverage", "--township", town, "--public", "-o", str(out / "coverage.xlsx")],
        ["relocation", "--township", town, "--public", "-o", str(out / "relocation.xlsx")],
    ]
    for args in commands:
        result = runner.invoke(cli_app, args)
        assert result.exit_code == 0, f"{' '.join(args)}: {result.output}"
    return sorted(p for p in out.iterdir() if p.is_file())


def test_no_public_file_carries_personal_data(public_files: list[Path], secrets) -> None:
    leaks = {p.name: found[:5] for p in public_files if (found := secrets.found_in(file_text(p)))}
    assert not leaks, json.dumps(leaks, ensure_ascii=False, indent=1)
    assert len(public_files) >= 3 * 11 + 5


def test_every_field_of_every_layer_is_classified() -> None:
    """Every column of the data model and every property of every layer has a rule, and a
    layer cannot be registered with a field the register does not know."""
    for table in Base.metadata.tables.values():
        for column in table.columns:
            rule(table.name, column.name)
    for layer in features.REGISTRY.values():
        for name in layer.properties:
            rule(layer.id, name)
    with pytest.raises(UnclassifiedField, match=r"household_probe\.spouse_name"):
        features.register(
            features.Collection(
                id="household_probe", title="x", source="household", geometry_type="Point",
                properties=("household_no", "spouse_name"), scope_code="t.village_code",
            )
        )  # fmt: skip
