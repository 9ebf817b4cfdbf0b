"""Retrieval from a knowledge base: searches a vectorstore collection over gRPC, as the run's caller, and
records the answer built from it as an evaluation run of the collection.

The caller's own token goes along (like the workflow reads in workflow_source.py), so the vectorstore applies
its tenancy and roles: a workflow can only retrieve from collections its runner may read. Background runs have
no caller token to lend: there the executor acts for the run's organization with a token auth signed for that
organization (the member role, accepted only by Search and CreateEvaluationRun).
"""

from __future__ import annotations

import time
import uuid

import grpc
from google.protobuf import struct_pb2

from agentic.vectorstore.v1 import vectorstore_pb2 as pb
from agentic.vectorstore.v1 import vectorstore_pb2_grpc
from services.common.protojson import struct_dict
from services.executor.nodes.base import (
    Node,
    NodeContext,
    NodeError,
    NodeResult,
    ParamError,
    as_text,
    int_param,
    number_param,
    text_param,
)

MODES = {"vector": pb.SEARCH_MODE_VECTOR, "keyword": pb.SEARCH_MODE_KEYWORD, "hybrid": pb.SEARCH_MODE_HYBRID}
SEARCH_SECONDS = 10.0


class VectorRetriever(Node):
    type = "vector_retriever"
    category = "retrieval"
    display_name = "Vector store retriever"
    description = ("Searches a knowledge-base collection with the input as the query (vector, keyword or hybrid) "
                   "and outputs {question, context, documents}: `context` is the passages numbered [1], [2]... "
                   "for a prompt, `documents` each passage with its score, document name and metadata.")
    params_schema = {"type": "object", "required": ["collection_id"], "properties": {
        "collection_id": {"type": "string", "description": "id of a collection of the organization"},
        "top_k": {"type": "integer", "minimum": 1, "maximum": 100},
        "mode": {"type": "string", "enum": list(MODES)},
        "min_score": {"type": "number"},
        "filter": {"type": "object", "description": "chunks whose metadata contains this object"}}}
    default_timeout_seconds = 30.0

    def configure(self, params: dict) -> None:
        self.collection_id = text_param(params, "collection_id", required=True, max_length=100).strip()
        try:
            uuid.UUID(self.collection_id)
        except ValueError:
            raise ParamError("collection_id", "must be the id of a collection (create one under /collections)") \
                from None
        self.top_k = int_param(params, "top_k", default=4, minimum=1, maximum=100)
        self.mode = text_param(params, "mode", default="hybrid", max_length=10)
        if self.mode not in MODES:
            raise ParamError("mode", f"must be one of {', '.join(MODES)}")
        self.min_score = number_param(params, "min_score", default=0.0, minimum=-1.0, maximum=1e9)
        self.filter = params.get("filter")
        if self.filter is not None and not isinstance(self.filter, dict):
            raise ParamError("filter", "must be an object")

    def _request(self, question: str) -> pb.SearchRequest:
        request = pb.SearchRequest(collection_id=self.collection_id, query=question, mode=MODES[self.mode],
                                   top_k=self.top_k, min_score=self.min_score)
        if self.filter is not None:
            request.filter.CopyFrom(_struct(self.filter))
        return request

    async def run(self, ctx: NodeContext) -> NodeResult:
        question = as_text(ctx.input).strip()
        if not question:
            raise NodeError("there is no question to search for (the input is empty)")
        channel, metadata = await _vectorstore(ctx)
        try:
            reply = await vectorstore_pb2_grpc.SearchServiceStub(channel).Search(
                self._request(question), metadata=metadata, timeout=SEARCH_SECONDS)
        except grpc.aio.AioRpcError as exc:
            raise NodeError(_failure(exc, self.collection_id)) from None
        documents = [{"content": r.chunk.content, "score": r.score, "document_name": r.document_name,
                      "document_id": r.chunk.document_id, "chunk_id": r.chunk.id,
                      "metadata": struct_dict(r.chunk.metadata)} for r in reply.results]
        context = "\n\n".join(f"[{n}] {d['content']}" for n, d in enumerate(documents, start=1))
        return NodeResult({"question": question, "context": context, "documents": documents,
                           "collection_id": self.collection_id, "retrieved_at": time.time()})


class RecordEvaluation(Node):
    type = "rag_evaluation"
    category = "retrieval"
    display_name = "Record RAG evaluation"
    description = ("Records its input (the answer) with the question and sources of a vector_retriever node as an "
                   "evaluation run of that collection (list, rate and summarise them under "
                   "/collections/{id}/evaluations), then passes the answer on. Latency: retrieval to answer.")
    params_schema = {"type": "object", "properties": {
        "retriever": {"type": "string", "description": "id of the vector_retriever node (default: the run's one)"}}}
    default_timeout_seconds = 30.0

    def configure(self, params: dict) -> None:
        self.retriever = text_param(params, "retriever", max_length=200)

    def _retrieval(self, ctx: NodeContext) -> dict:
        candidates = [ctx.outputs.get(self.retriever)] if self.retriever else list(ctx.outputs.values())
        for output in candidates:
            if isinstance(output, dict) and {"question", "documents", "collection_id"} <= output.keys():
                return output
        where = f"node {self.retriever!r}" if self.retriever else "node"
        raise NodeError(f"no vector_retriever output ({where}) before this node to evaluate")

    async def run(self, ctx: NodeContext) -> NodeResult:
        answer = as_text(ctx.input)
        retrieval = self._retrieval(ctx)
        channel, metadata = await _vectorstore(ctx)
        started = retrieval.get("retrieved_at")
        run = pb.EvaluationRun(
            query=retrieval["question"], response=answer,
            source_chunk_ids=[d.get("chunk_id", "") for d in retrieval["documents"] if isinstance(d, dict)],
            latency_ms=max(0.0, (time.time() - started) * 1000) if isinstance(started, int | float) else 0.0,
            token_count=len(answer.split()), execution_id=str(getattr(ctx.services, "execution_id", "")))
        try:
            await vectorstore_pb2_grpc.EvaluationServiceStub(channel).CreateEvaluationRun(
                pb.CreateEvaluationRunRequest(collection_id=retrieval["collection_id"], evaluation=run),
                metadata=metadata, timeout=SEARCH_SECONDS)
        except grpc.aio.AioRpcError as exc:
            raise NodeError(_failure(exc, retrieval["collection_id"])) from None
        return NodeResult(ctx.input)


async def _vectorstore(ctx: NodeContext) -> tuple:
    """The vectorstore's channel and the metadata to call it with: the caller's own token in a foreground run,
    so the vectorstore applies the caller's role; the executor acting for the run's organization in a
    background run (no caller is around to lend a token)."""
    channel = getattr(ctx.services, "vectorstore", None)
    if channel is None:
        raise NodeError("retrieval is not available here (no vectorstore configured)")
    metadata = getattr(ctx.services, "caller_metadata", None)
    if metadata:
        return channel, metadata
    credentials = getattr(ctx.services, "credentials", None)
    if credentials is None:
        raise NodeError("this run has no caller token and no service identity to search with")
    return channel, await credentials.acting_metadata()


def _struct(value: dict) -> struct_pb2.Struct:
    message = struct_pb2.Struct()
    message.update(value)
    return message


def _failure(exc: grpc.aio.AioRpcError, collection_id: str) -> str:
    code = exc.code()
    if code == grpc.StatusCode.NOT_FOUND:
        return f"collection {collection_id} not found in your organization"
    if code in (grpc.StatusCode.INVALID_ARGUMENT, grpc.StatusCode.FAILED_PRECONDITION,
                grpc.StatusCode.PERMISSION_DENIED):
        return f"the search was refused: {exc.details()}"
    return f"the vectorstore did not answer ({code.name}); try again"
