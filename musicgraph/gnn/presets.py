"""Named training settings: the configurations the quality tables report, as :class:`TrainConfig` objects.

The same settings run from the command line (``python -m musicgraph.gnn.train --preset NAME``, other
options given override the preset), from ``benchmarks/gnn_table.py`` (:func:`preset_args`) and from
task 1 of ``musicgraph eval`` (``train(dataclasses.replace(PRESETS[name], ...))``). docs/gnn.md
explains them.
"""

from __future__ import annotations

from dataclasses import asdict, replace
from typing import Any

from musicgraph.gnn.train import TrainConfig

__all__ = ["PRESETS", "find_preset", "preset_args", "slug"]

_DEFAULT = TrainConfig()

#: Table name -> training settings.
PRESETS: dict[str, TrainConfig] = {
    "MF-BPR": replace(_DEFAULT, model="mf", lr=0.002, reg=1e-3, batch_size=2048, eval_every=5, patience=5),
    # fast full-batch settings (docs/gnn.md, "Speed"): 5 BPR steps per epoch, Adam lr 0.01
    "LightGCN": replace(_DEFAULT, model="lightgcn", layers=3, lr=0.01, reg=1e-4, batch_size=16384, eval_every=5,
                        patience=4),
    "GraphSAGE (bipartite)": replace(_DEFAULT, model="sage-bipartite", aggr="sym", layers=3, lr=0.01,
                                     transform_lr=0.05, reg=1e-4, batch_size=16384, eval_every=5, patience=4,
                                     features=False),
    "GraphSAGE + KG (tags, friends)": replace(_DEFAULT, model="sage", aggr="sym", rel_aggr="sum", layers=3, lr=0.01,
                                              transform_lr=0.0, rel_scale=True, rel_scale_init=0.1, reg=1e-4,
                                              batch_size=16384, eval_every=5, patience=4, features=False),
}  # fmt: skip

# The same models trained with a softmax over all artists on cosine scores (``--loss multinomial
# --predictor cos --temperature 0.1``, 512 users per step) instead of BPR: docs/gnn.md, "Softmax over
# all artists on cosine scores".
_COS_SOFTMAX: dict[str, Any] = {"loss": "multinomial", "predictor": "cos", "temperature": 0.1, "batch_size": 512}

for _name in ("LightGCN", "GraphSAGE (bipartite)", "GraphSAGE + KG (tags, friends)"):
    PRESETS[f"{_name} + cosine softmax"] = replace(PRESETS[_name], **_COS_SOFTMAX)
# MF's BPR rate (0.002) is too slow for 4 steps per epoch; the propagating models' 0.01 / 1e-4 instead
PRESETS["MF + cosine softmax"] = replace(PRESETS["MF-BPR"], **{**_COS_SOFTMAX, "lr": 0.01, "reg": 1e-4})

# ... and 128 dimensions, which the softmax uses better than BPR (validation NDCG@10 of GraphSAGE + KG,
# seed 2020: 0.1916 vs 0.1855 at 64); docs/gnn.md, "Results"
for _name in ("MF", "LightGCN", "GraphSAGE (bipartite)", "GraphSAGE + KG (tags, friends)"):
    PRESETS[f"{_name} + cosine softmax, dim 128"] = replace(PRESETS[f"{_name} + cosine softmax"], dim=128)


def slug(name: str) -> str:
    """A file-name form of a preset name (``"GraphSAGE + KG (tags, friends)"`` -> ``graphsage---kg--tags--friends``)."""
    return "".join(c if c.isalnum() else "-" for c in name.lower()).strip("-")


def find_preset(name: str) -> str | None:
    """The preset called ``name`` (its table name or its :func:`slug`), or None."""
    if name in PRESETS:
        return name
    return {slug(n): n for n in PRESETS}.get(slug(name))


def preset_args(name: str) -> list[str]:
    """The command-line options of preset ``name`` (every field that differs from the defaults).

    ``parse_args(preset_args(name)) == PRESETS[name]`` (``tests/gnn/test_train.py``).
    """
    out: list[str] = []
    for field_name, value in asdict(PRESETS[name]).items():
        if value == getattr(_DEFAULT, field_name):
            continue
        flag = "--" + field_name.replace("_", "-")
        if isinstance(value, bool):
            out.append(flag if value else "--no-" + field_name.replace("_", "-"))
        elif isinstance(value, list):
            out += [flag, *map(str, value)]
        else:
            out += [flag, str(value)]
    return out
