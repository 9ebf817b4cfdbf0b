"""gRPC handlers of the vectorstore service: proto -> domain call -> proto. No SQL, no rules here."""

from google.protobuf import empty_pb2

from agentic.vectorstore.v1 import vectorstore_pb2 as pb
from agentic.vectorstore.v1 import vectorstore_pb2_grpc
from services.common import caller as callers
from services.common.errors import InvalidArgument
from services.vectorstore import convert
from services.vectorstore.collections import UPDATABLE, Collections
from services.vectorstore.documents import Documents, UploadHeader
from services.vectorstore.evaluations import Evaluations
from services.vectorstore.search import Search


class CollectionServicer(vectorstore_pb2_grpc.CollectionServiceServicer):
    def __init__(self, collections: Collections):
        self.collections = collections

    async def CreateCollection(self, request, context):
        fields = convert.collection_fields(request.collection)
        return convert.collection(await self.collections.create(callers.current(), fields["name"],
                                                                fields["description"], fields["embedding"],
                                                                fields["chunking"]))

    async def GetCollection(self, request, context):
        return convert.collection(await self.collections.get(callers.current(), request.id))

    async def ListCollections(self, request, context):
        rows, token = await self.collections.list(callers.current(), request.page_size, request.page_token)
        return pb.ListCollectionsResponse(collections=[convert.collection(r) for r in rows], next_page_token=token)

    async def UpdateCollection(self, request, context):
        c = request.collection
        paths = list(request.update_mask.paths)
        if not paths:  # AIP-134: no mask means every field the client set
            paths = [p for p in UPDATABLE if (p in ("name", "description") and getattr(c, p)) or
                     (p in ("embedding", "chunking") and c.HasField(p))]
        row = await self.collections.update(callers.current(), c.id, convert.collection_fields(c), paths, c.etag)
        return convert.collection(row)

    async def DeleteCollection(self, request, context):
        await self.collections.delete(callers.current(), request.id, request.etag)
        return empty_pb2.Empty()

    async def ListEmbeddingModels(self, request, context):
        return convert.embedding_models(*await self.collections.embedding_models(callers.current()))


class DocumentServicer(vectorstore_pb2_grpc.DocumentServiceServicer):
    def __init__(self, documents: Documents):
        self.documents = documents

    async def CreateDocument(self, request, context):
        return convert.document(await self.documents.create_from_text(
            callers.current(), request.collection_id, request.name, request.text, request.content_type,
            convert.struct_to_dict(request.metadata, "metadata")))

    async def ImportDocument(self, request, context):
        return convert.document(await self.documents.import_url(
            callers.current(), request.collection_id, request.url, request.name,
            convert.struct_to_dict(request.metadata, "metadata")))

    async def UploadDocument(self, request_iterator, context):
        messages = aiter(request_iterator)
        first = await anext(messages, None)
        if first is None or first.WhichOneof("part") != "header":
            raise InvalidArgument("header", "the first message must be the upload header")
        header = UploadHeader(first.header.collection_id, first.header.name, first.header.content_type,
                              convert.struct_to_dict(first.header.metadata, "header.metadata"), first.header.filename)

        async def data():
            async for message in messages:
                if message.WhichOneof("part") != "data":
                    raise InvalidArgument("data", "only the first message may be a header")
                yield message.data

        return convert.document(await self.documents.upload(callers.current(), header, data()))

    async def GetDocument(self, request, context):
        return convert.document(await self.documents.get(callers.current(), request.collection_id, request.id))

    async def ListDocuments(self, request, context):
        status = convert.STATUS_NAME.get(request.status, "") if request.status else ""
        if request.status and not status:
            raise InvalidArgument("status", "unknown document status")
        rows, token = await self.documents.list(callers.current(), request.collection_id, status, request.page_size,
                                                request.page_token)
        return pb.ListDocumentsResponse(documents=[convert.document(r) for r in rows], next_page_token=token)

    async def DeleteDocument(self, request, context):
        await self.documents.delete(callers.current(), request.collection_id, request.id)
        return empty_pb2.Empty()

    async def ReingestDocument(self, request, context):
        return convert.document(await self.documents.reingest(callers.current(), request.collection_id, request.id))

    async def ListChunks(self, request, context):
        rows, token = await self.documents.chunks(callers.current(), request.collection_id, request.document_id,
                                                  request.page_size, request.page_token)
        return pb.ListChunksResponse(chunks=[convert.chunk(r) for r in rows], next_page_token=token)


class SearchServicer(vectorstore_pb2_grpc.SearchServiceServicer):
    def __init__(self, search: Search):
        self.search = search

    async def Search(self, request, context):
        mode = convert.MODE.get(request.mode)
        if mode is None:
            raise InvalidArgument("mode", "unknown search mode")
        results, strategy = await self.search.search(
            callers.current(), request.collection_id, request.query, mode, request.top_k, request.min_score,
            convert.optional_struct(request, "filter"), request.ef_search)
        return pb.SearchResponse(results=[convert.search_result(row, score) for row, score in results],
                                 strategy=strategy)


class EvaluationServicer(vectorstore_pb2_grpc.EvaluationServiceServicer):
    def __init__(self, evaluations: Evaluations):
        self.evaluations = evaluations

    async def CreateEvaluationRun(self, request, context):
        return convert.evaluation(await self.evaluations.record(callers.current(), request.collection_id,
                                                                convert.evaluation_fields(request.evaluation)))

    async def ListEvaluationRuns(self, request, context):
        rows, token = await self.evaluations.list(callers.current(), request.collection_id, request.page_size,
                                                  request.page_token)
        return pb.ListEvaluationRunsResponse(evaluations=[convert.evaluation(r) for r in rows], next_page_token=token)

    async def SetEvaluationFeedback(self, request, context):
        return convert.evaluation(await self.evaluations.feedback(callers.current(), request.collection_id,
                                                                  request.id, request.feedback))

    async def GetEvaluationSummary(self, request, context):
        return convert.summary(await self.evaluations.summary(callers.current(), request.collection_id))
