"""XSimGCL's contrastive regularizer: view noise, InfoNCE, the two views of one forward pass, training."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from musicgraph.gnn.models import MF, LightGCN, LinkPredictor, info_nce, perturb
from musicgraph.gnn.train import LinkPredictionModel, train


def test_perturb_adds_a_vector_of_length_eps_in_the_same_orthant():
    torch.manual_seed(0)
    x = torch.randn(50, 8)
    y = perturb(x, 0.3)
    assert torch.allclose((y - x).norm(dim=1), torch.full((50,), 0.3), atol=1e-5)
    assert (torch.sign(y) == torch.sign(x)).all()  # moves away from zero, never flips a sign
    assert not torch.allclose(perturb(x, 0.3), y)  # random each call


def test_info_nce_rewards_matching_rows():
    torch.manual_seed(0)
    a = torch.randn(64, 16)
    same = info_nce(a, a + 0.01 * torch.randn_like(a), 0.2)
    shuffled = info_nce(a, a[torch.randperm(64)], 0.2)
    assert same < 1.0 < np.log(64) < shuffled  # log(64): the loss of a uniform guess
    # cosine based: scaling a view changes nothing; equal to the cross-entropy written out
    assert torch.allclose(info_nce(a, 3 * a, 0.2), info_nce(a, a, 0.2), atol=1e-5)
    b = a[torch.randperm(64, generator=torch.Generator().manual_seed(1))]
    logits = F.normalize(a, dim=1) @ F.normalize(b, dim=1).T / 0.5
    assert torch.allclose(info_nce(a, b, 0.5), F.cross_entropy(logits, torch.arange(64)), atol=1e-5)


def _lightgcn() -> LightGCN:
    torch.manual_seed(0)
    m = LightGCN(6, 5, dim=8, num_layers=2)
    users = torch.tensor([0, 0, 1, 2, 3, 4, 5, 5])
    items = torch.tensor([0, 1, 1, 2, 3, 4, 4, 0])
    m.set_graph(users, items)
    return m


def test_lightgcn_views_are_noisy_only_in_training():
    m = _lightgcn()
    m.eval()
    clean_u, clean_i = m()
    u, i, vu, vi = m.views(None, cl_layer=1)
    assert torch.equal(u, clean_u) and torch.equal(i, clean_i)
    m.noise_eps = 0.1
    u2, _, _, _ = m.views(None, cl_layer=1)
    assert torch.equal(u2, clean_u)  # eval: no noise even with noise_eps set
    m.train()
    u3, i3, vu3, vi3 = m.views(None, cl_layer=1)
    assert not torch.allclose(u3, clean_u)
    assert (u3 - clean_u).norm(dim=1).max() < 0.5  # a small perturbation, not a different model
    assert not torch.allclose(vu3, u3)  # layer 1 is a different view from the layer mean
    # the contrastive loss reaches the ID embeddings through both views
    info_nce(u3, vu3).backward()
    assert m.embedding.weight.grad is not None and m.embedding.weight.grad.abs().sum() > 0


def test_sage_views_match_forward_without_noise(store, mg_home, tmp_path, train_cfg):
    from musicgraph.gnn.models import build_model
    from musicgraph.gnn.train import load_graph

    graph, _ = load_graph(train_cfg(tmp_path / "x", model="sage"), 2020)
    model = build_model("sage", graph, dim=8, layers=2, aggr="sym", features=False)
    model.eval()
    u, i = model(graph)
    fu, fi, lu, li = model.views(graph, cl_layer=0)
    assert torch.allclose(u, fu) and torch.allclose(i, fi)
    assert torch.equal(lu, model.emb[graph.user_type](graph.user_map))  # layer 0: the ID embeddings
    with pytest.raises(ValueError, match="cl_layer"):
        model.views(graph, cl_layer=5)
    model.noise_eps = 0.2
    model.train()
    nu, _, _, _ = model.views(graph, cl_layer=1)
    assert not torch.allclose(nu, u)


def test_contrastive_loss_needs_a_propagating_model():
    with pytest.raises(ValueError, match="propagating"):
        LinkPredictionModel(MF(4, 4, 8), LinkPredictor(8), "bpr", 1e-4, cl_weight=0.1)
    with pytest.raises(ValueError, match="multinomial"):
        LinkPredictionModel(_lightgcn(), LinkPredictor(8), "multinomial", 1e-4, cl_weight=0.1)


def test_contrastive_term_enters_the_loss():
    m = _lightgcn()
    u, p, n = torch.tensor([0, 1, 2]), torch.tensor([0, 1, 2]), torch.tensor([3, 4, 0])
    plain = LinkPredictionModel(m, LinkPredictor(8), "bpr", 0.0)
    with_cl = LinkPredictionModel(m, LinkPredictor(8), "bpr", 0.0, cl_weight=1.0, cl_temp=0.2)
    m.train()
    torch.manual_seed(1)
    a = float(plain(None, u, p, n).detach())
    b = float(with_cl(None, u, p, n).detach())
    assert b > a + 0.5  # InfoNCE over 3 users + 3 items is well above 0 for an untrained model


@pytest.mark.parametrize("model", ["lightgcn", "sage"])
def test_training_with_the_contrastive_loss(store, mg_home, tmp_path, model, train_cfg):
    out = tmp_path / f"cl-{model}"
    res = train(train_cfg(out, model=model, epochs=30, lr=0.05, eval_every=5, cl_weight=0.1, cl_eps=0.1,
                     features=False, aggr="sym"))
    rows = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert all(np.isfinite(r["loss"]) for r in rows) and rows[-1]["loss"] < rows[0]["loss"]
    assert res["test"]["hit@10"] > 0.5  # still learns the fixture's blocks (random ~0.25)
    with pytest.raises(ValueError, match="mode full"):
        train(train_cfg(tmp_path / "mb", model="sage", mode="minibatch", cl_weight=0.1))
