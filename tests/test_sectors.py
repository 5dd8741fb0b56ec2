"""分组包片 sectors: balanced, contiguous, deterministic; stored, drawn, served and accepted.

Contiguity is checked against a hamlet graph built here independently (shapely's Voronoi
cells of the hamlets, neighbours when two cells share an edge), not the one in geo.sectors.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import shapely
import sqlalchemy as sa
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from geo.sectors import SectorProblem, allowed_sizes, evaluate, hamlet_graph, propose

ACTOR = "test-sectors"


def voronoi_neighbours(xy: np.ndarray) -> list[set[int]]:
    """Hamlets whose Voronoi cells share an edge (independent of geo.sectors)."""
    points = shapely.MultiPoint([tuple(p) for p in xy])
    cells = list(shapely.voronoi_polygons(points, extend_to=points.envelope.buffer(1e4)).geoms)
    owner = [next(i for i, c in enumerate(cells) if c.covers(shapely.Point(p))) for p in xy]
    neighbours: list[set[int]] = [set() for _ in xy]
    for a in range(len(xy)):
        for b in range(a + 1, len(xy)):
            shared = cells[owner[a]].intersection(cells[owner[b]])
            if shared.length > 1e-6:
                neighbours[a].add(b)
                neighbours[b].add(a)
    return neighbours


def connected(hamlets: set[int], neighbours: list[set[int]]) -> bool:
    if not hamlets:
        return True
    start = min(hamlets)
    seen, todo = {start}, [start]
    while todo:
        for nb in neighbours[todo.pop()] & hamlets:
            if nb not in seen:
                seen.add(nb)
                todo.append(nb)
    return seen == hamlets


def synthetic_problem(seed: int, hamlets: int = 40, members: int = 30) -> tuple:
    """Hamlets scattered over 10 km, 1–40 households each, travel 1 km a minute."""
    rng = np.random.default_rng(seed)
    xy = rng.uniform(0, 10_000, size=(hamlets, 2))
    seat = np.array([[5_000.0, 5_000.0]])
    everything = np.vstack([seat, xy])
    minutes = np.hypot(*(everything[:, None] - everything[None, :]).transpose(2, 0, 1)) / 1000
    counts = rng.integers(1, 40, size=hamlets)
    hamlet_of = np.repeat(np.arange(hamlets), counts)
    households = pd.DataFrame(
        {
            "id": np.arange(1000, 1000 + len(hamlet_of)),
            "hamlet": hamlet_of,
            "cadre_id": rng.integers(1, members + 1, size=len(hamlet_of)),
        }
    )
    problem = SectorProblem(households, minutes, hamlet_graph(xy), list(range(1, members + 1)))
    return problem, xy


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_every_member_gets_a_fair_share_of_connected_hamlets(seed):
    problem, xy = synthetic_problem(seed)
    assignment = propose(problem)
    assert set(assignment) == set(problem.households["id"])  # every household placed
    sizes = pd.Series(assignment).value_counts()
    assert set(sizes.index) == set(problem.members)  # every member has households
    n, k = len(problem.households), len(problem.members)
    assert set(sizes) <= set(allowed_sizes(n, k))
    assert sizes.max() <= np.ceil(n / k * 1.1) and sizes.min() >= np.floor(n / k * 0.9)
    neighbours = voronoi_neighbours(xy)
    hamlet_of = dict(zip(problem.households["id"], problem.households["hamlet"], strict=True))
    for member in problem.members:
        mine = {hamlet_of[h] for h, m in assignment.items() if m == member}
        assert connected(mine, neighbours), member


def test_the_proposal_is_deterministic_whatever_the_row_order():
    problem, _ = synthetic_problem(7)
    first = propose(problem)
    shuffled = problem.households.sample(frac=1.0, random_state=3)
    again = propose(SectorProblem(shuffled, problem.minutes, problem.neighbours, problem.members))
    assert first == again == propose(problem)


def test_members_keep_their_current_households_where_they_can():
    """When the current pairing already is a fair contiguous division, nothing moves."""
    problem, _ = synthetic_problem(5, hamlets=12, members=6)
    proposal = propose(problem)
    as_current = problem.households.assign(cadre_id=problem.households["id"].map(proposal))
    again = propose(SectorProblem(as_current, problem.minutes, problem.neighbours, problem.members))
    assert again == proposal
    report = evaluate(problem, proposal, "ours")
    assert report.all_contiguous and report.balanced


# --- the demo township, through the database ------------------------------------------------


@pytest.fixture(scope="module")
def township(demo_world, engine) -> str:
    """The demo township with the fewest scattered households (quickest)."""
    with engine.connect() as conn:
        return conn.execute(
            sa.text(
                "SELECT v.township_code FROM household h JOIN village v ON v.code = h.village_code "
                "WHERE h.scattered AND h.synthetic GROUP BY 1 ORDER BY count(*), 1 LIMIT 1"
            )
        ).scalar()


def test_demo_proposal_is_balanced_contiguous_and_beats_the_current_pairings(engine, township):
    from layers import sectors

    inputs = sectors.load(engine, township)
    comparison = sectors.propose_for(inputs)
    ours, current = comparison.ours, comparison.current
    n, k = len(inputs.problem.households), len(inputs.problem.members)
    assert set(ours.sectors["households"]) <= set(allowed_sizes(n, k))
    metric = inputs.hamlets.to_crs(inputs.crs)
    neighbours = voronoi_neighbours(shapely.get_coordinates(metric.geometry.to_numpy()))
    hamlet_of = dict(
        zip(inputs.problem.households["id"], inputs.problem.households["hamlet"], strict=True)
    )
    for member in inputs.problem.members:
        mine = {hamlet_of[h] for h, m in comparison.proposal.items() if m == member}
        assert mine and connected(mine, neighbours), member
    assert ours.max_imbalance_pct < current.max_imbalance_pct
    assert ours.mean_round_trip_min <= current.mean_round_trip_min
    with engine.connect() as conn:
        members = conn.execute(
            sa.text(
                "SELECT count(*) FROM work_group wg JOIN work_group_member m "
                "ON m.work_group_id = wg.id WHERE wg.township_code = :t AND m.role = 'member' "
                "AND EXISTS (SELECT 1 FROM household h WHERE h.cadre_id = m.cadre_id)"
            ),
            {"t": township},
        ).scalar()
    assert k == members


def test_cli_stores_draws_serves_and_accepts(engine, township, database_url, monkeypatch, tmp_path):
    from api.app import create_app
    from api.cli import app
    from layers.access import add_user
    from layers.wallmap_data import fetch_township_sheet
    from maps.wallmap.render import MapOptions, build_sheet, close

    monkeypatch.setenv("DATABASE_URL", database_url)
    with engine.connect() as conn:
        before = dict(
            conn.execute(
                sa.text(
                    "SELECT h.id, h.cadre_id FROM household h JOIN village v "
                    "ON v.code = h.village_code WHERE v.township_code = :t AND h.scattered"
                ),
                {"t": township},
            ).all()
        )
    result = CliRunner().invoke(app, ["sectors", "--township", township])
    assert result.exit_code == 0, result.output
    assert "proposed" in result.output and "current" in result.output
    with engine.connect() as conn:
        rows = conn.execute(
            sa.text("SELECT cadre_id, status, household_ids FROM sector WHERE township_code = :t"),
            {"t": township},
        ).all()
        unchanged = dict(
            conn.execute(
                sa.text("SELECT id, cadre_id FROM household WHERE id = ANY(:ids)"),
                {"ids": list(before)},
            ).all()
        )
    assert unchanged == before  # a proposal changes nobody's pairing
    assert {r.status for r in rows} == {"proposed"}
    assert sorted(h for r in rows for h in r.household_ids) == sorted(before)

    # the wall map overlay names every member's sector
    sheet = fetch_township_sheet(engine, township, sector_plan=True)
    rendered = build_sheet(sheet, MapOptions(paper="A4").check())
    try:
        entry = next(e for e in rendered.legend if "分组包片" in e.label)
        assert entry.count == f"{len(rows)} 人"
    finally:
        close(rendered)

    # the web map's layer: the sectors as features, for a user of the township
    token = add_user(engine, f"{ACTOR}-viewer", "viewer", township, actor="test")
    try:
        with TestClient(create_app(engine)) as client:
            response = client.get(
                "/collections/sector/items",
                params={"township": township, "limit": 1000},
                headers={"Authorization": f"Bearer {token}"},
            )
        assert response.status_code == 200, response.text
        assert len(response.json()["features"]) == len(rows)
    finally:
        with engine.begin() as conn:
            conn.execute(sa.text("DELETE FROM api_user WHERE name = :n"), {"n": f"{ACTOR}-viewer"})

    # accepting pairs each household with its member, audited; then the demo is restored
    with engine.connect() as conn:
        started = conn.execute(sa.text("SELECT clock_timestamp()")).scalar()
    try:
        result = CliRunner().invoke(app, ["sectors", "--township", township, "--accept"])
        assert result.exit_code == 0, result.output
        proposal = {h: r.cadre_id for r in rows for h in r.household_ids}
        with engine.connect() as conn:
            now = dict(
                conn.execute(
                    sa.text("SELECT id, cadre_id FROM household WHERE id = ANY(:ids)"),
                    {"ids": list(before)},
                ).all()
            )
            audited = conn.execute(
                sa.text(
                    "SELECT count(*) FROM audit_log WHERE table_name = 'household' "
                    "AND row_id = ANY(:ids) AND at >= :t AND after ? 'cadre_id'"
                ),
                {"ids": [str(h) for h in before], "t": started},
            ).scalar()
            status = set(
                conn.execute(
                    sa.text("SELECT status FROM sector WHERE township_code = :t"), {"t": township}
                ).scalars()
            )
        assert now == proposal
        changed = sum(1 for h in before if before[h] != proposal[h])
        assert changed > 0 and audited == changed
        assert f"{changed:,} households" in result.output
        assert status == {"accepted"}
    finally:
        _restore(engine, before, started)


def _restore(engine, before: dict[int, int], started) -> None:
    """Put the demo's pairings back and drop the archive and audit rows the test made."""
    ids = list(before)
    with engine.begin() as conn:
        for household_id, cadre_id in before.items():
            conn.execute(
                sa.text(
                    "UPDATE household SET cadre_id = :c WHERE id = :id "
                    "AND cadre_id IS DISTINCT FROM :c"
                ),
                {"c": cadre_id, "id": household_id},
            )
        conn.execute(
            sa.text(
                "DELETE FROM household_history WHERE household_id = ANY(:ids) AND recorded_at >= :t"
            ),
            {"ids": ids, "t": started},
        )
        conn.execute(
            sa.text(
                "DELETE FROM audit_log WHERE table_name = 'household' AND row_id = ANY(:ids) "
                "AND at >= :t"
            ),
            {"ids": [str(h) for h in ids], "t": started},
        )
        conn.execute(sa.text("DELETE FROM sector"))
