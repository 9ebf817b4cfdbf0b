"""Sentence-embedding models run in process with onnxruntime (optional extra `local-embeddings`).

A model is a directory under VECTORSTORE_LOCAL_MODELS_DIR in the common ONNX export layout (as shipped by
sentence-transformers/all-MiniLM-L6-v2 or Xenova/all-MiniLM-L6-v2): `model.onnx` or `onnx/model.onnx`, and
`tokenizer.json` (HuggingFace tokenizers). Nothing is ever downloaded: the operator puts the directory there.
A sentence's vector is the model's last hidden state averaged over its tokens (the attention mask), then
L2-normalised — the pooling of sentence-transformers' mean-pooling models.
"""

from __future__ import annotations

import asyncio
import json
import logging
import threading
from pathlib import Path

import numpy as np

from services.common.errors import FailedPrecondition, InvalidArgument

log = logging.getLogger(__name__)

EXTRA = "pip install 'agentic-platform[local-embeddings]'"
GRAPHS = ("model.onnx", "onnx/model.onnx")
DEFAULT_MAX_LENGTH = 512  # BERT's position table, when the directory says nothing
# Texts per inference: padding is to the longest text of a batch, and texts are batched by length.
INFERENCE_BATCH = 32
FED = ("input_ids", "attention_mask", "token_type_ids")


class UnusableModel(Exception):
    """The directory holds a model this provider cannot run (its message says why, without paths)."""


def _graph_of(directory: Path) -> Path | None:
    return next((directory / g for g in GRAPHS if (directory / g).is_file()), None)


def _json(path: Path) -> dict:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return {}


class LocalModel:
    """One loaded model: its onnxruntime session and tokenizer. Sessions are safe to run from several threads."""

    def __init__(self, name: str, directory: Path):
        import onnxruntime
        from tokenizers import Tokenizer

        self.name = name
        options = onnxruntime.SessionOptions()
        options.log_severity_level = 3  # errors only: exports carry harmless warnings about unused initialisers
        self.session = onnxruntime.InferenceSession(str(_graph_of(directory)), options,
                                                    providers=["CPUExecutionProvider"])
        self.inputs = {i.name: np.int32 if i.type == "tensor(int32)" else np.int64 for i in self.session.get_inputs()}
        if "input_ids" not in self.inputs or set(self.inputs) - set(FED):
            raise UnusableModel(f"its graph takes {', '.join(self.inputs)}; an encoder export taking "
                                f"{', '.join(FED)} (or some of them) is needed")
        outputs = [o.name for o in self.session.get_outputs()]
        self.output = "last_hidden_state" if "last_hidden_state" in outputs else outputs[0]
        self.tokenizer = Tokenizer.from_file(str(directory / "tokenizer.json"))
        self.tokenizer.no_padding()  # padded here, per batch (a tokenizer.json may pad to a fixed length)
        self.tokenizer.enable_truncation(self._max_length(directory))
        padding = _json(directory / "tokenizer.json").get("padding") or {}
        self.pad_id = padding.get("pad_id", next((self.tokenizer.token_to_id(t) for t in ("[PAD]", "<pad>")
                                                  if self.tokenizer.token_to_id(t) is not None), 0))
        # Exports differ in whether the hidden size is static in the graph: a probe tells for certain.
        self.dimensions = self.embed(["dimensions"]).shape[1]

    def _max_length(self, directory: Path) -> int:
        """sentence-transformers' max_seq_length (what the model was trained with), else the tokenizer's or
        the position table's size."""
        truncation = _json(directory / "tokenizer.json").get("truncation") or {}
        candidates = [_json(directory / "sentence_bert_config.json").get("max_seq_length"),
                      truncation.get("max_length"),
                      _json(directory / "tokenizer_config.json").get("model_max_length"),
                      _json(directory / "config.json").get("max_position_embeddings")]
        # tokenizer_config says 1e30 when it has no limit of its own
        return next((int(c) for c in candidates if isinstance(c, int | float) and 0 < c <= 100_000),
                    DEFAULT_MAX_LENGTH)

    def embed(self, texts: list[str]) -> np.ndarray:
        encodings = self.tokenizer.encode_batch(texts)
        order = np.argsort([len(e.ids) for e in encodings], kind="stable")
        pooled = np.concatenate([self._pooled([encodings[r] for r in order[start:start + INFERENCE_BATCH]])
                                 for start in range(0, len(texts), INFERENCE_BATCH)])
        out = np.empty_like(pooled)
        out[order] = pooled
        return out

    def _pooled(self, encodings: list) -> np.ndarray:
        width = max(1, max(len(e.ids) for e in encodings))
        ids = np.full((len(encodings), width), self.pad_id, dtype=np.int64)
        mask = np.zeros((len(encodings), width), dtype=np.int64)
        types = np.zeros((len(encodings), width), dtype=np.int64)
        for row, encoding in enumerate(encodings):
            n = len(encoding.ids)
            ids[row, :n], mask[row, :n], types[row, :n] = encoding.ids, encoding.attention_mask, encoding.type_ids
        feed = dict(zip(FED, (ids, mask, types), strict=True))
        # Only the inputs this graph has (DistilBERT-like exports take no token_type_ids), in its integer type.
        hidden = self.session.run([self.output], {name: feed[name].astype(dtype)
                                                  for name, dtype in self.inputs.items() if name in feed})[0]
        if hidden.ndim == 3:  # (batch, tokens, hidden): mean over the real tokens
            weights = mask[:, :, None].astype(np.float32)
            hidden = (hidden * weights).sum(axis=1) / np.maximum(weights.sum(axis=1), 1e-9)
        hidden = hidden.astype(np.float32)
        norms = np.linalg.norm(hidden, axis=1, keepdims=True)
        return hidden / np.where(norms == 0, 1, norms)


class LocalModels:
    """The models of one directory, each loaded once per process (a few hundred ms and ~100 MB each)."""

    def __init__(self, directory: str):
        self.directory = Path(directory) if directory else None
        self._loaded: dict[str, LocalModel] = {}
        self._lock = threading.Lock()

    def available(self) -> list[str]:
        if self.directory is None or not self.directory.is_dir():
            return []
        return sorted(d.name for d in self.directory.iterdir()
                      if d.is_dir() and _graph_of(d) and (d / "tokenizer.json").is_file())

    def sizes(self) -> list[tuple[str, int]]:
        """(model, dimensions) of every usable model of the directory: config.json's hidden_size, else the model
        loaded (once) and probed. Models that cannot be loaded are left out (their error shows on use)."""
        sizes = []
        for model in self.available():
            size = _json(self.directory / model / "config.json").get("hidden_size")
            if not isinstance(size, int):
                try:
                    size = self.load(model).dimensions
                except FailedPrecondition:
                    continue
            sizes.append((model, size))
        return sizes

    def check(self, model: str, dimensions: int, field: str) -> None:
        """A collection may use `model` at `dimensions`: loads the model (once) to know its vector size."""
        if self.directory is None:
            raise FailedPrecondition("local embedding models are not configured on this service "
                                     "(VECTORSTORE_LOCAL_MODELS_DIR)")
        try:
            import onnxruntime  # noqa: F401
            import tokenizers  # noqa: F401
        except ImportError:
            raise FailedPrecondition(f"local embedding models need the optional extra on the vectorstore "
                                     f"service: {EXTRA}") from None
        if not model or "/" in model or "\\" in model or model.startswith(".") or len(model) > 200:
            raise InvalidArgument(f"{field}.model", "name a model directory of the service's local models "
                                  "(a plain directory name, no path)")
        available = self.available()
        if model not in available:
            raise InvalidArgument(f"{field}.model", f"no local model {model!r}; available: "
                                  f"{', '.join(available) or 'none (the models directory has no model)'}")
        size = self.load(model).dimensions
        if dimensions != size:
            raise InvalidArgument(f"{field}.dimensions", f"model {model} makes {size}-dimensional vectors")

    def load(self, model: str) -> LocalModel:
        with self._lock:
            if model not in self._loaded:
                directory = self.directory / model if self.directory else None
                if directory is None or model not in self.available():
                    raise FailedPrecondition(f"local model {model!r} is no longer on this service")
                try:
                    self._loaded[model] = LocalModel(model, directory)
                except ImportError:
                    raise FailedPrecondition(f"local embedding models need the optional extra: {EXTRA}") from None
                except UnusableModel as exc:
                    raise FailedPrecondition(f"local model {model!r} cannot be used: {exc}") from None
                except Exception as exc:
                    log.exception("loading local model %s from %s failed", model, directory)
                    raise FailedPrecondition(f"local model {model!r} cannot be loaded ({type(exc).__name__}); "
                                             f"check its model.onnx and tokenizer.json") from None
            return self._loaded[model]


class LocalEmbedder:
    """A collection's local model. Inference takes milliseconds per text, so it runs off the event loop."""

    instant = False

    def __init__(self, models: LocalModels, model: str, dimensions: int):
        self.models, self.model, self.dimensions = models, model, dimensions

    def embed_sync(self, texts: list[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dimensions), dtype=np.float32)
        vectors = self.models.load(self.model).embed(texts)
        if vectors.shape[1] != self.dimensions:
            raise FailedPrecondition(f"local model {self.model} now makes {vectors.shape[1]}-dimensional "
                                     f"vectors; the collection expects {self.dimensions}")
        return vectors

    async def embed(self, texts: list[str]) -> np.ndarray:
        return await asyncio.to_thread(self.embed_sync, texts)
