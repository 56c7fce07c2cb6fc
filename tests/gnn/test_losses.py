"""Losses and options added for fast full-batch training: multinomial, sampled softmax, several
negatives per positive, per-relation scalars in GraphSAGE."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from musicgraph.gnn.models import HeteroSAGE, LinkPredictor, softmax_loss
from musicgraph.gnn.train import train


def test_softmax_loss_is_cross_entropy_of_the_positive():
    g = torch.Generator().manual_seed(0)
    pos, neg = torch.randn(7, generator=g), torch.randn(7, 5, generator=g)
    want = F.cross_entropy(torch.cat([pos[:, None], neg], 1) / 0.5, torch.zeros(7, dtype=torch.long))
    assert torch.allclose(softmax_loss(pos, neg, 0.5), want, atol=1e-6)
    # a positive far above its negatives costs almost nothing, far below costs a lot
    assert softmax_loss(torch.full((3,), 10.0), torch.zeros(3, 4), 1.0) < 1e-3
    assert softmax_loss(torch.full((3,), -10.0), torch.zeros(3, 4), 1.0) > 9


@pytest.mark.parametrize("model", ["lightgcn", "sage", "mf"])
def test_multinomial_loss_learns_the_fixture_structure(store, mg_home, tmp_path, model, train_cfg):
    out = tmp_path / f"multi-{model}"
    res = train(train_cfg(out, model=model, loss="multinomial", epochs=40, lr=0.05, eval_every=10,
                     batch_size=10, temperature=0.5, features=False))
    rows = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert rows[-1]["loss"] < rows[0]["loss"]
    assert res["test"]["hit@10"] > 0.5  # users like their block of artists; random would be ~0.25


def test_multinomial_needs_full_batch(store, mg_home, tmp_path, train_cfg):
    with pytest.raises(ValueError, match="multinomial"):
        train(train_cfg(tmp_path / "mb", model="sage", loss="multinomial", mode="minibatch", fanouts=[3, 3]))


@pytest.mark.parametrize("loss", ["bpr", "bce", "softmax"])
def test_several_negatives_per_positive(store, mg_home, tmp_path, loss, train_cfg):
    out = tmp_path / f"neg-{loss}"
    train(train_cfg(out, model="lightgcn", loss=loss, num_neg=4, epochs=6, lr=0.05))
    rows = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert all(np.isfinite(r["loss"]) for r in rows) and rows[-1]["loss"] < rows[0]["loss"]


def test_several_negatives_in_minibatch_mode(store, mg_home, tmp_path, train_cfg):
    out = tmp_path / "neg-mb"
    res = train(train_cfg(out, model="sage", mode="minibatch", fanouts=[4, 4], num_neg=3, epochs=2))
    assert res["test"]["users"] > 0


def test_unknown_loss_is_rejected(store, mg_home, tmp_path, train_cfg):
    with pytest.raises(ValueError, match="loss must be"):
        train(train_cfg(tmp_path / "bad", model="mf", loss="hinge"))


def _toy_hetero():
    n = {"User": 5, "Artist": 6, "Tag": 3}
    inter = ("User", "LISTENED_TO", "Artist")
    ei = {
        inter: torch.tensor([[0, 0, 1, 2, 3, 4, 4], [0, 1, 2, 3, 4, 5, 0]]),
        ("Artist", "rev_LISTENED_TO", "User"): torch.tensor([[0, 1, 2, 3, 4, 5, 0], [0, 0, 1, 2, 3, 4, 4]]),
        ("User", "FRIEND_OF", "User"): torch.tensor([[0, 1, 2, 3], [1, 0, 3, 2]]),
        ("Artist", "TAGGED", "Tag"): torch.tensor([[0, 1, 2, 3, 4, 5], [0, 0, 1, 1, 2, 2]]),
        ("Tag", "rev_TAGGED", "Artist"): torch.tensor([[0, 0, 1, 1, 2, 2], [0, 1, 2, 3, 4, 5]]),
    }
    return n, inter, ei


def test_relation_scales_weigh_side_relations():
    n, inter, ei = _toy_hetero()
    n_id = {t: torch.arange(k) for t, k in n.items()}
    kw = dict(dim=8, num_layers=2, aggr="sym", rel_aggr="sum")
    torch.manual_seed(0)
    kg = HeteroSAGE(n, list(ei), rel_scale=True, rel_scale_init=0.0, **kw)
    torch.manual_seed(0)
    bip = HeteroSAGE(n, [inter, ("Artist", "rev_LISTENED_TO", "User")], **kw)
    bip.load_state_dict({k: v for k, v in kg.state_dict().items() if k in bip.state_dict()}, strict=False)
    for t in n:
        bip.emb[t].weight.data.copy_(kg.emb[t].weight.data)
    scales = kg.relation_scales()
    assert scales["User__LISTENED_TO__Artist"] == 1.0 and scales["User__FRIEND_OF__User"] == 0.0
    # side relations at scale 0 add nothing: the KG model equals the bipartite one
    a, b = kg.encode(n_id, ei), bip.encode(n_id, {k: v for k, v in ei.items() if k in bip.edge_types})
    assert torch.allclose(a["User"], b["User"], atol=1e-6) and torch.allclose(a["Artist"], b["Artist"], atol=1e-6)
    # the scalars are trained: they receive a gradient, and a non-zero friend scalar changes users
    out = kg.encode(n_id, ei)
    out["User"].pow(2).sum().backward()
    assert kg.rel_scale["User__FRIEND_OF__User"].grad is not None
    assert kg.rel_scale["User__FRIEND_OF__User"].grad.abs() > 0
    with torch.no_grad():
        kg.rel_scale["User__FRIEND_OF__User"].fill_(0.5)
    assert not torch.allclose(kg.encode(n_id, ei)["User"], a["User"])


def test_relation_scales_train_end_to_end(store, mg_home, tmp_path, train_cfg):
    out = tmp_path / "kg"
    res = train(train_cfg(out, model="sage", aggr="sym", rel_aggr="sum", rel_scale=True, rel_scale_init=0.2,
                     transform_lr=0.0, features=False, epochs=3))
    ck = torch.load(out / "best.pt", weights_only=False)["model"]
    scales = {k: float(v) for k, v in ck.items() if ".rel_scale." in k}
    assert scales and any(abs(v - 0.2) > 1e-6 for k, v in scales.items() if "LISTENED" not in k)
    assert res["test"]["users"] > 0


def test_new_options_parse_from_the_command_line():
    from musicgraph.gnn.train import parse_args

    cfg = parse_args(["--loss", "multinomial", "--num-neg", "3", "--temperature", "0.5", "--rel-scale",
                      "--rel-scale-init", "0.2"])
    assert (cfg.loss, cfg.num_neg, cfg.temperature, cfg.rel_scale, cfg.rel_scale_init) == ("multinomial", 3, 0.5, True, 0.2)
    assert parse_args([]).rel_scale is False and parse_args([]).num_neg == 1


def test_metrics_log_cpu_time_and_checkpoint_on_evaluated_epochs(store, mg_home, tmp_path, train_cfg):
    out = tmp_path / "cpu"
    res = train(train_cfg(out, model="lightgcn", epochs=4, eval_every=2))
    rows = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    cpu = [r["cpu_s"] for r in rows]
    assert all(c > 0 for c in cpu) and cpu == sorted(cpu) and res["cpu_s"] == pytest.approx(cpu[-1], abs=0.01)
    last = torch.load(out / "last.pt", weights_only=False)
    assert last["state"]["epoch"] == 4  # written at the evaluated epochs 2 and 4


def test_cosine_predictor_scores_are_scale_free_and_consistent():
    g = torch.Generator().manual_seed(0)
    u, items = torch.randn(4, 8, generator=g), torch.randn(6, 8, generator=g)
    pred = LinkPredictor(8, "cos")
    full = pred.all_items(u, items)
    assert full.shape == (4, 6) and (full.abs() <= 1 + 1e-6).all()
    assert torch.allclose(pred(u[:, None, :].expand(4, 6, 8), items[None].expand(4, 6, 8)), full, atol=1e-6)
    assert torch.allclose(pred.all_items(3 * u, 0.5 * items), full, atol=1e-6)  # lengths do not matter
    assert not torch.allclose(LinkPredictor(8, "dot").all_items(3 * u, items), LinkPredictor(8, "dot").all_items(u, items))
    with pytest.raises(ValueError, match="cos"):
        LinkPredictor(8, "cosine")


def test_cosine_softmax_training_learns_and_stores_unit_vectors(store, mg_home, tmp_path, train_cfg):
    out = tmp_path / "cos"
    res = train(train_cfg(out, model="sage", loss="multinomial", predictor="cos", temperature=0.1, epochs=40,
                     lr=0.05, eval_every=10, batch_size=10, features=False, aggr="sym"))
    assert res["test"]["hit@10"] > 0.5  # the fixture's blocks (random ~0.25)
    saved = torch.load(out / "embeddings.pt", weights_only=False)
    assert saved["predictor"] == "cos"
    _, vecs = saved["embeddings"]["Artist"]
    assert torch.allclose(vecs.norm(dim=1), torch.ones(len(vecs)), atol=1e-5)
