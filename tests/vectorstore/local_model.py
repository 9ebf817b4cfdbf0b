"""A tiny but real sentence-embedding model in the ONNX export layout, built for the tests: a word-level
tokenizer.json and a model.onnx whose last_hidden_state is a lookup in an embedding table (plus a token-type
table when the graph takes token_type_ids). Its expected vectors are easy to compute with numpy."""

import json
from pathlib import Path

import numpy as np

WORDS = ["[PAD]", "[UNK]", "cats", "sat", "on", "the", "mat", "rockets", "launch", "into", "orbit", "with",
         "fuel", "bread", "is", "baked", "in", "an", "oven", "every", "morning"]


def write_model(directory: Path, dimensions: int = 16, seed: int = 7, token_types: bool = True,
                max_seq_length: int | None = None, graph: str = "model.onnx", extra_input: str = "") -> dict:
    """Writes the model; returns its tables (what `expected` needs)."""
    import onnx
    from onnx import TensorProto, helper
    from tokenizers import Tokenizer, models, normalizers, pre_tokenizers

    rng = np.random.default_rng(seed)
    tables = {"words": rng.normal(size=(len(WORDS), dimensions)).astype(np.float32),
              "types": rng.normal(size=(2, dimensions)).astype(np.float32) if token_types else None}
    inputs = [helper.make_tensor_value_info(name, TensorProto.INT64, ["batch", "sequence"])
              for name in ("input_ids", "attention_mask", "token_type_ids")[:3 if token_types else 2]]
    if extra_input:  # e.g. a decoder's past_key_values: declared (so required), unused
        inputs.append(helper.make_tensor_value_info(extra_input, TensorProto.INT64, ["batch", "sequence"]))
    initializers = [helper.make_tensor("words", TensorProto.FLOAT, tables["words"].shape, tables["words"].flatten())]
    nodes = [helper.make_node("Gather", ["words", "input_ids"], ["word_vectors" if token_types else
                                                                 "last_hidden_state"], axis=0)]
    if token_types:
        initializers.append(helper.make_tensor("types", TensorProto.FLOAT, tables["types"].shape,
                                               tables["types"].flatten()))
        nodes += [helper.make_node("Gather", ["types", "token_type_ids"], ["type_vectors"], axis=0),
                  helper.make_node("Add", ["word_vectors", "type_vectors"], ["last_hidden_state"])]
    output = helper.make_tensor_value_info("last_hidden_state", TensorProto.FLOAT, ["batch", "sequence", dimensions])
    model = helper.make_model(helper.make_graph(nodes, "tiny", inputs, [output], initializers),
                              opset_imports=[helper.make_opsetid("", 17)], ir_version=9)
    onnx.checker.check_model(model)
    (directory / graph).parent.mkdir(parents=True, exist_ok=True)
    onnx.save(model, str(directory / graph))

    tokenizer = Tokenizer(models.WordLevel({w: i for i, w in enumerate(WORDS)}, unk_token="[UNK]"))
    tokenizer.normalizer = normalizers.Lowercase()
    tokenizer.pre_tokenizer = pre_tokenizers.Whitespace()
    tokenizer.save(str(directory / "tokenizer.json"))
    if max_seq_length:
        (directory / "sentence_bert_config.json").write_text(json.dumps({"max_seq_length": max_seq_length}))
    return tables


def expected(tables: dict, text: str, max_length: int = 512) -> np.ndarray:
    """Mean of the text's token vectors (no padding), L2-normalised: what the embedder must return."""
    ids = [WORDS.index(w) if w in WORDS else WORDS.index("[UNK]") for w in text.lower().split()][:max_length]
    rows = tables["words"][ids] + (tables["types"][0] if tables["types"] is not None else 0)
    mean = rows.mean(axis=0)
    return mean / np.linalg.norm(mean)
