"""The fine-tuned SmolLM2-135M: grounded answers, generative retrieval and request parameters.

* :mod:`~musicgraph.lm.weights` — the base model, de-quantized once and cached (:func:`ensure_base`);
* :mod:`~musicgraph.lm.train` — ``musicgraph lm train --task answer|genrec|params`` (:func:`train_task`),
  over the shared loop of :mod:`~musicgraph.lm.trainer` and the LoRA adapters of :mod:`~musicgraph.lm.lora`;
* :mod:`~musicgraph.lm.answer` — the ``lm`` answer backend (:class:`LMGenerator`);
* :mod:`~musicgraph.lm.genrec` — songs generated as semantic IDs (:class:`GenerativeRetriever`,
  the IDs from :mod:`~musicgraph.lm.semantic_ids` and :mod:`~musicgraph.lm.rvq`);
* :mod:`~musicgraph.lm.params` — a request mapped to moods, feature targets and filters (:class:`ParamsModel`);
* :mod:`~musicgraph.lm.judge` — the independent grounding judge (:class:`GroundingJudge`), tested on the
  planted errors of :mod:`~musicgraph.lm.adversarial`.

torch, transformers and peft come with the ``lm`` extra; every name here loads its module on first use.
"""

from __future__ import annotations

from musicgraph.lazy import lazy_getattr

__all__ = [
    "TASKS",
    "GenerativeRetriever",
    "GroundingJudge",
    "JudgeCatalog",
    "LMGenerator",
    "ParamsModel",
    "ResidualVQ",
    "SemanticIds",
    "TaskConfig",
    "WeightsError",
    "build_semantic_ids",
    "default_config",
    "ensure_base",
    "judge_answer",
    "lm_available",
    "load_base",
    "train_task",
]

_LAZY = {
    "TASKS": "musicgraph.lm.train",
    "TaskConfig": "musicgraph.lm.train",
    "default_config": "musicgraph.lm.train",
    "train_task": "musicgraph.lm.train",
    "LMGenerator": "musicgraph.lm.answer",
    "lm_available": "musicgraph.lm.answer",
    "GenerativeRetriever": "musicgraph.lm.genrec",
    "GroundingJudge": "musicgraph.lm.judge",
    "JudgeCatalog": "musicgraph.lm.judge",
    "judge_answer": "musicgraph.lm.judge",
    "ParamsModel": "musicgraph.lm.params",
    "ResidualVQ": "musicgraph.lm.rvq",
    "SemanticIds": "musicgraph.lm.semantic_ids",
    "build_semantic_ids": "musicgraph.lm.semantic_ids",
    "WeightsError": "musicgraph.lm.weights",
    "ensure_base": "musicgraph.lm.weights",
    "load_base": "musicgraph.lm.weights",
}

__getattr__ = lazy_getattr(__name__, _LAZY)
