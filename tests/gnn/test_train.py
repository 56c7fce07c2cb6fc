from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from musicgraph.gnn.train import TrainConfig, parse_args, sample_negatives, train


@pytest.mark.parametrize("model,mode", [("mf", "full"), ("lightgcn", "full"), ("sage", "full"),
                                        ("sage-bipartite", "full"), ("sage", "minibatch")])
def test_train_runs_logs_and_writes_embeddings(store, mg_home, tmp_path, model, mode, train_cfg):
    out = tmp_path / f"run-{model}-{mode}"
    res = train(train_cfg(out, model=model, mode=mode, fanouts=[5, 5]))
    rows = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert [r["epoch"] for r in rows] == [1, 2, 3, 4]
    assert all(np.isfinite(r["loss"]) for r in rows) and "valid_recall@20" in rows[0]
    assert rows[-1]["loss"] < rows[0]["loss"]
    assert (out / "best.pt").exists() and (out / "last.pt").exists()
    saved = json.loads((out / "result.json").read_text())
    assert saved["test"]["users"] > 0 and 0 <= saved["test"]["recall@10"] <= 1
    emb = torch.load(out / "embeddings.pt", weights_only=False)["embeddings"]
    keys, vecs = emb["Artist"]
    assert vecs.shape == (len(keys), 16) and torch.isfinite(vecs).all()
    if model.startswith("sage"):
        assert "Tag" in emb and "Song" in emb  # GraphSAGE embeds every node type
    assert res["weights_digest"]


def test_training_learns_the_fixture_structure(store, mg_home, tmp_path, train_cfg):
    res = train(train_cfg(tmp_path / "r", model="lightgcn", epochs=30, lr=0.05, eval_every=5))
    assert res["test"]["hit@10"] > 0.5  # users like their block of artists; random would be ~0.25


def test_resume_continues_from_last_checkpoint(store, mg_home, tmp_path, train_cfg):
    out = tmp_path / "resume"
    train(train_cfg(out, model="mf", epochs=2))
    res = train(train_cfg(out, model="mf", epochs=4, resume=True))
    rows = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert [r["epoch"] for r in rows] == [1, 2, 3, 4]
    assert res["epochs_run"] == 4


def test_early_stopping(store, mg_home, tmp_path, train_cfg):
    res = train(train_cfg(tmp_path / "es", model="mf", epochs=50, lr=0.0, patience=2))
    assert res["epochs_run"] == 3  # no improvement after epoch 1 with lr 0


def test_negatives_avoid_training_items():
    rng = np.random.default_rng(0)
    users = np.repeat(np.arange(5), 200)
    train_codes = np.unique(np.array([u * 10 + i for u in range(5) for i in range(8)]))
    neg = sample_negatives(users, 10, train_codes, rng, tries=50)
    assert set(neg.tolist()) <= {8, 9}


def test_cli_args_parse():
    cfg = parse_args(["--model", "lightgcn", "--fanouts", "7", "3", "--no-amp", "--ddp", "--max-minutes", "1.5"])
    assert cfg.model == "lightgcn" and cfg.fanouts == [7, 3] and cfg.amp is False and cfg.ddp and cfg.max_minutes == 1.5


def test_missing_store_is_a_clear_error(mg_home, tmp_path):
    with pytest.raises(FileNotFoundError, match="no embedded store"):
        train(TrainConfig(source="store", store=str(tmp_path / "nowhere"), out=str(tmp_path / "o"), progress=False))


def test_plateau_restarts_from_best_checkpoint_with_smaller_lr(store, mg_home, tmp_path, train_cfg):
    out = tmp_path / "decay"
    res = train(train_cfg(out, model="mf", epochs=80, lr=0.02, patience=1, lr_decays=2, lr_decay=0.5))
    rows = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    decays = [r for r in rows if "lr_decay" in r]
    assert [r["lr_decay"] for r in decays] == [1, 2]  # two restarts, then early stopping
    assert res["stop_reason"] == "early stopping" and res["epochs_run"] > decays[-1]["epoch"]
    last = torch.load(out / "last.pt", weights_only=False)
    assert all(g["lr"] == pytest.approx(0.02 * 0.25) for g in last["opt"]["param_groups"])
    assert last["state"]["decays"] == 2


def test_plateau_restart_loads_the_best_weights(store, mg_home, tmp_path, train_cfg):
    # lr_decay 0: after the restart the weights stay at the best checkpoint, so the weights at the
    # end of training are exactly the best checkpoint's (and differ from where the plateau was met)
    from musicgraph.gnn.models import LinkPredictor, build_model
    from musicgraph.gnn.train import LinkPredictionModel, load_graph, weights_digest

    out = tmp_path / "restore"
    cfg = train_cfg(out, model="mf", epochs=80, lr=0.02, patience=1, lr_decays=1, lr_decay=0.0)
    res = train(cfg)
    graph, _ = load_graph(cfg, cfg.split_seed)
    task = LinkPredictionModel(build_model("mf", graph, dim=16), LinkPredictor(16), "bpr", cfg.reg)
    task.load_state_dict(torch.load(out / "best.pt", weights_only=False)["model"])
    assert res["weights_digest"] == weights_digest(task)
    rows = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert any("lr_decay" in r for r in rows) and rows[-1]["epoch"] > torch.load(out / "best.pt", weights_only=False)["epoch"]


def test_plateau_restart_with_lr_zero_keeps_weights(store, mg_home, tmp_path, train_cfg):
    res = train(train_cfg(tmp_path / "d0", model="mf", epochs=50, lr=0.0, patience=2, lr_decays=1))
    assert res["epochs_run"] == 5  # plateau at 3 (restart), again at 5 (stop)


def test_preset_expands_and_other_options_win():
    from musicgraph.gnn.presets import PRESETS

    name = "GraphSAGE + KG (tags, friends) + cosine softmax, dim 128"
    cfg = parse_args(["--seed", "7", "--preset", name, "--dim", "32"])
    want = PRESETS[name]
    assert cfg.model == "sage" and cfg.loss == "multinomial" and cfg.predictor == "cos" and cfg.rel_scale
    assert cfg.seed == 7 and cfg.dim == 32  # given options override the preset wherever they stand
    assert (cfg.temperature, cfg.batch_size, cfg.layers) == (want.temperature, want.batch_size, want.layers) == (0.1, 512, 3)
    assert parse_args(["--preset", "lightgcn---cosine-softmax"]).predictor == "cos"  # by slug
    with pytest.raises(SystemExit, match="unknown preset"):
        parse_args(["--preset", "GraphSAGE++"])


#: The presets as they were written before they became TrainConfig objects (argv lists, commit 7a5f419).
_OLD_ARGS = {
    "MF-BPR": ["--model", "mf", "--lr", "0.002", "--reg", "1e-3", "--batch-size", "2048", "--eval-every", "5",
               "--patience", "5"],
    "LightGCN": ["--model", "lightgcn", "--layers", "3", "--lr", "0.01", "--reg", "1e-4", "--batch-size", "16384",
                 "--eval-every", "5", "--patience", "4"],
    "GraphSAGE (bipartite)": ["--model", "sage-bipartite", "--aggr", "sym", "--layers", "3", "--lr", "0.01",
                              "--transform-lr", "0.05", "--reg", "1e-4", "--batch-size", "16384",
                              "--eval-every", "5", "--patience", "4", "--no-features"],
    "GraphSAGE + KG (tags, friends)": ["--model", "sage", "--aggr", "sym", "--rel-aggr", "sum", "--layers", "3",
                                       "--lr", "0.01", "--transform-lr", "0", "--rel-scale", "--rel-scale-init", "0.1",
                                       "--reg", "1e-4", "--batch-size", "16384", "--eval-every", "5",
                                       "--patience", "4", "--no-features"],
}
_OLD_COS = ["--loss", "multinomial", "--predictor", "cos", "--temperature", "0.1", "--batch-size", "512"]


def test_presets_are_the_settings_they_were_and_round_trip_through_the_command_line():
    from musicgraph.gnn.presets import PRESETS, preset_args

    old = dict(_OLD_ARGS)
    for name in ("LightGCN", "GraphSAGE (bipartite)", "GraphSAGE + KG (tags, friends)"):
        old[f"{name} + cosine softmax"] = old[name] + _OLD_COS  # later options win, as _with() replaced them
    old["MF + cosine softmax"] = old["MF-BPR"] + _OLD_COS + ["--lr", "0.01", "--reg", "1e-4"]
    for name in ("MF", "LightGCN", "GraphSAGE (bipartite)", "GraphSAGE + KG (tags, friends)"):
        old[f"{name} + cosine softmax, dim 128"] = old[f"{name} + cosine softmax"] + ["--dim", "128"]
    assert set(old) == set(PRESETS)
    for name, args in old.items():
        assert PRESETS[name] == parse_args(args), name
        assert parse_args(preset_args(name)) == PRESETS[name], name
        assert parse_args(["--preset", name]) == PRESETS[name], name


def test_train_config_rejects_values_outside_its_literals():
    with pytest.raises(ValueError, match="TrainConfig.loss must be one of bpr, bce, softmax, multinomial; got 'hinge'"):
        TrainConfig(loss="hinge")  # type: ignore[arg-type]
    with pytest.raises(SystemExit):
        parse_args(["--model", "gat"])
