"""Locust users of the service load test (run by ``benchmarks/load_service.py``, not on its own).

* ``Reader``: 70 % ``POST /retrieve`` (free text), 20 % ``POST /recommend`` (structured, artist
  seeds), 10 % ``POST /ask`` (template generator), each user at ``LOAD_RATE`` requests/s
  (``constant_throughput``), requests drawn in a fixed order from ``LOAD_QUERIES`` (a JSON file).
* ``CatalogWriter`` (one user): every ``LOAD_WRITE_EVERY`` seconds adds a song through
  ``POST /catalog/changes`` and, the next time, deletes it again (new change ids each time), so every
  worker reloads its indexes while the readers run.

A response that is not 200, or a retrieve/ask response without results, counts as a failure.
"""

from __future__ import annotations

import itertools
import json
import os
import uuid

from locust import HttpUser, constant, constant_throughput, task

QUERIES = json.loads(open(os.environ["LOAD_QUERIES"], encoding="utf-8").read())  # noqa: SIM115
RATE = float(os.environ.get("LOAD_RATE", "3"))
WRITE_EVERY = float(os.environ.get("LOAD_WRITE_EVERY", "15"))
KEY = os.environ.get("LOAD_API_KEY", "")
_COUNTER = itertools.count()


def _next(kind: str) -> object:
    items = QUERIES[kind]
    return items[next(_COUNTER) % len(items)]


class Reader(HttpUser):
    wait_time = constant_throughput(RATE)

    def _post(self, path: str, body: dict, field: str | None) -> None:
        with self.client.post(path, json=body, name=path, catch_response=True) as resp:
            if resp.status_code != 200:
                resp.failure(f"HTTP {resp.status_code}: {resp.text[:200]}")
            elif field and not resp.json().get(field):
                resp.failure(f"no {field} for {body}")
            else:
                resp.success()

    @task(7)
    def retrieve(self) -> None:
        self._post("/retrieve", {"query": _next("retrieve"), "k": 10}, "results")

    @task(2)
    def recommend(self) -> None:
        self._post("/recommend", {"request": _next("recommend")}, None)  # an empty list can be right

    @task(1)
    def ask(self) -> None:
        self._post("/ask", {"question": _next("ask"), "k": 5, "backend": "template"}, "recommendations")


class CatalogWriter(HttpUser):
    fixed_count = 1
    wait_time = constant(WRITE_EVERY)

    def on_start(self) -> None:
        self.added = False
        self.n = 0

    @task
    def change(self) -> None:
        self.n += 1
        song = {"type": "song", "artist": "Load Test Band", "title": "Writer Song", "year": 2024,
                "moods": ["happy"], "features": {"energy": 0.7, "valence": 0.6}}
        if self.added:
            body = {"change_id": f"load-{uuid.uuid4().hex}", "op": "delete",
                    "changes": [{"type": "song", "artist": song["artist"], "title": song["title"]}]}
        else:
            body = {"change_id": f"load-{uuid.uuid4().hex}", "op": "add", "changes": [song]}
        with self.client.post("/catalog/changes", json=body, name=f"/catalog/changes ({body['op']})",
                              headers={"Authorization": f"Bearer {KEY}"}, catch_response=True) as resp:
            if resp.status_code == 200:
                self.added = not self.added
                resp.success()
            else:
                resp.failure(f"HTTP {resp.status_code}: {resp.text[:200]}")
