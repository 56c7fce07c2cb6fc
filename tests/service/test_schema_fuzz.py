"""Schema fuzzing: schemathesis generates requests from /openapi.json and checks every response.

Bounded for CI (``MUSICGRAPH_FUZZ_EXAMPLES`` examples per operation, 20 by default; the same
examples every run under the ``ci`` Hypothesis profile). Expected: no server error, every status
code, content type, header and body as documented. (The operations are driven from Hypothesis
directly: schemathesis's pytest plugin does not run under this pytest.)
"""

from __future__ import annotations

import os

import pytest

schemathesis = pytest.importorskip("schemathesis", reason="schemathesis comes with the dev extra")
from hypothesis import HealthCheck, given, settings  # noqa: E402
from schemathesis import checks  # noqa: E402

EXAMPLES = int(os.environ.get("MUSICGRAPH_FUZZ_EXAMPLES", "20"))
CHECKS = [checks.not_a_server_error, checks.status_code_conformance, checks.content_type_conformance,
          checks.response_schema_conformance, checks.response_headers_conformance]


def test_api_conforms_to_its_schema(live_server):
    schema = schemathesis.openapi.from_url(live_server.url + "/openapi.json")
    operations = [r.ok() for r in schema.get_all_operations()]
    assert len(operations) >= 17
    failures: dict[str, str] = {}
    calls: dict[str, int] = {}
    for op in operations:
        calls[op.label] = 0
        try:
            _fuzz(op, calls)
        except Exception as exc:  # noqa: BLE001 - collected per operation, reported together
            failures[op.label] = f"{type(exc).__name__}: {exc}"[:2000]
    assert failures == {}, "\n\n".join(f"{k}\n{v}" for k, v in failures.items())
    assert all(n > 0 for n in calls.values()), calls


def _fuzz(op, calls: dict[str, int]) -> None:
    @given(case=op.as_strategy())
    @settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck), database=None)
    def run(case):
        calls[op.label] += 1
        case.call_and_validate(checks=CHECKS)

    run()
