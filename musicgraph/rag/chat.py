"""Multi-turn state: refinements of a previous request become retrieval arguments and query changes.

Understood follow-ups (case-insensitive):

* ``more upbeat`` / ``happier`` / ``more energetic`` / ``faster`` … and ``calmer`` / ``sadder`` /
  ``slower`` / ``more mellow`` …, ``more acoustic``, ``more danceable``: shift the target audio
  features from the previous answer's average (results are re-ranked toward the target);
* ``no Radiohead`` / ``without Radiohead`` / ``not Radiohead`` / ``exclude Radiohead``: drop an artist;
* ``more like the second one`` (``2nd``, ``#2``, ``number 2``): that song becomes the query's seed;
* ``why that one?`` / ``why the third one?``: explain a previous recommendation (no retrieval);
* ``reset`` / ``start over``: forget the state. Anything else is a new request.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from musicgraph.rag.ask import Answer

log = logging.getLogger(__name__)

ORDINALS: dict[str, int] = {
    "first": 1, "second": 2, "third": 3, "fourth": 4, "fifth": 5, "sixth": 6, "seventh": 7, "eighth": 8,
    "ninth": 9, "tenth": 10, "last": -1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6,
    "seven": 7, "eight": 8, "nine": 9, "ten": 10,
}  # fmt: skip

#: Feature shifts of refinement words (added to the previous answer's average).
SHIFTS: dict[str, dict[str, float]] = {
    "upbeat": {"valence": 0.2, "energy": 0.2},
    "happier": {"valence": 0.25},
    "happy": {"valence": 0.25},
    "cheerful": {"valence": 0.25},
    "energetic": {"energy": 0.25},
    "livelier": {"energy": 0.2, "valence": 0.1},
    "faster": {"tempo": 20.0, "energy": 0.1},
    "louder": {"energy": 0.2},
    "danceable": {"danceability": 0.2},
    "acoustic": {"acousticness": 0.3},
    "calmer": {"energy": -0.25},
    "calm": {"energy": -0.25},
    "mellow": {"energy": -0.2, "acousticness": 0.1},
    "slower": {"tempo": -20.0, "energy": -0.1},
    "sadder": {"valence": -0.25},
    "darker": {"valence": -0.2},
    "quieter": {"energy": -0.2},
    "downbeat": {"valence": -0.2, "energy": -0.2},
}

_ORD = r"(?:(?:number|no\.?|#)\s*)?(\d+|" + "|".join(ORDINALS) + r")(?:st|nd|rd|th)?"
_MORE_LIKE = re.compile(r"\b(?:more|songs?|something)\s+like\s+(?:the\s+)?" + _ORD + r"(?:\s+one|\s+song)?\b", re.I)
_WHY = re.compile(r"^\s*why\b(?:.*?\b(?:the\s+)?" + _ORD + r"(?:\s+one|\s+song)?\b)?", re.I)
_EXCLUDE = re.compile(r"\b(?:no|without|not|exclude|except|minus|skip)\s+(?:more\s+)?(?:songs?\s+by\s+)?([^,.;!?]+)", re.I)
_SHIFT = re.compile(r"\b(more|less|a bit|bit|even|way)?\s*(" + "|".join(SHIFTS) + r")\b", re.I)
_FOLLOWUP = re.compile(
    r"^\s*(?:more|less|no|not|without|but|and|even|something|make it|a bit|only|exclude|except|skip|also)\b", re.I
)
_RESET = re.compile(r"^\s*(?:reset|start over|new search|forget it)\b", re.I)


def parse_ordinal(word: str) -> int:
    """``"2"``, ``"second"``, ``"2nd"`` → 2; ``"last"`` → -1."""
    word = word.lower()
    return int(word) if word.isdigit() else ORDINALS[word]


@dataclass(slots=True)
class Turn:
    """How one message was understood.

    Attributes:
        intent: ``"new"``, ``"refine"`` or ``"explain"``.
        query: the retrieval query text for this turn.
        explain: 1-based number of the recommendation to explain (intent ``explain``).
        changes: human-readable list of what this message changed.
    """

    intent: str
    query: str
    explain: int | None = None
    changes: list[str] = field(default_factory=list)


@dataclass(slots=True)
class ChatState:
    """What a conversation has established so far.

    Attributes:
        base_query: the last full request.
        excluded_artists: artist names to leave out.
        shifts: accumulated feature shifts (for the query text).
        targets_abs: absolute target features: the previous answer's average plus each shift.
        seed: ``"Artist - Title"`` the user asked for more of.
        last: the previous answer; ``focus``: the recommendation last talked about (1-based).
    """

    base_query: str = ""
    excluded_artists: list[str] = field(default_factory=list)
    shifts: dict[str, float] = field(default_factory=dict)
    targets_abs: dict[str, float] = field(default_factory=dict)
    seed: str | None = None
    last: Answer | None = None
    focus: int = 1
    turns: list[tuple[str, Turn]] = field(default_factory=list)

    def reset(self) -> None:
        """Forget the conversation: base query, seed, focus, exclusions and shifts."""
        self.base_query, self.seed, self.last, self.focus = "", None, None, 1
        self.excluded_artists.clear()
        self.shifts.clear()
        self.targets_abs.clear()

    def targets(self) -> dict[str, float]:
        """Target audio features (absolute, clipped to each feature's scale)."""
        return dict(self.targets_abs)

    def _shift(self, feature: str, delta: float) -> None:
        self.shifts[feature] = self.shifts.get(feature, 0.0) + delta
        mean = self.last.mean_features() if self.last is not None else {}
        base = mean.get(feature, self.targets_abs.get(feature, 120.0 if feature == "tempo" else 0.5))
        value = base + delta
        self.targets_abs[feature] = max(40.0, min(220.0, value)) if feature == "tempo" else max(0.0, min(1.0, value))

    def query(self) -> str:
        """The retrieval query text the state stands for."""
        q = self.base_query
        if self.seed:
            q = f"{q} like {self.seed}".strip()
        words = [w for w, d in SHIFTS.items() if all(self.shifts.get(k, 0) * v > 0 for k, v in d.items())]
        if self.shifts and words:
            q = f"{q} {words[0]}".strip()
        for name in self.excluded_artists:  # the retriever's parser reads "no X" as an exclusion
            if f"no {name}".lower() not in q.lower():
                q = f"{q}, no {name}"
        return q

    def constraints(self) -> dict[str, Any]:
        """Constraints applied locally to the retrieved list by :func:`musicgraph.rag.ask.ask`."""
        out: dict[str, Any] = {}
        if self.excluded_artists:
            out["exclude_artists"] = list(self.excluded_artists)
        if self.shifts:
            out["feature_targets"] = self.targets()
        return out

    def retrieval_filters(self) -> dict[str, Any]:
        """Hard filters for the retriever: a feature range per shifted feature (beyond the target
        minus/plus a margin), in the ``{"energy": (min, max)}`` form of hybrid retrieval."""
        out: dict[str, Any] = {}
        for name, target in self.targets().items():
            margin = 15.0 if name == "tempo" else 0.15
            if self.shifts.get(name, 0.0) > 0:
                out[name] = (target - margin, None)
            elif self.shifts.get(name, 0.0) < 0:
                out[name] = (None, target + margin)
        return out

    def interpret(self, message: str) -> Turn:
        """Update the state from ``message`` and say how it was understood."""
        text = message.strip()
        if _RESET.match(text):
            self.reset()
            text = _RESET.sub("", text).strip(" ,.;:") or text
        has_previous = self.last is not None and bool(self.last.recommendations)
        m = _WHY.match(text)
        if m and has_previous:
            number = parse_ordinal(m.group(1)) if m.group(1) else self.focus
            assert self.last is not None
            if number == -1:
                number = len(self.last.recommendations)
            self.focus = number
            return self._record(message, Turn("explain", self.query(), explain=number, changes=[f"explain #{number}"]))
        followup = bool(self.base_query) and (
            bool(_FOLLOWUP.match(text))
            or bool(_MORE_LIKE.search(text))
            or (len(text.split()) <= 4 and bool(_SHIFT.search(text) or _EXCLUDE.search(text)))
        )
        if not followup:  # a new request: forget the refinements of the previous one
            self.excluded_artists.clear()
            self.shifts.clear()
            self.targets_abs.clear()
            self.seed = None
        changes: list[str] = []
        m = _MORE_LIKE.search(text)
        if m and has_previous:
            assert self.last is not None
            number = parse_ordinal(m.group(1))
            recs = self.last.recommendations
            if number == -1:
                number = len(recs)
            if not 1 <= number <= len(recs):
                raise ValueError(f"there is no recommendation #{number}; the last answer has {len(recs)}")
            self.seed = recs[number - 1].result.display()
            self.focus = number
            changes.append(f"seed: {self.seed}")
        for m in _EXCLUDE.finditer(text):
            name = m.group(1).strip()
            name = re.sub(r"\s+(?:please|thanks|anymore|songs?)$", "", name, flags=re.I).strip()
            name = re.split(r"\s+(?:and|but)\s+", name, maxsplit=1)[0].strip()
            if name and name.lower() not in {"more", "less", "one", "that"} and name not in self.excluded_artists:
                self.excluded_artists.append(name)
                changes.append(f"exclude {name}")
        if not followup:
            self.base_query = text
            return self._record(message, Turn("new", text, changes=changes))
        for m in _SHIFT.finditer(text):
            word = m.group(2).lower()
            sign = -1.0 if (m.group(1) or "").lower() == "less" else 1.0
            for feat, delta in SHIFTS[word].items():
                self._shift(feat, sign * delta)
            changes.append(f"{'less' if sign < 0 else 'more'} {word}")
        if not changes:  # a short follow-up we do not understand: add its words to the query
            self.base_query = f"{self.base_query} {text}".strip()
            changes.append(f"query + {text!r}")
        return self._record(message, Turn("refine", self.query(), changes=changes))

    def _record(self, message: str, turn: Turn) -> Turn:
        self.turns.append((message, turn))
        log.debug("chat turn %r → %s", message, turn)
        return turn

    def remember(self, answer: Answer) -> None:
        """Make ``answer`` the one later messages refer to."""
        if answer.recommendations:
            self.last = answer


class ChatSession:
    """A conversation: each :meth:`send` answers one message with the state applied.

    Args:
        k, backend, model: passed to :func:`musicgraph.rag.ask.ask`.
        **ask_kwargs: further ask() arguments (``retriever``, ``store``, ``generator`` …).
    """

    def __init__(self, k: int = 5, backend: str = "auto", model: str | None = None, **ask_kwargs: Any):
        self.state = ChatState()
        self.k = k
        self.backend = backend
        self.model = model
        self.ask_kwargs = ask_kwargs
        self.answers: list[Answer] = []

    def send(self, message: str) -> Answer:
        """Answer ``message`` in the context of the conversation."""
        from musicgraph.rag.ask import ask

        answer = ask(message, k=self.k, backend=self.backend, history=self.state, model=self.model, **self.ask_kwargs)
        self.answers.append(answer)
        return answer
