"""Prefix tries for constrained decoding: only sequences stored in the trie can be generated.

Two users:

* **Semantic IDs** (:mod:`musicgraph.lm.genrec`): the trie holds the code sequence of every catalog
  song; beam search asks :meth:`PrefixTrie.allowed` at each step, so every finished sequence is a
  valid ID by construction.
* **Evidence pointers** (:mod:`musicgraph.lm.answer`): a character trie of the pointers an answer
  may write (``1]``, ``2]``, ... for the evidence numbers after an opening ``[``);
  :class:`PointerConstraint` turns it into a logits mask over the tokenizer's vocabulary.

>>> t = PrefixTrie([(1, 2, 3), (1, 2, 4), (5, 6, 7)])
>>> sorted(t.allowed(()))
[1, 5]
>>> sorted(t.allowed((1, 2)))
[3, 4]
>>> t.allowed((1, 2, 3)), (1, 2, 3) in t
(set(), True)
"""

from __future__ import annotations

from collections.abc import Hashable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any


class PrefixTrie:
    """A trie of fixed or variable-length sequences of hashable symbols (token ids, characters).

    Args:
        sequences: the valid sequences.
    """

    def __init__(self, sequences: Iterable[Sequence[Hashable]] = ()):
        self.root: dict[Hashable, Any] = {}
        self._ends: set[tuple[Hashable, ...]] = set()
        for seq in sequences:
            self.add(seq)

    def add(self, seq: Sequence[Hashable]) -> None:
        """Store ``seq``."""
        node = self.root
        for sym in seq:
            node = node.setdefault(sym, {})
        self._ends.add(tuple(seq))

    def __contains__(self, seq: object) -> bool:
        return isinstance(seq, (tuple, list, str)) and tuple(seq) in self._ends

    def __len__(self) -> int:
        return len(self._ends)

    def node(self, prefix: Sequence[Hashable]) -> dict[Hashable, Any] | None:
        """The subtree under ``prefix`` (None when no stored sequence starts with it)."""
        node = self.root
        for sym in prefix:
            nxt = node.get(sym)
            if nxt is None:
                return None
            node = nxt
        return node

    def allowed(self, prefix: Sequence[Hashable]) -> set[Hashable]:
        """Symbols that can follow ``prefix`` (empty when the prefix is complete or invalid)."""
        node = self.node(prefix)
        return set(node) if node else set()

    def is_prefix(self, prefix: Sequence[Hashable]) -> bool:
        """Whether some stored sequence starts with ``prefix``."""
        return self.node(prefix) is not None


@dataclass(slots=True)
class TokenClasses:
    """The vocabulary split by what a token does to a pointer: opens one (ends with ``[``), is a
    number, closes one (starts with ``]``), or is plain text (no bracket)."""

    opens: list[int]
    digits: dict[int, str]
    closes: list[int]
    plain: list[int]


_CLASSES: dict[tuple[int, int], TokenClasses] = {}


def token_classes(tokenizer: Any) -> TokenClasses:
    """:class:`TokenClasses` of ``tokenizer`` (computed once per tokenizer object)."""
    key = (id(tokenizer), len(tokenizer))
    if key in _CLASSES:
        return _CLASSES[key]
    tokens = tokenizer.convert_ids_to_tokens(list(range(len(tokenizer))))
    opens, digits, closes, plain = [], {}, [], []
    for i, tok in enumerate(tokens):
        piece = tokenizer.convert_tokens_to_string([tok]) if tok is not None else ""
        if "[" in piece:
            if piece.rstrip().endswith("[") and piece.count("[") == 1 and "]" not in piece:
                opens.append(i)
        elif "]" in piece:
            if piece.startswith("]") and piece.count("]") == 1:
                closes.append(i)
        elif piece.isdigit():
            digits[i] = piece
        else:
            plain.append(i)
    _CLASSES[key] = TokenClasses(opens, digits, closes, plain)
    return _CLASSES[key]


class PointerConstraint:
    """A logits mask that makes every ``[...]`` the model writes a valid evidence pointer.

    After an opening ``[`` the generated characters must spell one of ``valid`` followed by
    ``]``; a ``]`` anywhere else, or a ``[`` followed by anything but a number, is impossible. Tokens
    outside ``vocab`` (e.g. the prompt's tokens plus the answer vocabulary) are masked too, so the
    model can only spell words it was given or trained to write.

    The state is read from the decoded generated text, so it works with any tokenizer whose tokens
    join into the text (byte-level BPE, SentencePiece).

    Args:
        tokenizer: a Hugging Face tokenizer.
        valid: the pointer numbers allowed (evidence numbers), e.g. ``[1, 2, 3, 4, 5]``.
        prompt_len: tokens of the prompt (generation starts after them).
        vocab: token ids allowed outside pointers (None: all).
    """

    def __init__(self, tokenizer: Any, valid: Iterable[int], prompt_len: int, vocab: Iterable[int] | None = None):
        import torch

        self.tokenizer = tokenizer
        self.prompt_len = prompt_len
        self.trie = PrefixTrie(f"{n}]" for n in valid)
        classes = token_classes(tokenizer)
        keep = None if vocab is None else set(vocab)
        allowed_plain = set(classes.plain) if keep is None else set(classes.plain) & keep
        allowed_plain.update(i for i in classes.digits if keep is None or i in keep)
        if tokenizer.eos_token_id is not None:
            allowed_plain.add(tokenizer.eos_token_id)
        self._outside = torch.tensor(sorted(allowed_plain | set(classes.opens)), dtype=torch.long)
        self._digits = classes.digits
        self._closes = torch.tensor(classes.closes, dtype=torch.long)

    def state(self, generated_text: str) -> str | None:
        """The pointer text written since an unclosed ``[`` (None when not inside a pointer)."""
        i = generated_text.rfind("[")
        if i < 0 or "]" in generated_text[i:]:
            return None
        return generated_text[i + 1 :]

    def allowed_ids(self, generated_text: str) -> Any:
        """Token ids allowed next, as a LongTensor."""
        import torch

        inside = self.state(generated_text)
        if inside is None:
            return self._outside
        node = self.trie.node(inside)
        if node is None:  # cannot happen when every step was constrained; end the answer
            return torch.tensor([self.tokenizer.eos_token_id], dtype=torch.long)
        ok = [i for i, d in self._digits.items() if self.trie.is_prefix(inside + d)]
        if "]" in node:
            return torch.cat([torch.tensor(ok, dtype=torch.long), self._closes])
        return torch.tensor(ok, dtype=torch.long)

    def __call__(self, input_ids: Any, scores: Any) -> Any:
        """The ``LogitsProcessor`` interface: mask everything that is not allowed."""
        import torch

        out = torch.full_like(scores, float("-inf"))
        for row in range(input_ids.shape[0]):
            text = self.tokenizer.decode(input_ids[row, self.prompt_len :], skip_special_tokens=False)
            idx = self.allowed_ids(text)
            idx = idx[idx < scores.shape[-1]]
            out[row, idx] = scores[row, idx]
        return out
