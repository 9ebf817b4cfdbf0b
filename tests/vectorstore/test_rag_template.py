"""The built-in `rag-qa` template end to end with the offline model: the executor's retriever node searches
the vectorstore over gRPC as the caller, the prompt is filled with the passages, the chat model answers, and
the run is recorded as an evaluation run of the collection."""

import copy

from tests.executor.helpers import create_workflow, run
from tests.vectorstore.helpers import collection, ingested, user

PASSAGES = ["Employees receive twenty-five days of paid annual leave.",
            "Passwords must be rotated every ninety days.",
            "The office kitchen is cleaned every Friday afternoon."]


async def rag_workflow(http, headers, collection_id: str) -> str:
    template = (await http.get("/templates/builtin:rag-qa", headers=headers)).json()
    graph = copy.deepcopy(template["flow_data"])
    for node in graph["nodes"]:
        if node["type"] == "vector_retriever":
            node["data"].update(collection_id=collection_id, top_k=1)
    return await create_workflow(http, headers, graph, "rag")


async def test_rag_template_answers_from_the_collection(http):
    u = await user(http, "vs-rag")
    c = await collection(http, u, "policies")
    for passage in PASSAGES:
        await ingested(http, u, c["id"], passage)
    workflow_id = await rag_workflow(http, u, c["id"])
    execution = await run(http, u, workflow_id, "How often must passwords be rotated?")
    assert execution["status"] == "EXECUTION_STATUS_SUCCEEDED", execution
    assert execution["output"] == ("Echo: Answer from the context.\n\n[1] Passwords must be rotated every ninety "
                                   "days.\n\nQuestion: How often must passwords be rotated?")
    # The run recorded its evaluation: question, answer, the chunk it was built from, latency, tokens.
    runs = (await http.get(f"/collections/{c['id']}/evaluations", headers=u)).json()["evaluations"]
    assert len(runs) == 1 and runs[0]["query"] == "How often must passwords be rotated?"
    assert runs[0]["response"] == execution["output"] and runs[0]["execution_id"] == execution["id"]
    found = (await http.post(f"/collections/{c['id']}:search", headers=u,
                             json={"query": "passwords rotated", "top_k": 1})).json()["results"][0]
    assert runs[0]["source_chunk_ids"] == [found["chunk"]["id"]]
    assert runs[0]["latency_ms"] > 0 and runs[0]["token_count"] == len(execution["output"].split())


async def test_retriever_cannot_reach_another_organizations_collection(http):
    owner = await user(http, "vs-rag")
    c = await collection(http, owner, "private")
    await ingested(http, owner, c["id"], PASSAGES[0])
    thief = await user(http, "vs-rag")
    workflow_id = await rag_workflow(http, thief, c["id"])
    execution = await run(http, thief, workflow_id, "paid leave?")
    assert execution["status"] == "EXECUTION_STATUS_FAILED"
    assert "not found" in execution["error"]["message"] and "twenty-five" not in str(execution)


async def test_template_with_its_placeholder_collection_is_refused_before_running(http):
    u = await user(http, "vs-rag")
    template = (await http.get("/templates/builtin:rag-qa", headers=u)).json()
    workflow_id = await create_workflow(http, u, template["flow_data"], "rag-unset")
    response = await http.post(f"/workflows/{workflow_id}:run", headers=u, json={"input": "q"})
    assert response.status_code == 400 and "collection_id" in response.text
