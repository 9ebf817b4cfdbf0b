"""Vectorstore service bootstrap: settings -> database (with pgvector's codec), auth channel and service
identity (token checks, revocations, credentials), embedders, ingestion -> servicers -> gRPC."""

from dataclasses import dataclass

import grpc
from sqlalchemy import event

from agentic.vectorstore.v1 import vectorstore_pb2, vectorstore_pb2_grpc
from services.common import outbound
from services.common.db import make_engine
from services.common.interceptor import ACTING, AUTHENTICATED
from services.common.server import GrpcService, start_server
from services.common.tokens import RevocationFeed, ServiceIdentity, TokenVerifier, grpc_jwks_fetcher
from services.vectorstore import servicer
from services.vectorstore.collections import Collections
from services.vectorstore.credentials import CredentialSecrets
from services.vectorstore.documents import Documents
from services.vectorstore.embeddings import Embedders
from services.vectorstore.evaluations import Evaluations
from services.vectorstore.ingestion import Ingestor
from services.vectorstore.repository import Database, register_vector
from services.vectorstore.search import Search
from services.vectorstore.settings import VectorstoreSettings

SERVICE_NAMES = [s.full_name for s in vectorstore_pb2.DESCRIPTOR.services_by_name.values()]
# Everything needs a verified caller; roles are checked in the domain. What the executor's retrieval nodes call
# also admits the executor acting for an organization (background runs have no caller token to lend).
ACTED = {"/agentic.vectorstore.v1.SearchService/Search", "/agentic.vectorstore.v1.EvaluationService/CreateEvaluationRun"}
POLICY = {f"/{s.full_name}/{m.name}": ACTING if f"/{s.full_name}/{m.name}" in ACTED else AUTHENTICATED
          for s in vectorstore_pb2.DESCRIPTOR.services_by_name.values() for m in s.methods}


@dataclass
class RunningVectorstore:
    grpc: GrpcService
    engine: object
    documents: Documents
    ingestor: Ingestor
    embedders: Embedders
    auth_channel: grpc.aio.Channel
    revocations: RevocationFeed

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.grpc.port}"

    async def close(self) -> None:
        await self.ingestor.stop()
        await self.revocations.stop()
        await self.auth_channel.close()
        await self.embedders.close()
        await self.engine.dispose()

    async def stop(self, grace: float) -> None:
        await self.grpc.stop(grace)
        await self.close()


def listen_url(url: str) -> str:
    """The database URL for a plain asyncpg connection (LISTEN)."""
    return url.replace("postgresql+asyncpg://", "postgresql://", 1)


async def start(settings: VectorstoreSettings) -> RunningVectorstore:
    engine = make_engine(settings.database_url, settings.db_pool_size, settings.db_pool_pre_ping)

    @event.listens_for(engine.sync_engine, "connect")
    def _vector_codec(dbapi_connection, _record) -> None:
        dbapi_connection.run_async(register_vector)

    db = Database(engine)
    auth_channel = grpc.aio.insecure_channel(settings.auth_address)
    identity = ServiceIdentity(auth_channel, "vectorstore", settings.service_secret)
    outbound_policy = outbound.Policy.of(settings.allow_private_networks, settings.outbound_allow)
    embedders = Embedders(settings.openai_base_url, settings.openai_api_key, settings.openai_timeout_seconds,
                          outbound_policy, CredentialSecrets(auth_channel, identity, settings.credential_cache_seconds),
                          settings.local_models_dir)
    collections = Collections(db, embedders)
    documents = Documents(db, collections, settings.max_upload_bytes, outbound_policy)
    search = Search(db, collections, embedders, settings.default_ef_search, settings.exact_search_max_chunks)
    ingestor = Ingestor(db, embedders, settings, listen_url(settings.database_url), outbound_policy)
    verifier = TokenVerifier(grpc_jwks_fetcher(auth_channel), settings.jwt_issuer, settings.jwt_audience)
    revocations = RevocationFeed(auth_channel, verifier, identity)
    revocations.start()

    def add_servicers(server) -> None:
        vectorstore_pb2_grpc.add_CollectionServiceServicer_to_server(servicer.CollectionServicer(collections), server)
        vectorstore_pb2_grpc.add_DocumentServiceServicer_to_server(servicer.DocumentServicer(documents), server)
        vectorstore_pb2_grpc.add_SearchServiceServicer_to_server(servicer.SearchServicer(search), server)
        vectorstore_pb2_grpc.add_EvaluationServiceServicer_to_server(
            servicer.EvaluationServicer(Evaluations(db, collections)), server)

    service = await start_server(settings, add_servicers, SERVICE_NAMES, POLICY, verifier)
    ingestor.start()
    return RunningVectorstore(service, engine, documents, ingestor, embedders, auth_channel, revocations)
