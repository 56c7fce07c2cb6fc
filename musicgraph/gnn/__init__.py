"""Graph neural network embeddings of the music graph.

* :mod:`~musicgraph.gnn.data` — store -> PyG ``HeteroData`` (cached, with id maps) and the training view;
* :mod:`~musicgraph.gnn.source` — where training reads its graph (embedded store, Neo4j, HetRec files);
* :mod:`~musicgraph.gnn.splits` — the per-user 80/10/10 HetRec split (``hetrec_split``), RecBole export;
* :mod:`~musicgraph.gnn.full_sort` — vectorized full-sort Recall/NDCG/Hit@K;
* :mod:`~musicgraph.gnn.split_baselines` — MostPop and ItemKNN scored full-sort on a split (the GNN table's rows);
* :mod:`~musicgraph.gnn.sampler` — vectorized neighbour sampler (used when pyg-lib/torch-sparse are missing);
* :mod:`~musicgraph.gnn.models` — hetero GraphSAGE, LightGCN, MF-BPR, link predictors;
* :mod:`~musicgraph.gnn.train` — training (``TrainConfig``, ``train``; ``python -m musicgraph.gnn.train``, torchrun DDP);
* :mod:`~musicgraph.gnn.presets` — the quality tables' settings as ``TrainConfig`` objects;
* :mod:`~musicgraph.gnn.embed` — embeddings into the store and a FAISS index (``GnnIndex``);
* :mod:`~musicgraph.gnn.inductive` — fold-in embeddings of nodes a model never saw;
* :mod:`~musicgraph.gnn.derived_index` — the GNN index kept in step with catalog changes (``GnnEmbeddings``).

The names of :data:`__all__` load their module on first use: importing this package imports nothing heavy.
"""

from __future__ import annotations

from musicgraph.lazy import lazy_getattr

__all__ = [
    "PRESETS",
    "FoldIn",
    "GnnEmbeddings",
    "GnnIndex",
    "GraphSource",
    "InductiveEmbedder",
    "Interactions",
    "LinkPredictionModel",
    "Split",
    "TrainConfig",
    "evaluate_baseline",
    "full_sort_metrics",
    "hetrec_split",
    "open_source",
    "train",
]

_LAZY = {
    "PRESETS": "musicgraph.gnn.presets",
    "FoldIn": "musicgraph.gnn.inductive",
    "GnnEmbeddings": "musicgraph.gnn.derived_index",
    "GnnIndex": "musicgraph.gnn.embed",
    "GraphSource": "musicgraph.gnn.source",
    "InductiveEmbedder": "musicgraph.gnn.inductive",
    "Interactions": "musicgraph.gnn.splits",
    "LinkPredictionModel": "musicgraph.gnn.train",
    "Split": "musicgraph.gnn.splits",
    "TrainConfig": "musicgraph.gnn.train",
    "evaluate_baseline": "musicgraph.gnn.split_baselines",
    "full_sort_metrics": "musicgraph.gnn.full_sort",
    "hetrec_split": "musicgraph.gnn.splits",
    "open_source": "musicgraph.gnn.source",
    "train": "musicgraph.gnn.train",
}


__getattr__ = lazy_getattr(__name__, _LAZY)
