"""One small HTTP server that speaks the wire formats of the model providers and search APIs the executor
uses, so their real client libraries can be tested without the network.

Paths: /openai/v1/chat/completions, /anthropic/v1/messages, /google/.../models/<m>:(stream)GenerateContent,
/ollama/api/chat, /tavily/search, /brave/res/v1/web/search, and /site/... for the HTTP tool.

Answers follow the last user message:
- FAIL401 / FAIL500: that status; FAIL429: 429 with Retry-After: 1; FLAKY429: 429 once per text, then an
  answer; SLOW: waits 3 s before answering.
- a tool forced by tool_choice (Anthropic structured output): a call filling its schema;
- tools offered and none called yet: it calls each offered tool whose name is in the message (calculator
  with {"expression": "6 * 7"}, current_time with {"timezone": "UTC"}, others with {"input": "fake"});
- after tool results: "Tool said: <results joined by '; '>";
- JSON mode or a JSON schema asked for: an object ({"answer": <text>}, or one filling the schema);
- otherwise "Hello from <provider>: <message>".
Usage: input tokens = 7, output tokens = words of the answer. Every request is kept in `server.requests`
as (provider, headers, body, path) so tests can check what the client sent (the API key, the parameters).
"""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass, field

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, RedirectResponse, Response, StreamingResponse
from starlette.routing import Route

from tests.fakes.servers import QuietServer

INPUT_TOKENS = 7


@dataclass
class Reply:
    text: str = ""
    tool_calls: list[tuple[str, dict]] = field(default_factory=list)

    @property
    def output_tokens(self) -> int:
        return len(self.text.split()) + len(self.tool_calls)


def _words(text: str) -> list[str]:
    parts = text.split(" ")
    return [p + (" " if i < len(parts) - 1 else "") for i, p in enumerate(parts)]


def _args(name: str) -> dict:
    return {"calculator": {"expression": "6 * 7"}, "current_time": {"timezone": "UTC"}}.get(name, {"input": "fake"})


def _from_schema(schema: dict, text: str):
    kind = schema.get("type")
    if kind == "object":
        return {k: _from_schema(v, text) for k, v in schema.get("properties", {}).items()}
    if kind == "array":
        return [_from_schema(schema.get("items", {}), text)]
    return {"integer": 42, "number": 4.2, "boolean": True}.get(kind, text)


class FakeProviders:
    def __init__(self):
        self.requests: list[tuple[str, dict, dict, str]] = []
        self.failed_once: set[str] = set()
        self.app = Starlette(routes=[
            Route("/openai/v1/chat/completions", self.openai, methods=["POST"]),
            Route("/anthropic/v1/messages", self.anthropic, methods=["POST"]),
            Route("/ollama/api/chat", self.ollama, methods=["POST"]),
            Route("/tavily/search", self.tavily, methods=["POST"]),
            Route("/brave/res/v1/web/search", self.brave, methods=["GET"]),
            Route("/site/{page:path}", self.site, methods=["GET", "POST", "PUT", "DELETE"]),
            Route("/google/{rest:path}", self.google, methods=["POST"]),
        ])

    # --- shared -------------------------------------------------------------------------------------------
    async def _fault(self, text: str) -> Response | None:
        for status in (401, 500):
            if f"FAIL{status}" in text:
                return JSONResponse({"error": {"message": f"fake failure {status}", "type": "fake", "code": status}},
                                    status_code=status)
        if "FAIL429" in text or ("FLAKY429" in text and text not in self.failed_once):
            self.failed_once.add(text)
            return JSONResponse({"error": {"message": "slow down", "type": "rate_limit", "code": 429}},
                                status_code=429, headers={"retry-after": "1"})
        if "SLOW" in text:
            await asyncio.sleep(3)
        return None

    @staticmethod
    def _reply(provider: str, text: str, tools: list[str], results: list[str], schema: dict | None,
               json_mode: bool) -> Reply:
        if results:
            return Reply(f"Tool said: {'; '.join(results)}")
        calls = [(name, _args(name)) for name in tools if name in text]
        if calls:
            return Reply("", calls)
        if schema is not None:
            return Reply(json.dumps(_from_schema(schema, text)))
        if json_mode:
            return Reply(json.dumps({"answer": text}))
        return Reply(f"Hello from {provider}: {text}")

    async def _body(self, provider: str, request: Request) -> dict:
        body = await request.json() if request.method == "POST" else dict(request.query_params)
        self.requests.append((provider, dict(request.headers), body, request.url.path))
        return body

    # --- OpenAI chat completions -------------------------------------------------------------------------
    async def openai(self, request: Request) -> Response:
        body = await self._body("openai", request)
        messages = body["messages"]
        text = next((m["content"] for m in reversed(messages) if m["role"] == "user"), "")
        text = text if isinstance(text, str) else " ".join(p.get("text", "") for p in text)
        if fault := await self._fault(text):
            return fault
        results = [m["content"] for m in messages if m["role"] == "tool"]
        fmt = body.get("response_format") or {}
        schema = fmt.get("json_schema", {}).get("schema") if fmt.get("type") == "json_schema" else None
        reply = self._reply("openai", text, [t["function"]["name"] for t in body.get("tools", [])], results, schema,
                            fmt.get("type") == "json_object")
        calls = [{"id": f"call_{n}", "type": "function", "function": {"name": name, "arguments": json.dumps(args)}}
                 for n, (name, args) in enumerate(reply.tool_calls)]
        usage = {"prompt_tokens": INPUT_TOKENS, "completion_tokens": reply.output_tokens,
                 "total_tokens": INPUT_TOKENS + reply.output_tokens}
        finish = "tool_calls" if calls else "stop"
        base = {"id": "chatcmpl-fake", "created": 1700000000, "model": body["model"]}
        if not body.get("stream"):
            message = {"role": "assistant", "content": reply.text or None, **({"tool_calls": calls} if calls else {})}
            return JSONResponse({**base, "object": "chat.completion", "usage": usage,
                                 "choices": [{"index": 0, "message": message, "finish_reason": finish}]})

        def chunk(delta: dict, finish_reason=None, **extra) -> str:
            data = {**base, "object": "chat.completion.chunk",
                    "choices": [{"index": 0, "delta": delta, "finish_reason": finish_reason}], **extra}
            return f"data: {json.dumps(data)}\n\n"

        async def events():
            yield chunk({"role": "assistant", "content": ""})
            for word in _words(reply.text) if reply.text else []:
                yield chunk({"content": word})
            for n, call in enumerate(calls):
                yield chunk({"tool_calls": [{"index": n, **call}]})
            yield chunk({}, finish)
            if (body.get("stream_options") or {}).get("include_usage"):
                yield f"data: {json.dumps({**base, 'object': 'chat.completion.chunk', 'choices': [], 'usage': usage})}\n\n"
            yield "data: [DONE]\n\n"

        return StreamingResponse(events(), media_type="text/event-stream")

    # --- Anthropic messages ------------------------------------------------------------------------------
    async def anthropic(self, request: Request) -> Response:
        body = await self._body("anthropic", request)
        text, results = "", []
        for message in body["messages"]:
            content = message["content"]
            blocks = [{"type": "text", "text": content}] if isinstance(content, str) else content
            for block in blocks:
                if block.get("type") == "tool_result":
                    inner = block.get("content")
                    results.append(inner if isinstance(inner, str) else " ".join(b.get("text", "") for b in inner))
                elif block.get("type") == "text" and message["role"] == "user":
                    text = block["text"]
        if fault := await self._fault(text):
            return fault
        forced = (body.get("tool_choice") or {}).get("name")
        if forced and not results:  # structured output through a forced tool: fill its schema
            schema = next(t["input_schema"] for t in body["tools"] if t["name"] == forced)
            reply = Reply("", [(forced, _from_schema(schema, text))])
        else:
            reply = self._reply("anthropic", text, [t["name"] for t in body.get("tools", [])], results, None, False)
        content = ([{"type": "text", "text": reply.text}] if reply.text else []) + [
            {"type": "tool_use", "id": f"toolu_{n}", "name": name, "input": args}
            for n, (name, args) in enumerate(reply.tool_calls)]
        stop = "tool_use" if reply.tool_calls else "end_turn"
        message = {"id": "msg_fake", "type": "message", "role": "assistant", "model": body["model"],
                   "stop_reason": stop, "stop_sequence": None}
        if not body.get("stream"):
            return JSONResponse({**message, "content": content,
                                 "usage": {"input_tokens": INPUT_TOKENS, "output_tokens": reply.output_tokens}})

        def event(name: str, data: dict) -> str:
            return f"event: {name}\ndata: {json.dumps({'type': name, **data})}\n\n"

        async def events():
            yield event("message_start", {"message": {**message, "content": [], "stop_reason": None,
                                                      "usage": {"input_tokens": INPUT_TOKENS, "output_tokens": 1}}})
            for index, block in enumerate(content):
                if block["type"] == "text":
                    yield event("content_block_start", {"index": index, "content_block": {"type": "text", "text": ""}})
                    for word in _words(block["text"]):
                        yield event("content_block_delta", {"index": index,
                                                            "delta": {"type": "text_delta", "text": word}})
                else:
                    yield event("content_block_start", {"index": index, "content_block": {**block, "input": {}}})
                    yield event("content_block_delta", {"index": index, "delta": {
                        "type": "input_json_delta", "partial_json": json.dumps(block["input"])}})
                yield event("content_block_stop", {"index": index})
            yield event("message_delta", {"delta": {"stop_reason": stop, "stop_sequence": None},
                                          "usage": {"input_tokens": INPUT_TOKENS, "output_tokens": reply.output_tokens}})
            yield event("message_stop", {})

        return StreamingResponse(events(), media_type="text/event-stream")

    # --- Google Gemini -----------------------------------------------------------------------------------
    async def google(self, request: Request) -> Response:
        rest = request.path_params["rest"]
        body = await self._body("google", request)
        text, results = "", []
        for content in body.get("contents", []):
            for part in content.get("parts", []):
                if "functionResponse" in part:
                    results.append(json.dumps(part["functionResponse"].get("response", {})))
                elif "text" in part and content.get("role", "user") == "user":
                    text = part["text"]
        if fault := await self._fault(text):
            return fault
        tools = [d["name"] for t in body.get("tools", []) for d in t.get("functionDeclarations", [])]
        config = body.get("generationConfig", {})
        schema = config.get("responseJsonSchema") or config.get("responseSchema")
        reply = self._reply("google", text, tools, results, schema,
                            config.get("responseMimeType") == "application/json")
        usage = {"promptTokenCount": INPUT_TOKENS, "candidatesTokenCount": reply.output_tokens,
                 "totalTokenCount": INPUT_TOKENS + reply.output_tokens}

        def response(parts: list, final: bool) -> dict:
            candidate = {"content": {"role": "model", "parts": parts}, "index": 0}
            if final:
                candidate["finishReason"] = "STOP"
            return {"candidates": [candidate], "usageMetadata": usage, "modelVersion": "fake"}

        calls = [{"functionCall": {"name": name, "args": args}} for name, args in reply.tool_calls]
        if rest.endswith(":generateContent"):
            return JSONResponse(response(([{"text": reply.text}] if reply.text else []) + calls, True))

        async def events():
            words = _words(reply.text) if reply.text else []
            for word in words:
                yield f"data: {json.dumps(response([{'text': word}], False))}\r\n\r\n"
            yield f"data: {json.dumps(response(calls, True))}\r\n\r\n"

        return StreamingResponse(events(), media_type="text/event-stream")

    # --- Ollama --------------------------------------------------------------------------------------------
    async def ollama(self, request: Request) -> Response:
        body = await self._body("ollama", request)
        messages = body["messages"]
        text = next((m["content"] for m in reversed(messages) if m["role"] == "user"), "")
        if fault := await self._fault(text):
            return fault
        results = [m["content"] for m in messages if m["role"] == "tool"]
        fmt = body.get("format")
        reply = self._reply("ollama", text, [t["function"]["name"] for t in body.get("tools") or []], results,
                            fmt if isinstance(fmt, dict) else None, fmt == "json")
        base = {"model": body["model"], "created_at": "2026-01-01T00:00:00Z"}
        final = {**base, "message": {"role": "assistant", "content": ""}, "done": True, "done_reason": "stop",
                 "total_duration": 1, "load_duration": 1, "prompt_eval_count": INPUT_TOKENS, "prompt_eval_duration": 1,
                 "eval_count": reply.output_tokens, "eval_duration": 1}
        calls = [{"function": {"name": name, "arguments": args}} for name, args in reply.tool_calls]
        if not body.get("stream", True):
            final["message"] = {"role": "assistant", "content": reply.text, **({"tool_calls": calls} if calls else {})}
            return JSONResponse(final)

        async def lines():
            for word in _words(reply.text) if reply.text else []:
                yield json.dumps({**base, "message": {"role": "assistant", "content": word}, "done": False}) + "\n"
            if calls:
                yield json.dumps({**base, "message": {"role": "assistant", "content": "", "tool_calls": calls},
                                  "done": False}) + "\n"
            yield json.dumps(final) + "\n"

        return StreamingResponse(lines(), media_type="application/x-ndjson")

    # --- search APIs and a web site -----------------------------------------------------------------------
    async def tavily(self, request: Request) -> Response:
        body = await self._body("tavily", request)
        if request.headers.get("authorization") != "Bearer tvly-fake-key":
            return JSONResponse({"detail": {"error": "Unauthorized"}}, status_code=401)
        return JSONResponse({"query": body["query"], "results": [
            {"title": f"Result {n} for {body['query']}", "url": f"https://example.com/{n}", "content": f"About {n}",
             "score": 0.9} for n in range(1, body.get("max_results", 5) + 1)]})

    async def brave(self, request: Request) -> Response:
        await self._body("brave", request)
        if request.headers.get("x-subscription-token") != "brave-fake-key":
            return JSONResponse({"error": "unauthorized"}, status_code=401)
        query = request.query_params["q"]
        count = int(request.query_params.get("count", 5))
        return JSONResponse({"web": {"results": [
            {"title": f"Brave {n}: {query}", "url": f"https://example.org/{n}", "description": f"Page {n}"}
            for n in range(1, count + 1)]}})

    async def site(self, request: Request) -> Response:
        page = request.path_params["page"]
        await self._body("site", request) if request.method == "GET" else None
        if page == "redirect":
            return RedirectResponse(request.query_params["to"], status_code=302)
        if page == "big":
            return PlainTextResponse("x" * 200_000)
        if page == "echo":
            return JSONResponse({"method": request.method, "body": (await request.body()).decode(),
                                 "x_test": request.headers.get("x-test", "")})
        return PlainTextResponse(f"page {page}")


async def serve(app):
    """Start `app` on 127.0.0.1:<ephemeral> in this event loop; returns (url, server, task)."""
    import uvicorn

    config = uvicorn.Config(app, host="127.0.0.1", port=0, loop="asyncio", access_log=False, log_level="warning",
                            lifespan="off")
    server = QuietServer(config)
    task = asyncio.get_running_loop().create_task(server.serve())
    while not server.started:
        if task.done():
            task.result()
        await asyncio.sleep(0.01)
    return f"http://127.0.0.1:{server.servers[0].sockets[0].getsockname()[1]}", server, task
