"""Provider "local": a real ONNX model (tests/vectorstore/local_model.py) run by onnxruntime in process —
vectors equal to numpy's mean pooling, truncation, the layouts, and collections using it through the gateway."""

import sys
import tomllib
from pathlib import Path

import numpy as np
import pytest

from services.common.errors import FailedPrecondition, InvalidArgument
from services.vectorstore.local_embedder import EXTRA, LocalEmbedder, LocalModels
from tests.vectorstore.helpers import collection, ingested, user
from tests.vectorstore.local_model import WORDS, expected, write_model


def sentences(count: int) -> list[str]:
    """Texts of 1 to 12 words (some unknown), so batches are padded and sorted by length."""
    rng = np.random.default_rng(3)
    return [" ".join(rng.choice(WORDS[2:] + ["unknown"], size=1 + i % 12)) for i in range(count)]


async def test_vectors_are_the_mask_weighted_mean_of_the_token_states_normalised(tmp_path):
    (tmp_path / "m").mkdir()
    tables = write_model(tmp_path / "m", dimensions=16)
    models = LocalModels(str(tmp_path))
    texts = sentences(70)  # more than one inference batch
    vectors = await LocalEmbedder(models, "m", 16).embed(texts)
    assert vectors.dtype == np.float32 and vectors.shape == (70, 16)
    for text, vector in zip(texts, vectors, strict=True):
        np.testing.assert_allclose(vector, expected(tables, text), rtol=1e-5, atol=1e-6)
    # one text alone (no padding) gets the same vector as in a padded batch
    np.testing.assert_allclose((await LocalEmbedder(models, "m", 16).embed([texts[5]]))[0], vectors[5], atol=1e-6)
    assert models.load("m") is models.load("m")  # loaded once


async def test_onnx_subfolder_graph_without_token_types_truncated_to_max_seq_length(tmp_path):
    (tmp_path / "short").mkdir()
    tables = write_model(tmp_path / "short", dimensions=8, token_types=False, max_seq_length=3,
                         graph="onnx/model.onnx")
    models = LocalModels(str(tmp_path))
    assert models.available() == ["short"]
    models.check("short", 8, "collection.embedding")
    text = "rockets launch into orbit with fuel"
    vector = (await LocalEmbedder(models, "short", 8).embed([text]))[0]
    np.testing.assert_allclose(vector, expected(tables, text, max_length=3), rtol=1e-5, atol=1e-6)
    assert not np.allclose(vector, expected(tables, text), atol=1e-3)


def test_check_refuses_unknown_and_path_like_models_and_a_wrong_size(tmp_path):
    for name in ("alpha", "beta"):
        (tmp_path / name).mkdir()
        write_model(tmp_path / name, dimensions=8)
    (tmp_path / "no-tokenizer").mkdir()  # not a model: listed nowhere
    models = LocalModels(str(tmp_path))
    with pytest.raises(InvalidArgument) as missing:
        models.check("gamma", 8, "collection.embedding")
    assert missing.value.violations[0].field == "collection.embedding.model"
    assert "available: alpha, beta" in missing.value.message
    for name in ("../alpha", "alpha/..", "..", "a\\b", ""):
        with pytest.raises(InvalidArgument, match="collection.embedding.model"):
            models.check(name, 8, "collection.embedding")
    with pytest.raises(InvalidArgument) as size:
        models.check("alpha", 384, "collection.embedding")
    assert size.value.violations[0].field == "collection.embedding.dimensions"
    assert "8-dimensional" in size.value.message
    with pytest.raises(FailedPrecondition, match="VECTORSTORE_LOCAL_MODELS_DIR"):
        LocalModels("").check("alpha", 8, "collection.embedding")


def test_a_graph_needing_other_inputs_is_refused_naming_them(tmp_path):
    (tmp_path / "decoder").mkdir()
    write_model(tmp_path / "decoder", dimensions=8, extra_input="position_ids")
    with pytest.raises(FailedPrecondition) as error:
        LocalModels(str(tmp_path)).check("decoder", 8, "collection.embedding")
    assert "position_ids" in error.value.message and str(tmp_path) not in error.value.message


def test_without_onnxruntime_the_error_names_the_extra_and_the_extra_is_optional(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "onnxruntime", None)  # as if not installed: importing it fails
    with pytest.raises(FailedPrecondition) as error:
        LocalModels(str(tmp_path)).check("alpha", 8, "collection.embedding")
    assert EXTRA in error.value.message
    project = tomllib.loads((Path(__file__).parents[2] / "pyproject.toml").read_text())["project"]
    assert EXTRA == f"pip install '{project['name']}[local-embeddings]'"
    extra = project["optional-dependencies"]["local-embeddings"]
    assert {d.split("==")[0] for d in extra} == {"onnxruntime", "tokenizers"} and all("==" in d for d in extra)
    assert not any(d.startswith(("onnxruntime", "tokenizers")) for d in project["dependencies"])


async def test_a_local_collection_ingests_and_searches_through_the_gateway(http):
    u = await user(http, "vs-local")
    c = await collection(http, u, "local", embedding={"provider": "local", "model": "tiny-words", "dimensions": 16})
    assert c["embedding"] == {**c["embedding"], "provider": "local", "model": "tiny-words", "dimensions": 16}
    passages = {"cats": "the cats sat on the mat", "rockets": "rockets launch into orbit with fuel",
                "bread": "bread is baked in an oven every morning"}
    for name, text in passages.items():
        await ingested(http, u, c["id"], text, name=name)
    for query, wanted in (("rockets orbit", "rockets"), ("oven bread", "bread"), ("cats mat", "cats")):
        response = await http.post(f"/collections/{c['id']}:search", headers=u,
                                   json={"query": query, "mode": "SEARCH_MODE_VECTOR", "top_k": 3})
        assert response.status_code == 200, response.text
        results = response.json()["results"]
        assert results[0]["document_name"] == wanted, (query, results)
        assert results[0]["score"] > results[1]["score"]


@pytest.mark.parametrize(("embedding", "field", "says"), [
    ({"model": "all-MiniLM-L6-v2", "dimensions": 384}, "model", "available: tiny-words"),
    ({"model": "../tiny-words", "dimensions": 16}, "model", "no path"),
    ({"model": "tiny-words", "dimensions": 384}, "dimensions", "16-dimensional"),
])
async def test_a_local_collection_with_a_missing_model_or_wrong_size_is_refused(http, embedding, field, says):
    u = await user(http, "vs-local-bad")
    response = await http.post("/collections", headers=u,
                               json={"name": "bad", "embedding": {"provider": "local", **embedding}})
    assert response.status_code == 400, response.text
    violation = response.json()["details"][0]["field_violations"][0]
    assert violation["field"] == f"collection.embedding.{field}"
    assert says in violation["description"]


async def test_the_embedding_models_a_new_collection_may_use_are_listed(http):
    """The built-in model and the server's local models with their sizes (the console offers these); the suite's
    vectorstore has an operator endpoint (the fake OpenAI server)."""
    u = await user(http, "vs-models")
    response = await http.get("/embedding-models", headers=u)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["models"] == [{"provider": "builtin", "model": "hashing-v1", "dimensions": 384},
                              {"provider": "local", "model": "tiny-words", "dimensions": 16}]
    assert body["openai_default_endpoint"] is True
    assert (await http.get("/embedding-models")).status_code == 401


def test_model_sizes_come_from_config_or_a_probe_and_broken_models_are_left_out(tmp_path):
    for name in ("probed", "configured", "broken"):
        (tmp_path / name).mkdir()
        write_model(tmp_path / name, dimensions=8)
    (tmp_path / "configured" / "config.json").write_text('{"hidden_size": 8}')
    (tmp_path / "broken" / "model.onnx").write_bytes(b"not a graph")
    assert LocalModels(str(tmp_path)).sizes() == [("configured", 8), ("probed", 8)]
