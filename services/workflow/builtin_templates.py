"""Templates shipped with the service. Ids are stable (`builtin:<slug>`) so links to them keep working."""

from dataclasses import dataclass


@dataclass(frozen=True)
class BuiltinTemplate:
    slug: str
    name: str
    description: str
    category: str
    flow_data: dict

    @property
    def id(self) -> str:
        return f"builtin:{self.slug}"


def _graph(nodes: list[tuple], edges: list[tuple]) -> dict:
    """nodes: (id, type, data); edges: (source, target[, sourceHandle]). Positions laid out left to right."""
    return {
        "nodes": [{"id": i, "type": t, "position": {"x": 220 * n, "y": 80 * (n % 2)}, "data": d}
                  for n, (i, t, d) in enumerate(nodes)],
        "edges": [{"id": f"e{n}", "source": e[0], "target": e[1],
                   **({"sourceHandle": e[2]} if len(e) > 2 else {})} for n, e in enumerate(edges)],
    }


LLM = {"model": "offline-echo", "credential": {"service_type": "openai", "name": "default"}}

BUILTIN_TEMPLATES = [
    BuiltinTemplate("simple-chat", "Simple chat", "A single chat model answering the user's message.", "chat", _graph(
        [("start", "start", {}), ("chat", "chat_model", {**LLM, "system_prompt": "You are a helpful assistant."}),
         ("end", "end", {})],
        [("start", "chat"), ("chat", "end")])),
    BuiltinTemplate("chat-with-memory", "Chat with memory",
                    "A chat model that remembers the conversation thread.", "chat", _graph(
        [("start", "start", {}), ("memory", "chat_memory", {"window": 20}),
         ("chat", "chat_model", {**LLM, "system_prompt": "You are a helpful assistant."}), ("end", "end", {})],
        [("start", "memory"), ("memory", "chat"), ("chat", "end")])),
    BuiltinTemplate("rag-qa", "RAG question answering",
                    "Retrieve passages from a collection and answer with citations.", "retrieval", _graph(
        [("start", "start", {}), ("retrieve", "vector_retriever", {"collection_id": "<your collection id>", "top_k": 4}),
         ("prompt", "template", {"template": "Answer from the context.\n\n{context}\n\nQuestion: {question}"}),
         ("chat", "chat_model", LLM), ("record", "rag_evaluation", {"retriever": "retrieve"}), ("end", "end", {})],
        [("start", "retrieve"), ("retrieve", "prompt"), ("prompt", "chat"), ("chat", "record"), ("record", "end")])),
    BuiltinTemplate("tool-agent", "Tool-using agent",
                    "An agent that can search the web, call HTTP APIs and calculate.", "agents", _graph(
        [("start", "start", {}), ("agent", "agent", {**LLM, "tools": ["web_search", "http_request", "calculator"],
                                                     "max_steps": 8}),
         ("end", "end", {})],
        [("start", "agent"), ("agent", "end")])),
    BuiltinTemplate("summarize-document", "Summarize a document",
                    "Load a web page, split it and summarize it.", "documents", _graph(
        [("start", "start", {}), ("load", "web_loader", {"url": "https://example.com"}),
         ("split", "text_splitter", {"chunk_size": 1000, "chunk_overlap": 100}),
         ("summarize", "summarize", {**LLM, "strategy": "map_reduce"}), ("end", "end", {})],
        [("start", "load"), ("load", "split"), ("split", "summarize"), ("summarize", "end")])),
    BuiltinTemplate("branching-router", "Branching router",
                    "Route a request to one of two specialised prompts by a condition.", "control", _graph(
        [("start", "start", {}), ("route", "condition", {"expression": "'refund' in input.lower()"}),
         ("billing", "chat_model", {**LLM, "system_prompt": "You handle billing and refunds."}),
         ("general", "chat_model", {**LLM, "system_prompt": "You answer general questions."}),
         ("merge", "merge", {}), ("end", "end", {})],
        [("start", "route"), ("route", "billing", "true"), ("route", "general", "false"), ("billing", "merge"),
         ("general", "merge"), ("merge", "end")])),
]

BY_ID = {t.id: t for t in BUILTIN_TEMPLATES}
