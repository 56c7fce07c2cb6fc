"""Explanations: a reasoning chain per recommendation and, on request, pictures of it.

* :func:`reason_chain` — why this song: its strongest graph path, the mood match and the audio
  feature match against what the request asked for.
* :func:`write_explanations` — for ``--explain-dir``: per recommendation a radar chart of the
  requested vs. the song's audio features and the explanation subgraph (seeds → path → song).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING

from musicgraph.audio_features import UNIT_FEATURES
from musicgraph.graph.schema import REL_PHRASES

if TYPE_CHECKING:
    from musicgraph.rag.ask import Answer
    from musicgraph.rag.context import CandidateEvidence

log = logging.getLogger(__name__)

#: Audio features on 0..1 scales, the radar chart's axes.
RADAR_FEATURES: tuple[str, ...] = UNIT_FEATURES

#: Request words → target audio features (Spotify scales); averaged over the words found.
WORD_TARGETS: dict[str, dict[str, float]] = {
    "sad": {"valence": 0.2, "energy": 0.35},
    "melancholic": {"valence": 0.2, "energy": 0.35, "acousticness": 0.55},
    "melancholy": {"valence": 0.2, "energy": 0.35, "acousticness": 0.55},
    "rainy": {"valence": 0.3, "energy": 0.35, "acousticness": 0.6},
    "gloomy": {"valence": 0.15, "energy": 0.4},
    "dark": {"valence": 0.2},
    "heartbroken": {"valence": 0.15, "energy": 0.35},
    "happy": {"valence": 0.8, "energy": 0.7},
    "upbeat": {"valence": 0.75, "energy": 0.75, "danceability": 0.7},
    "cheerful": {"valence": 0.8, "energy": 0.65},
    "sunny": {"valence": 0.8, "energy": 0.65},
    "party": {"danceability": 0.8, "energy": 0.8, "valence": 0.7},
    "calm": {"energy": 0.25, "acousticness": 0.7},
    "chill": {"energy": 0.35, "acousticness": 0.5},
    "relaxing": {"energy": 0.25, "acousticness": 0.7},
    "mellow": {"energy": 0.3, "acousticness": 0.6},
    "sleep": {"energy": 0.15, "acousticness": 0.8, "instrumentalness": 0.5},
    "study": {"energy": 0.3, "instrumentalness": 0.5, "speechiness": 0.05},
    "energetic": {"energy": 0.9, "danceability": 0.65},
    "workout": {"energy": 0.9, "danceability": 0.7},
    "running": {"energy": 0.85, "danceability": 0.65},
    "angry": {"energy": 0.9, "valence": 0.2},
    "aggressive": {"energy": 0.95, "valence": 0.25},
    "dance": {"danceability": 0.85, "energy": 0.8},
    "danceable": {"danceability": 0.85},
    "acoustic": {"acousticness": 0.85},
    "instrumental": {"instrumentalness": 0.8, "speechiness": 0.04},
    "romantic": {"valence": 0.6, "energy": 0.4, "acousticness": 0.5},
    "live": {"liveness": 0.8},
    "rap": {"speechiness": 0.3},
}

#: Mood names that request words map to (for the mood-match reason).
WORD_MOODS: dict[str, str] = {
    "sad": "sad", "melancholic": "sad", "melancholy": "sad", "rainy": "sad", "gloomy": "sad",
    "heartbroken": "sad", "happy": "happy", "upbeat": "happy", "cheerful": "happy", "sunny": "happy",
    "party": "happy", "calm": "calm", "chill": "calm", "relaxing": "calm", "mellow": "calm", "sleep": "calm",
    "energetic": "energetic", "workout": "energetic", "running": "energetic", "angry": "angry",
    "aggressive": "angry", "relaxed": "relaxed",
}  # fmt: skip


def requested_features(question: str, overrides: Mapping[str, float] | None = None) -> dict[str, float]:
    """Target audio features a request implies (words of :data:`WORD_TARGETS`, averaged), with
    ``overrides`` (chat refinements) taking precedence."""
    sums: dict[str, list[float]] = {}
    for word in re.findall(r"[a-z]+", question.lower()):
        for feat, value in WORD_TARGETS.get(word, {}).items():
            sums.setdefault(feat, []).append(value)
    out = {feat: sum(vals) / len(vals) for feat, vals in sums.items()}
    out.update(overrides or {})
    return out


def requested_moods(question: str) -> list[str]:
    """Mood names the request asks for (``rainy`` → ``sad`` …)."""
    return list(dict.fromkeys(WORD_MOODS[w] for w in re.findall(r"[a-z]+", question.lower()) if w in WORD_MOODS))


def reason_chain(cand: CandidateEvidence, question: str = "", targets: Mapping[str, float] | None = None) -> list[str]:
    """A short chain of reasons for one recommendation, strongest first.

    Every reason restates evidence (path, moods, features, tags); nothing is inferred beyond it.
    """
    reasons: list[str] = []
    if cand.paths:
        reasons.append(f"graph path: {cand.paths[0]}")
    elif cand.result.ranks:
        signals = ", ".join(f"{name} #{rank}" for name, rank in cand.result.ranks.items() if rank)
        reasons.append(f"retrieved by {signals}")
    if cand.matches:
        reasons.append("text match: " + ", ".join(cand.matches[:4]))
    if cand.feature_notes:
        reasons.append("retrieval feature fit: " + ", ".join(cand.feature_notes[:3]))
    wanted = requested_moods(question)
    if cand.moods:
        hit = [m for m in cand.moods if m.lower() in wanted]
        if hit:
            reasons.append(f"mood match: tagged {', '.join(hit)} as asked")
        else:
            reasons.append(f"moods: {', '.join(cand.moods[:3])}")
    asked = requested_features(question, targets)
    close, far = [], []
    for feat, want in asked.items():
        have = cand.features.get(feat)
        if have is None:
            continue
        tol = 15.0 if feat == "tempo" else 0.2
        (close if abs(have - want) <= tol else far).append(f"{feat} {have:.2f} (asked ~{want:.2f})")
    if close:
        reasons.append("feature match: " + ", ".join(close))
    if far:
        reasons.append("feature mismatch: " + ", ".join(far))
    if not asked and cand.sound:
        reasons.append("sound: " + ", ".join(cand.sound))
    if cand.tags:
        reasons.append("tags: " + ", ".join(cand.tags[:4]))
    if cand.lyric:
        reasons.append(f'lyric: "{cand.lyric}"')
    return reasons or ["retrieved for the request"]


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")[:40] or "item"


def radar_chart(path: Path, requested: Mapping[str, float], song: Mapping[str, float], title: str) -> Path:
    """Draw requested vs. song audio features (0..1 axes) to ``path`` (PNG)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    axes = list(RADAR_FEATURES)
    angles = np.linspace(0, 2 * np.pi, len(axes), endpoint=False).tolist()
    fig = plt.figure(figsize=(5, 5))
    ax = fig.add_subplot(111, polar=True)
    for label, values, colour in (("requested", requested, "tab:orange"), ("song", song, "tab:blue")):
        if not any(name in values for name in axes):
            continue
        # a feature the request does not constrain is left out (NaN), not drawn as 0
        vals = [float(values[name]) if name in values else float("nan") for name in axes]
        ax.plot(angles + angles[:1], vals + vals[:1], color=colour, label=label, marker="o", markersize=4)
        if label == "song":
            ax.fill(angles + angles[:1], [0.0 if v != v else v for v in vals + vals[:1]], color=colour, alpha=0.2)
    ax.set_xticks(angles)
    ax.set_xticklabels(axes, fontsize=8)
    ax.set_ylim(0, 1)
    ax.set_title(title, fontsize=9)
    ax.legend(loc="upper right", bbox_to_anchor=(1.25, 1.1), fontsize=8)
    fig.savefig(path, dpi=100, bbox_inches="tight")
    plt.close(fig)
    return path


_COLOURS = {"Song": "tab:blue", "Artist": "tab:green", "Tag": "tab:orange", "Genre": "tab:purple",
            "Mood": "tab:red", "User": "tab:gray", "Playlist": "tab:brown", "Album": "tab:olive"}  # fmt: skip


def subgraph_image(path: Path, cand: CandidateEvidence, title: str) -> Path:
    """Draw the explanation subgraph of one recommendation (its paths, or its facts) to ``path``."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import networkx as nx

    g = nx.DiGraph()
    target = f"Song:{cand.result.id}" if cand.result.kind == "song" else f"Artist:{cand.result.id}"
    g.add_node(target, label=cand.result.display(), kind=cand.result.label)
    for p in cand.result.paths:
        for ref, name in zip(p.nodes, p.names, strict=False):
            g.add_node(str(ref), label=name, kind=ref.label)
        for i, rel in enumerate(p.rels):
            a, b = str(p.nodes[i]), str(p.nodes[i + 1])
            fwd, bwd = REL_PHRASES.get(rel.removeprefix("<-"), (rel, rel))
            g.add_edge(a, b, label=bwd if rel.startswith("<-") else fwd)
    if not cand.result.paths:  # no path: show the facts that retrieved it
        for kind, names in (("Mood", cand.moods), ("Genre", cand.genres[:2]), ("Tag", cand.tags[:3])):
            for name in names:
                node = f"{kind}:{name}"
                g.add_node(node, label=name, kind=kind)
                g.add_edge(node, target, label=kind.lower())
    seeds = {str(p.nodes[0]) for p in cand.result.paths}
    fig, ax = plt.subplots(figsize=(7, 5))
    pos = nx.spring_layout(g, seed=7) if len(g) > 2 else nx.circular_layout(g)
    colours = [_COLOURS.get(g.nodes[n]["kind"], "tab:gray") for n in g.nodes]
    sizes = [1400 if n == target else 1000 if n in seeds else 700 for n in g.nodes]
    nx.draw_networkx_nodes(g, pos, node_color=colours, node_size=sizes, alpha=0.85, ax=ax)
    nx.draw_networkx_labels(g, pos, labels={n: g.nodes[n]["label"][:24] for n in g.nodes}, font_size=7, ax=ax)
    nx.draw_networkx_edges(g, pos, arrows=True, ax=ax, arrowstyle="-|>", arrowsize=12)
    nx.draw_networkx_edge_labels(g, pos, edge_labels=nx.get_edge_attributes(g, "label"), font_size=6, ax=ax)
    ax.set_title(title, fontsize=9)
    ax.axis("off")
    fig.savefig(path, dpi=100, bbox_inches="tight")
    plt.close(fig)
    return path


def write_explanations(answer: Answer, directory: str | Path, targets: Mapping[str, float] | None = None) -> list[Path]:
    """Write a radar chart and a subgraph image per recommendation of ``answer`` into ``directory``.

    Returns the files written. Raises ``OSError`` (naming the directory) if it cannot be created.
    """
    out_dir = Path(directory)
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise OSError(f"cannot create explanation directory {out_dir}: {exc}") from exc
    requested = requested_features(answer.query or answer.question, targets)
    files: list[Path] = []
    for rec in answer.recommendations:
        stem = f"{rec.number:02d}-{_slug(rec.result.display())}"
        head = f"#{rec.number} {rec.result.display()}"
        files.append(radar_chart(out_dir / f"{stem}-radar.png", requested, rec.evidence.features, head))
        files.append(subgraph_image(out_dir / f"{stem}-graph.png", rec.evidence, head))
    log.info("wrote %d explanation images to %s", len(files), out_dir)
    return files


def describe(lines: Iterable[str]) -> str:
    """Reasons as one indented block of text."""
    return "\n".join(f"   - {line}" for line in lines)
