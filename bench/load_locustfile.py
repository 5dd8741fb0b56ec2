"""The simulated users of ``bench/load.py`` (a locust file; run by that script, not alone).

Township offices and county planners on the web map: mostly vector tiles, some item pages
and flag lists, now and then a wall-map PNG, and edits of household cards (each user edits
its own household, so every edit is a real change: a new version and an audit row).
Targets and tokens come from the JSON file named by ``BENCH_LOAD_TARGETS``.
"""

from __future__ import annotations

import itertools
import json
import os
import random

from locust import HttpUser, between, events, task

with open(os.environ["BENCH_LOAD_TARGETS"], encoding="utf-8") as _targets:
    TARGETS = json.load(_targets)
SERVER_ERRORS: dict[str, int] = {}
EDITS_DONE: list[int] = []
NEXT_USER = itertools.count()


@events.request.add_listener
def _count_server_errors(name, response, **_kwargs) -> None:
    if response is not None and response.status_code >= 500:
        SERVER_ERRORS[name] = SERVER_ERRORS.get(name, 0) + 1


@events.quitting.add_listener
def _save(environment, **_kwargs) -> None:
    with open(TARGETS["results_file"], "w", encoding="utf-8") as f:
        json.dump({"server_errors": SERVER_ERRORS, "edits": len(EDITS_DONE)}, f)


class Office(HttpUser):
    wait_time = between(1, 3)

    def on_start(self) -> None:
        self.number = next(NEXT_USER)
        self.viewer = {"Authorization": f"Bearer {TARGETS['viewer_token']}"}
        self.editor = {"Authorization": f"Bearer {TARGETS['editor_token']}"}
        households = TARGETS["edit_households"]
        self.household = households[self.number % len(households)]

    def _get(self, path: str, name: str, headers: dict) -> None:
        with self.client.get(path, headers=headers, name=name, catch_response=True) as r:
            if r.status_code not in (200, 204, 304):
                r.failure(f"HTTP {r.status_code}: {r.text[:120]}")

    @task(60)
    def tile(self) -> None:
        layer, z, x, y = random.choice(TARGETS["tiles"])
        self._get(f"/tiles/{layer}/{z}/{x}/{y}.mvt", "tile", self.viewer)

    @task(10)
    def items(self) -> None:
        township = random.choice(TARGETS["townships"])
        offset = random.choice((0, 100, 200))
        path = f"/collections/household/items?township={township}&limit=100&offset={offset}"
        self._get(path, "items", self.viewer)

    @task(5)
    def flags(self) -> None:
        self._get(f"/flags?county={TARGETS['county']}&limit=50", "flags", self.viewer)

    @task(1)
    def wallmap(self) -> None:
        township = random.choice(TARGETS["townships"])
        self._get(f"/maps/townships/{township}/gongjian.png", "wallmap_png", self.viewer)

    @task(1)
    def edit(self) -> None:
        path = f"/collections/household/items/{self.household}"
        read = self.client.get(path, headers=self.editor, name="edit_read")
        if read.status_code != 200:
            return
        phone = f"139{random.randrange(10**8):08d}"
        headers = self.editor | {"If-Match": read.headers["etag"]}
        with self.client.patch(
            path, json={"phone": phone}, headers=headers, name="edit", catch_response=True
        ) as r:
            if r.status_code == 200:
                EDITS_DONE.append(self.household)
            else:
                r.failure(f"HTTP {r.status_code}: {r.text[:120]}")
