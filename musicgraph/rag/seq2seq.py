"""Seq2seq backend: any Hugging Face encoder-decoder (T5, FLAN-T5, BART, ...) from local files only.

``Seq2SeqGenerator("path/to/flan-t5-base")`` or a model id already in the local Hugging Face cache
(``google/flan-t5-base``); nothing is downloaded (``local_files_only=True``). The input is the
request followed by the evidence block, truncated to the model's maximum input length by rank
(the context builder counts with the model's own tokenizer).

In strict mode (the second attempt after grounding rejected the first) decoding is constrained to
the tokens of the input plus punctuation and digits (:func:`copy_constraint`), so the model can
only spell names that are in the evidence.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import TYPE_CHECKING, Any

from musicgraph.rag.base import Generator, GeneratorError

if TYPE_CHECKING:
    from musicgraph.config import Settings
    from musicgraph.rag.context import Context

log = logging.getLogger(__name__)

PROMPT = "Recommend songs for the request using only the numbered candidates.\nRequest: {request}\n{evidence}"
_ALWAYS = list("0123456789.,:;()-'\"!?") + [" ", "\n", ". ", ": ", " - ", "; "]


def format_prompt(request: str, context: Context) -> str:
    """The model input: instruction, request and evidence block."""
    return PROMPT.format(request=request, evidence=context.text)


def copy_constraint(tokenizer: Any, input_ids: list[int], extra_text: str = "") -> Any:
    """A logits processor that allows only ``input_ids``, special tokens, digits and punctuation."""
    import torch
    from transformers import LogitsProcessor

    allowed = set(input_ids)
    for piece in [*_ALWAYS, extra_text]:
        allowed.update(tokenizer(piece, add_special_tokens=False)["input_ids"])
    allowed.update(i for i in (tokenizer.eos_token_id, tokenizer.pad_token_id) if i is not None)
    index = torch.tensor(sorted(allowed), dtype=torch.long)

    class CopyConstraint(LogitsProcessor):
        def __call__(self, ids: Any, scores: Any) -> Any:
            mask = torch.full_like(scores, float("-inf"))
            cols = index[index < scores.shape[-1]]
            mask[:, cols] = 0.0
            return scores + mask

    return CopyConstraint()


def resolve_model(model: str | Path) -> str:
    """A local directory path, or the id for the local cache; raises GeneratorError for a path that
    does not exist."""
    text = str(model)
    path = Path(text).expanduser()
    if path.exists():
        if not path.is_dir() or not (path / "config.json").is_file():
            raise GeneratorError(f"model path {path} is not a Hugging Face model directory (no config.json)")
        return str(path)
    if text.startswith((".", "/", "~")) or text.count("/") > 1 or text.endswith("/"):
        raise GeneratorError(f"model path {text!r} does not exist")
    return text


class Seq2SeqGenerator(Generator):
    """Generates with ``AutoModelForSeq2SeqLM`` from a local directory or cached id.

    Raises:
        GeneratorError: the path does not exist, the id is not cached locally, or the model is not
            an encoder-decoder (e.g. a causal LM).
    """

    name = "seq2seq"

    @classmethod
    def load(cls, model: str | Path | None = None, settings: Settings | None = None) -> Seq2SeqGenerator:
        """The generator for ``model``, which the seq2seq backend needs (there is no default model)."""
        if model is None:
            raise GeneratorError("the seq2seq backend needs --model: a local model directory or cached model id")
        return cls(model)

    def __init__(self, model: str | Path, max_new_tokens: int = 200, num_beams: int = 1):
        from transformers import AutoConfig, AutoModelForSeq2SeqLM, AutoTokenizer

        source = resolve_model(model)
        try:
            config = AutoConfig.from_pretrained(source, local_files_only=True)
        except (OSError, ValueError) as exc:
            raise GeneratorError(
                f"model {str(model)!r} is neither a local model directory nor in the local Hugging Face cache "
                f"(nothing is downloaded at run time): {exc}"
            ) from exc
        if not getattr(config, "is_encoder_decoder", False):
            raise GeneratorError(
                f"model {str(model)!r} is a {config.model_type!r} model, not an encoder-decoder (seq2seq) model; "
                "use a T5/BART-style model here, or --backend smollm2 for the causal LM"
            )
        try:
            self.tokenizer = AutoTokenizer.from_pretrained(source, local_files_only=True)
            self.model = AutoModelForSeq2SeqLM.from_pretrained(source, local_files_only=True)
        except (OSError, ValueError) as exc:
            raise GeneratorError(f"cannot load seq2seq model {str(model)!r}: {exc}") from exc
        self.model.eval()
        self.source = source
        self.max_new_tokens = max_new_tokens
        self.num_beams = num_beams
        limit = getattr(self.tokenizer, "model_max_length", 512)
        if not isinstance(limit, int) or limit > 100_000:
            limit = int(getattr(config, "n_positions", 0) or getattr(config, "max_position_embeddings", 0) or 512)
        self.max_input_tokens = limit
        log.info("loaded seq2seq model %s (max input %d tokens)", source, limit)

    def count_tokens(self, text: str) -> int:
        return len(self.tokenizer(text, add_special_tokens=False)["input_ids"])

    def prompt(self, request: str, context: Context) -> str:
        return format_prompt(request, context)

    def generate(self, request: str, context: Context, *, strict: bool = False) -> str:
        import torch
        from transformers import LogitsProcessorList

        enc = self.tokenizer(
            self.prompt(request, context), return_tensors="pt", truncation=True, max_length=self.max_input_tokens
        )
        kwargs: dict[str, Any] = {"max_new_tokens": self.max_new_tokens, "num_beams": self.num_beams, "do_sample": False}
        if strict:
            kwargs["logits_processor"] = LogitsProcessorList(
                [copy_constraint(self.tokenizer, enc["input_ids"][0].tolist())]
            )
            kwargs["num_beams"] = max(2, self.num_beams)
        with torch.no_grad():
            out = self.model.generate(**enc, **kwargs)
        text = self.tokenizer.decode(out[0], skip_special_tokens=True)
        return text.replace(" <n> ", "\n").replace("<n>", "\n").strip()
