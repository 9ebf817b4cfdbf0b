"""The built-in `rag-qa` template end to end with the offline model: the executor's retriever node searches
the vectorstore over gRPC as the caller, the prompt is filled with the passages, the chat model answers, and
the run is recorded as an evaluation run of the collection."""

import copy

import grpc

from agentic.auth.v1 import auth_pb2, auth_pb2_grpc
from agentic.vectorstore.v1 import vectorstore_pb2 as pb
from agentic.vectorstore.v1 import vectorstore_pb2_grpc
from tests.conftest import SERVICE_SECRETS
from tests.executor.helpers import background, create_workflow, run
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



async def test_background_run_retrieves_for_its_own_organization_only(http):
    """Background runs search and record evaluations with the executor acting for the run's organization."""
    owner = await user(http, "vs-rag-bg")
    c = await collection(http, owner, "policies")
    for passage in PASSAGES:
        await ingested(http, owner, c["id"], passage)
    execution = await background(http, owner, await rag_workflow(http, owner, c["id"]),
                                 "How often must passwords be rotated?")
    assert execution["status"] == "EXECUTION_STATUS_SUCCEEDED", execution
    assert "[1] Passwords must be rotated every ninety days." in execution["output"]
    runs = (await http.get(f"/collections/{c['id']}/evaluations", headers=owner)).json()["evaluations"]
    assert [r["execution_id"] for r in runs] == [execution["id"]]

    thief = await user(http, "vs-rag-bg")
    stolen = await background(http, thief, await rag_workflow(http, thief, c["id"]), "passwords?")
    assert stolen["status"] == "EXECUTION_STATUS_FAILED"
    assert "not found" in stolen["error"]["message"] and "ninety" not in str(stolen)


async def test_acting_token_opens_only_the_retrieval_rpcs(auth_service, vectorstore_service):
    """The executor's token for an organization searches that organization's collections and nothing else;
    a plain service token (no organization) searches nothing."""
    async with grpc.aio.insecure_channel(auth_service.address) as auth_channel, \
            grpc.aio.insecure_channel(vectorstore_service.address) as channel:
        issue = auth_pb2_grpc.AuthServiceStub(auth_channel).IssueServiceToken
        plain = await issue(auth_pb2.IssueServiceTokenRequest(
            service_name="executor", service_secret=SERVICE_SECRETS["executor"]))
        acting = await issue(auth_pb2.IssueServiceTokenRequest(
            service_name="executor", service_secret=SERVICE_SECRETS["executor"],
            organization_id="7d4ec7e5-35a5-4d60-9a3c-2f0c3c2b6a11"))
        search = vectorstore_pb2_grpc.SearchServiceStub(channel).Search
        request = pb.SearchRequest(collection_id="2b1c6a53-4f0e-4c55-8a5e-0e4f3b7d9c21", query="q")
        for token, code in ((plain, grpc.StatusCode.UNAUTHENTICATED), (acting, grpc.StatusCode.NOT_FOUND)):
            try:
                await search(request, metadata=(("authorization", f"Bearer {token.access_token}"),))
                raise AssertionError("the search was answered")
            except grpc.aio.AioRpcError as exc:
                assert exc.code() == code, exc
        try:  # everything else still needs a caller
            await vectorstore_pb2_grpc.CollectionServiceStub(channel).ListCollections(
                pb.ListCollectionsRequest(), metadata=(("authorization", f"Bearer {acting.access_token}"),))
            raise AssertionError("the listing was answered")
        except grpc.aio.AioRpcError as exc:
            assert exc.code() == grpc.StatusCode.UNAUTHENTICATED


async def test_template_with_its_placeholder_collection_is_refused_before_running(http):
    u = await user(http, "vs-rag")
    template = (await http.get("/templates/builtin:rag-qa", headers=u)).json()
    workflow_id = await create_workflow(http, u, template["flow_data"], "rag-unset")
    response = await http.post(f"/workflows/{workflow_id}:run", headers=u, json={"input": "q"})
    assert response.status_code == 400 and "collection_id" in response.text
