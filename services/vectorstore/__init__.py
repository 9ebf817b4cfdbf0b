"""The vectorstore service: collections, documents, chunking, embeddings, pgvector search."""
