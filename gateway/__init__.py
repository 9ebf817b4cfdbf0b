"""The REST + SSE gateway: transcodes HTTP/JSON to the services' gRPC APIs from their proto annotations."""
