"""The local T5's tokenizer: a byte-level BPE trained on the training pairs (no pretrained vocabulary ships)."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    pass

from musicgraph.rag.t5_local import MAX_INPUT

__all__ = ["train_tokenizer"]

log = logging.getLogger(__name__)

def train_tokenizer(texts: Sequence[str], vocab_size: int) -> Any:
    """A ``PreTrainedTokenizerFast`` over a byte-level BPE of ``vocab_size`` trained on ``texts``
    (``<pad>``, ``</s>``, ``<unk>``; ``</s>`` appended to every input)."""
    from tokenizers import ByteLevelBPETokenizer
    from tokenizers.processors import TemplateProcessing
    from transformers import PreTrainedTokenizerFast

    bpe = ByteLevelBPETokenizer()
    bpe.train_from_iterator(texts, vocab_size=vocab_size, min_frequency=2, special_tokens=["<pad>", "</s>", "<unk>"])
    eos = bpe.token_to_id("</s>")
    bpe.post_processor = TemplateProcessing(single="$A </s>", special_tokens=[("</s>", eos)])
    tok = PreTrainedTokenizerFast(tokenizer_object=bpe._tokenizer, pad_token="<pad>", eos_token="</s>", unk_token="<unk>")
    tok.model_max_length = MAX_INPUT
    return tok
