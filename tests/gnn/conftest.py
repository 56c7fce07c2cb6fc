"""Small invented music graph for GNN tests: 24 users, 40 artists, 8 tags, friends, songs."""

from __future__ import annotations

import numpy as np
import pytest

from musicgraph.graph.embedded import EmbeddedStore


def build_store(path) -> EmbeddedStore:
    rng = np.random.default_rng(7)
    store = EmbeddedStore(path)
    users = [f"hetrec:{i}" for i in range(1, 25)]
    artists = [f"artist {i:02d}" for i in range(40)]
    tags = [f"tag{i}" for i in range(8)]
    store.upsert_nodes("User", [(u, {"source": "hetrec", "source_id": u.split(":")[1]}) for u in users])
    store.upsert_nodes("Artist", [(a, {"name": a.title()}) for a in artists])
    store.upsert_nodes("Tag", [(t, {"name": t}) for t in tags])
    songs = [(f"{a}|song {j}", {"title": f"Song {j}", "artist": a, "energy": float(rng.random()), "tempo": 90.0 + j})
             for a in artists[:10] for j in range(2)]
    store.upsert_nodes("Song", songs)
    store.upsert_edges("PERFORMED_BY", "Song", "Artist", [(k, p["artist"], {"role": "main"}) for k, p in songs])
    listens = []
    for n, u in enumerate(users):
        group = n % 4  # users of a group like the same block of artists
        pool = [a for i, a in enumerate(artists) if i % 4 == group] + list(rng.choice(artists, 4, replace=False))
        for a in sorted(set(pool))[:12]:
            listens.append((u, a, {"weight": int(rng.integers(1, 500))}))
    store.upsert_edges("LISTENED_TO", "User", "Artist", listens)
    store.upsert_edges("TAGGED", "Artist", "Tag", [(a, tags[i % 4 + (i % 2) * 4], {"weight": 3}) for i, a in enumerate(artists)])
    store.upsert_edges("USED_TAG", "User", "Tag", [(u, tags[n % 8], {"weight": 2}) for n, u in enumerate(users)])
    friends = [(users[i], users[(i + 4) % 24], {}) for i in range(24)]
    store.upsert_edges("FRIEND_OF", "User", "User", friends + [(b, a, {}) for a, b, _ in friends])
    return store


@pytest.fixture
def store(tmp_path):
    s = build_store(tmp_path / "store")
    yield s
    s.close()


@pytest.fixture
def mg_home(tmp_path, monkeypatch):
    from musicgraph.config import reset_settings

    monkeypatch.setenv("MUSICGRAPH_HOME", str(tmp_path / "home"))
    reset_settings()
    yield tmp_path / "home"
    reset_settings()


@pytest.fixture
def train_cfg(store):
    """``train_cfg(out, **overrides)``: a small, fast TrainConfig on the fixture store."""
    from musicgraph.gnn.train import TrainConfig

    def make(out, **kw) -> TrainConfig:
        base = dict(source="store", store=str(store.path), out=str(out), dim=16, epochs=4, eval_every=1,
                    patience=10, batch_size=64, lr=0.02, progress=False, threads=1)
        base.update(kw)
        return TrainConfig(**base)

    return make
