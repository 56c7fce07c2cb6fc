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

# The same models trained with a softmax over all artists on cosine scores (``--loss multinomial
# --predictor cos --temperature 0.1``, 512 users per step) instead of BPR: docs/gnn.md, "Softmax over
# all artists on cosine scores".
_COS_SOFTMAX = ["--loss", "multinomial", "--predictor", "cos", "--temperature", "0.1", "--batch-size", "512"]


def _with(args: list[str], extra: list[str]) -> list[str]:
    """``args`` with the options of ``extra`` replacing (or added to) those already there."""
    out = list(args)
    for k in range(0, len(extra), 2):
        if extra[k] in out:
            out[out.index(extra[k]) + 1] = extra[k + 1]
        else:
            out += extra[k : k + 2]
    return out


for _name in ("LightGCN", "GraphSAGE (bipartite)", "GraphSAGE + KG (tags, friends)"):
    PRESETS[f"{_name} + cosine softmax"] = _with(PRESETS[_name], _COS_SOFTMAX)
# MF's BPR rate (0.002) is too slow for 4 steps per epoch; the propagating models' 0.01 / 1e-4 instead
PRESETS["MF + cosine softmax"] = _with(PRESETS["MF-BPR"], [*_COS_SOFTMAX, "--lr", "0.01", "--reg", "1e-4"])

# ... and 128 dimensions, which the softmax uses better than BPR (validation NDCG@10 of GraphSAGE + KG,
# seed 2020: 0.1916 vs 0.1855 at 64); docs/gnn.md, "Results"
for _name in ("MF", "LightGCN", "GraphSAGE (bipartite)", "GraphSAGE + KG (tags, friends)"):
    PRESETS[f"{_name} + cosine softmax, dim 128"] = PRESETS[f"{_name} + cosine softmax"] + ["--dim", "128"]


def slug(name: str) -> str:
    """A file-name form of a preset name (``"GraphSAGE + KG (tags, friends)"`` -> ``graphsage---kg--tags--friends``)."""
    return "".join(c if c.isalnum() else "-" for c in name.lower()).strip("-")
