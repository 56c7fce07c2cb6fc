"""Inductive embeddings: cold users / items held out of training, folded in afterwards.

An invented graph with five taste clusters (users listen mostly inside their cluster; artists and
users carry their cluster's tag; friends are in the same cluster). A random 10% of users and 10% of
artists are kept out of training entirely; after training, their fold-in embeddings must rank
their test items far above random and above MostPop (popularity is flat across clusters, so only
the cluster signal helps), and close to the transductive embeddings of a model that saw them.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from musicgraph.gnn.data import GraphTables, make_train_graph, tables_to_hetero  # noqa: E402
from musicgraph.gnn.inductive import InductiveEmbedder  # noqa: E402

# the cold-start protocol is benchmark code (benchmarks/coldstart.py), tested here
sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))
from coldstart import (  # noqa: E402
    cold_item_metrics,
    cold_user_metrics,
    drop_nodes,
    make_holdout,
    neighbour_lists,
    train_on_graph,
)

from musicgraph.gnn.splits import Interactions, split_interactions  # noqa: E402
from musicgraph.gnn.train import TrainConfig  # noqa: E402

N_CLUSTERS, USERS_PER, ARTISTS_PER = 5, 40, 20
LISTEN = ("User", "LISTENED_TO", "Artist")
FRIEND = ("User", "FRIEND_OF", "User")
USED_TAG = ("User", "USED_TAG", "Tag")
TAGGED = ("Artist", "TAGGED", "Tag")


def _world(seed: int = 3) -> tuple[GraphTables, Interactions]:
    rng = np.random.default_rng(seed)
    users = [f"u{c}-{j:02d}" for c in range(N_CLUSTERS) for j in range(USERS_PER)]
    artists = [f"a{c}-{j:02d}" for c in range(N_CLUSTERS) for j in range(ARTISTS_PER)]
    tags = [f"t{c}" for c in range(N_CLUSTERS)]
    rows, friends = [], []
    for n, u in enumerate(users):
        c = n // USERS_PER
        own = rng.choice(ARTISTS_PER, 12, replace=False) + c * ARTISTS_PER
        other = rng.choice(len(artists), 2, replace=False)
        for a in sorted(set(own.tolist()) | set(other.tolist())):
            rows.append((u, artists[a], float(rng.integers(1, 100))))
        for f in rng.choice(USERS_PER, 3, replace=False):
            v = c * USERS_PER + int(f)
            if v != n:
                friends.append((n, v))
    inter = Interactions.from_pairs(rows)
    ui = {k: i for i, k in enumerate(inter.user_keys)}
    ai = {k: i for i, k in enumerate(inter.item_keys)}
    tables = GraphTables(
        keys={"User": inter.user_keys, "Artist": inter.item_keys, "Tag": np.asarray(tags, dtype=object)},
        edges={
            LISTEN: (inter.user, inter.item, inter.weight),
            FRIEND: (np.array([ui[users[a]] for a, _ in friends]), np.array([ui[users[b]] for _, b in friends]),
                     np.ones(len(friends), np.float32)),
            USED_TAG: (np.array([ui[u] for u in users]), np.array([int(u[1]) for u in users]),
                       np.ones(len(users), np.float32)),
            TAGGED: (np.array([ai[a] for a in artists]), np.array([int(a[1]) for a in artists]),
                     np.ones(len(artists), np.float32)),
        },
        features={},
    )
    return tables, inter


def _cfg(out, model: str) -> TrainConfig:
    common = dict(out=str(out), dim=16, layers=2, lr=0.05, reg=1e-4, batch_size=1024, epochs=40,
                  eval_every=10, patience=10, seed=1, progress=False, threads=1)
    if model == "sage":
        return TrainConfig(model="sage", aggr="sym", rel_aggr="sum", transform_lr=0.0, rel_scale=True,
                           rel_scale_init=0.1, features=False, **common)
    return TrainConfig(model=model, features=False, **common)


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    tables, inter = _world()
    split = split_interactions(inter, seed=5)
    hold = make_holdout(split, user_frac=0.1, item_frac=0.1, seed=11, min_item_users=5)
    cold = {"User": hold.user_keys, "Artist": hold.item_keys}
    train_tables = drop_nodes(tables, cold)
    data = tables_to_hetero(train_tables)
    graph = make_train_graph(data, train_tables.keys, hold.kept, features=False)
    full_graph = make_train_graph(tables_to_hetero(tables), tables.keys, split, features=False)
    return {"tables": tables, "split": split, "hold": hold, "graph": graph, "full_graph": full_graph,
            "root": tmp_path_factory.mktemp("inductive")}


def _histories(hold, warm_only: bool = True) -> dict[str, list[str]]:
    full = hold.full
    cold_items = set(hold.items.tolist())
    u, i = full.train
    out: dict[str, list[str]] = {k: [] for k in hold.user_keys}
    cold_users = {int(x): str(full.user_keys[x]) for x in hold.users}
    for a, b in zip(u.tolist(), i.tolist(), strict=True):
        if a in cold_users and not (warm_only and b in cold_items):
            out[cold_users[a]].append(str(full.item_keys[b]))
    return out


def _listeners(hold) -> dict[str, list[str]]:
    full = hold.full
    cold_users = set(hold.users.tolist())
    u, i = full.train
    out: dict[str, list[str]] = {k: [] for k in hold.item_keys}
    cold_items = {int(x): str(full.item_keys[x]) for x in hold.items}
    for a, b in zip(u.tolist(), i.tolist(), strict=True):
        if b in cold_items and a not in cold_users:
            out[cold_items[b]].append(str(full.user_keys[a]))
    return out


@pytest.fixture(scope="module", params=["lightgcn", "mf", "sage"])
def trained(request, world):
    model = request.param
    cfg = _cfg(world["root"] / f"{model}-cold", model)
    train_on_graph(cfg, world["graph"], world["hold"].kept)
    emb = InductiveEmbedder.from_checkpoint(cfg.out, graph=world["graph"], split=world["hold"].kept)
    full_cfg = _cfg(world["root"] / f"{model}-full", model)
    train_on_graph(full_cfg, world["full_graph"], world["split"])
    trans = InductiveEmbedder.from_checkpoint(full_cfg.out, graph=world["full_graph"], split=world["split"])
    return model, emb, trans


def _transductive_users(hold, trans):
    pos = trans.pos["User"]
    ipos = trans.pos["Artist"]
    kept_items = [str(k) for k in hold.kept.item_keys]
    return (trans.final["User"][[pos[k] for k in hold.user_keys]],
            trans.final["Artist"][[ipos[k] for k in kept_items]])


def _mostpop_users(hold):
    full = hold.full
    pop = np.asarray(full.matrix("train").sum(0)).ravel()
    kept = np.flatnonzero(~np.isin(np.arange(full.num_items), hold.items))
    # rank-1 scores: every user gets the popularity order
    return np.ones((len(hold.users), 1), np.float32), pop[kept][:, None].astype(np.float32)


def test_cold_users_fold_in_beats_random_and_mostpop(world, trained):
    model, emb, trans = trained
    hold, tables = world["hold"], world["tables"]
    hist = _histories(hold)
    extra = None
    if model == "sage":
        extra = {FRIEND: neighbour_lists(tables, FRIEND, hold.user_keys),
                 USED_TAG: neighbour_lists(tables, USED_TAG, hold.user_keys)}
    fold = emb.embed_users(hist, extra=extra)
    assert fold.keys == sorted(hold.user_keys) and fold.vectors.shape == (len(hold.users), emb.dim)
    order = [fold.keys.index(k) for k in hold.user_keys]
    items = emb.final["Artist"]
    assert [str(k) for k in emb.keys["Artist"]] == [str(k) for k in hold.kept.item_keys]
    m_ind = cold_user_metrics(hold, fold.vectors[order], items)
    rng = np.random.default_rng(0)
    m_rand = cold_user_metrics(hold, rng.normal(size=fold.vectors.shape), items)
    m_pop = cold_user_metrics(hold, *_mostpop_users(hold))
    m_trans = cold_user_metrics(hold, *_transductive_users(hold, trans))
    print(model, "cold users", {k: round(v["recall@10"], 3) for k, v in
                                dict(ind=m_ind, rand=m_rand, pop=m_pop, trans=m_trans).items()})
    assert m_ind["recall@10"] > 2.5 * m_rand["recall@10"]
    assert m_ind["recall@10"] > 1.5 * m_pop["recall@10"]
    assert m_ind["ndcg@10"] > m_pop["ndcg@10"]
    assert m_ind["recall@10"] >= 0.8 * m_trans["recall@10"]
    for method in ("bpr", "ls"):
        m = cold_user_metrics(hold, emb.embed_users(hist, method=method, extra=extra).vectors[order], items)
        assert m["recall@10"] > 1.5 * m_pop["recall@10"], method


def test_cold_items_fold_in_beats_random_and_mostpop(world, trained):
    model, emb, trans = trained
    hold, tables = world["hold"], world["tables"]
    extra = {TAGGED: neighbour_lists(tables, TAGGED, hold.item_keys)} if model == "sage" else None
    fold = emb.embed_items(_listeners(hold), extra=extra)
    order = [fold.keys.index(k) for k in hold.item_keys]
    users = emb.final["User"]
    m_ind = cold_item_metrics(hold, users, fold.vectors[order])
    rng = np.random.default_rng(0)
    m_rand = cold_item_metrics(hold, users, rng.normal(size=fold.vectors.shape))
    # MostPop for items: rank users by activity (training interactions)
    act = np.asarray(hold.kept.matrix("train").sum(1)).ravel()[:, None].astype(np.float32)
    m_pop = cold_item_metrics(hold, act, np.ones((len(hold.items), 1), np.float32))
    tpos, tipos = trans.pos["User"], trans.pos["Artist"]
    m_trans = cold_item_metrics(hold, trans.final["User"][[tpos[str(k)] for k in hold.kept.user_keys]],
                                trans.final["Artist"][[tipos[k] for k in hold.item_keys]])
    print(model, "cold items", {k: round(v["recall@10"], 3) for k, v in
                                dict(ind=m_ind, rand=m_rand, pop=m_pop, trans=m_trans).items()})
    assert m_ind["users"] >= 5  # cold items with a test user
    assert m_ind["recall@10"] > 2.5 * m_rand["recall@10"]
    assert m_ind["recall@10"] > 1.5 * m_pop["recall@10"]
    assert m_ind["recall@10"] >= 0.8 * m_trans["recall@10"]


def test_random_vectors_would_fail_the_bar(world, trained):
    """Vectors that ignore the history (random, or every cold user folded in from one random
    warm user's history) miss the bar the fold-in meets: the test can fail."""
    _model, emb, trans = trained
    hold = world["hold"]
    items = emb.final["Artist"]
    m_trans = cold_user_metrics(hold, *_transductive_users(hold, trans))
    rng = np.random.default_rng(1)
    m_rand = cold_user_metrics(hold, rng.normal(size=(len(hold.users), emb.dim)), items)
    assert m_rand["recall@10"] < 0.8 * m_trans["recall@10"]
    hist = _histories(hold)
    warm = str(hold.kept.user_keys[0])
    items_of = [str(hold.kept.item_keys[i]) for i in hold.kept.train_item[hold.kept.train_user == 0]]
    wrong = emb.embed_users({u: items_of for u in hist}, method="propagate")
    order = [wrong.keys.index(k) for k in hold.user_keys]
    m_wrong = cold_user_metrics(hold, wrong.vectors[order], items)
    assert m_wrong["recall@10"] < 0.8 * m_trans["recall@10"], warm


def test_unknown_neighbours_and_bad_input(world, trained):
    _model, emb, _ = trained
    fold = emb.embed_users({"new": ["not an artist"], "new2": [str(world["hold"].kept.item_keys[0])]})
    assert fold.unknown == 1
    assert list(fold.neighbours) == [0, 1]
    assert not fold.vectors[0].any() and fold.vectors[1].any()
    assert set(fold.as_dict()) == {"new2"}
    with pytest.raises(ValueError, match="fold-in method"):
        emb.embed_users({"x": []}, method="magic")
    with pytest.raises(ValueError, match="does not start"):
        emb.embed("User", {TAGGED: {"x": ["t0"]}})


def test_from_checkpoint_rebuilds_the_run_and_cli_folds_in(store, mg_home, tmp_path):
    """A run trained by the CLI on a store: ``from_checkpoint`` (graph rebuilt from the run's config)
    reproduces the run's saved embeddings; ``musicgraph gnn fold-in`` gives a user added later a vector."""
    from typer.testing import CliRunner

    from musicgraph.cli import app
    from musicgraph.gnn.embed import GnnIndex, load_embeddings
    from musicgraph.graph.catalog import CatalogEditor
    from musicgraph.graph.schema import NodeRef

    runner = CliRunner()
    out = tmp_path / "run"
    res = runner.invoke(app, ["gnn", "train", "--store", str(store.path), "--model", "lightgcn", "--dim", "8",
                              "--epochs", "4", "--eval-every", "2", "--batch-size", "64", "--out", str(out),
                              "--no-progress", "--threads", "1"])
    assert res.exit_code == 0, res.output
    emb = InductiveEmbedder.from_checkpoint(out)
    saved = load_embeddings(out)
    for t in ("User", "Artist"):
        keys, vecs = saved[t]
        assert emb.keys[t] == keys
        assert np.allclose(emb.final[t], vecs, atol=1e-5)
    # an existing user folded in from its own artists lands near its trained vector
    hist = {"hetrec:3": [n.key for _, n in store.neighbors("User", "hetrec:3", "LISTENED_TO", "out")]}
    v = emb.embed_users(hist).vectors[0]
    sims = emb.final["User"] @ v / (np.linalg.norm(emb.final["User"], axis=1) * np.linalg.norm(v))
    own = emb.pos["User"]["hetrec:3"]
    assert sims[own] > 0.6 and own in np.argsort(-sims)[:5]  # history includes held-out artists: not exact
    res = runner.invoke(app, ["gnn", "embed", "--run", str(out), "--store", str(store.path)])
    assert res.exit_code == 0, res.output
    CatalogEditor(store).set_listens([{"user": "catalog:late", "artist": "artist 01", "weight": 3},
                                      {"user": "catalog:late", "artist": "artist 05", "weight": 1}])
    res = runner.invoke(app, ["gnn", "fold-in", "--store", str(store.path)])
    assert res.exit_code == 0, res.output
    report = json.loads(res.stdout[res.stdout.index("{"):])
    assert report["upserted"] == 1
    idx = GnnIndex.load(mg_home / "indexes" / store.path.name)
    u = idx.vector(NodeRef("User", "catalog:late"))
    a1, a5 = idx.vector(NodeRef("Artist", "artist 01")), idx.vector(NodeRef("Artist", "artist 05"))
    want = (a1 + a5) / np.linalg.norm(a1 + a5)
    assert float(u @ want) == pytest.approx(1.0, abs=1e-5)
    assert len(store.get_node("User", "catalog:late").props["embedding"]) == 8
