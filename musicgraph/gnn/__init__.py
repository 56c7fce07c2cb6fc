"""Graph neural network embeddings of the music graph.

* :mod:`~musicgraph.gnn.data` — store -> PyG ``HeteroData`` (cached, with id maps) and the training view;
* :mod:`~musicgraph.gnn.splits` — the per-user 80/10/10 HetRec split (``hetrec_split``), RecBole export;
* :mod:`~musicgraph.gnn.full_sort` — vectorized full-sort Recall/NDCG/Hit@K;
* :mod:`~musicgraph.gnn.sampler` — vectorized neighbour sampler (used when pyg-lib/torch-sparse are missing);
* :mod:`~musicgraph.gnn.models` — hetero GraphSAGE, LightGCN, MF-BPR, link predictors;
* :mod:`~musicgraph.gnn.train` — training (``python -m musicgraph.gnn.train``, torchrun DDP);
* :mod:`~musicgraph.gnn.embed` — embeddings into the store and a FAISS index (``GnnIndex``).

Submodules import torch lazily where they can; importing this package imports nothing heavy.
"""
