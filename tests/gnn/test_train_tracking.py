"""`gnn train` logs to MLflow when MUSICGRAPH_MLFLOW_URI is set (a temporary file store), nothing otherwise."""

from __future__ import annotations

import json

import numpy as np
import pytest


def test_gnn_train_logs_params_metrics_and_artifacts(train_cfg, mg_home, tmp_path, monkeypatch) -> None:
    """`gnn train` with MUSICGRAPH_MLFLOW_URI: the run's config, per-epoch loss, test metrics and files."""
    from mlflow.tracking import MlflowClient

    from musicgraph.config import reset_settings
    from musicgraph.gnn.train import train

    def client(uri: str) -> MlflowClient:
        return MlflowClient(tracking_uri=uri)

    monkeypatch.delenv("MUSICGRAPH_MLFLOW_URI", raising=False)
    reset_settings()
    cfg = train_cfg(tmp_path / "off", model="lightgcn", dim=8, epochs=3)
    off = train(cfg)
    assert "mlflow_run_id" not in off and not (mg_home / "mlruns").exists()  # off by default

    store_uri = (tmp_path / "mlruns").resolve().as_uri()
    monkeypatch.setenv("MUSICGRAPH_MLFLOW_URI", store_uri)
    reset_settings()
    cfg.out = str(tmp_path / "on")
    result = train(cfg)
    run = client(store_uri).get_run(result["mlflow_run_id"])
    assert run.info.status == "FINISHED" and run.info.run_name == f"lightgcn-s{cfg.seed}"
    assert run.data.params["model"] == "lightgcn" and run.data.params["dim"] == "8"
    assert run.data.metrics["test.recall_at_10"] == pytest.approx(result["test"]["recall@10"])
    history = client(store_uri).get_metric_history(run.info.run_id, "loss")
    losses = [json.loads(line)["loss"] for line in (tmp_path / "on" / "metrics.jsonl").read_text().splitlines()]
    assert [m.step for m in history] == [1, 2, 3] and np.allclose([m.value for m in history], losses)
    arts = {a.path for a in client(store_uri).list_artifacts(run.info.run_id)}
    assert arts == {"config.json", "metrics.jsonl", "result.json"}
