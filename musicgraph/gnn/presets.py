"""Named training settings: the configurations the quality tables report.

Each preset is a list of ``musicgraph.gnn.train`` arguments, so the same settings run from the
command line (``python -m musicgraph.gnn.train ... <preset args>``), from
``benchmarks/gnn_table.py`` and from task 1 of ``musicgraph eval``. docs/gnn.md explains them.
"""

from __future__ import annotations

#: Table name -> training arguments.
PRESETS: dict[str, list[str]] = {
    "MF-BPR": ["--model", "mf", "--lr", "0.002", "--reg", "1e-3", "--batch-size", "2048", "--eval-every", "5",
               "--patience", "5"],
    # fast full-batch settings (docs/gnn.md, "Speed"): 5 BPR steps per epoch, Adam lr 0.01
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


def slug(name: str) -> str:
    """A file-name form of a preset name (``"GraphSAGE + KG (tags, friends)"`` -> ``graphsage---kg--tags--friends``)."""
    return "".join(c if c.isalnum() else "-" for c in name.lower()).strip("-")
