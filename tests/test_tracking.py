"""MLflow tracking (musicgraph.tracking) against a temporary local file store."""

from __future__ import annotations

import pytest

from musicgraph.config import reset_settings


@pytest.fixture
def home(tmp_path, monkeypatch):
    monkeypatch.setenv("MUSICGRAPH_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("MUSICGRAPH_MLFLOW_URI", raising=False)
    reset_settings()
    yield tmp_path / "home"
    reset_settings()


def client(uri: str):
    from mlflow.tracking import MlflowClient

    return MlflowClient(tracking_uri=uri)


def test_mlflow_flag_uses_the_local_file_store(home, tmp_path) -> None:
    from musicgraph.tracking import Tracker, tracking_uri

    assert tracking_uri(False) is None
    with Tracker.start("musicgraph-test", params={"a": {"b": 1}}, enabled=True) as t:
        t.metrics({"x@10": 0.5, "skip": "text", "nan": float("nan")}, step=1)
        run_id = t.run_id
    uri = (home / "mlruns").resolve().as_uri()
    run = client(uri).get_run(run_id)
    assert run.data.params == {"a.b": "1"} and run.data.metrics == {"x_at_10": 0.5}
    with pytest.raises(ZeroDivisionError), Tracker.start("musicgraph-test", enabled=True) as t:
        failed = t.run_id
        1 / 0  # noqa: B018
    assert client(uri).get_run(failed).info.status == "FAILED"
