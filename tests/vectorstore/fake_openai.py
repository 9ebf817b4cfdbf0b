"""A small OpenAI-compatible embeddings server for tests: deterministic vectors from the built-in hashing
embedder, the requests and bearer keys it saw, a model that waits until the test releases it, and optionally
one API key it requires (401 for any other, as OpenAI answers)."""

import http.server
import json
import threading

from services.vectorstore.embeddings import HashingEmbedder

SLOW_MODEL = "slow-embedder"


class _Handler(http.server.BaseHTTPRequestHandler):
    def do_POST(self):
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        authorization = self.headers.get("Authorization") or ""
        self.server.requests.append({"path": self.path, "authorization": authorization, **body})
        self.server.keys.append(authorization.removeprefix("Bearer "))
        if self.server.required_key and authorization != f"Bearer {self.server.required_key}":
            return self._reply(401, {"error": {"message": "Incorrect API key provided", "type": "invalid_request_error",
                                               "code": "invalid_api_key"}})
        if body["model"] == SLOW_MODEL:
            self.server.release.wait(30)
        if body["model"] == "broken":
            return self._reply(400, {"error": {"message": "no such model", "type": "invalid_request_error"}})
        size = body.get("dimensions") or 32
        vectors = HashingEmbedder(size).embed_sync(body["input"])
        self._reply(200, {"object": "list", "model": body["model"], "usage": {"prompt_tokens": 1, "total_tokens": 1},
                          "data": [{"object": "embedding", "index": i, "embedding": v.tolist()}
                                   for i, v in enumerate(vectors)]})

    def _reply(self, status: int, payload: dict) -> None:
        data = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args):
        pass


def serve(required_key: str = "") -> http.server.ThreadingHTTPServer:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    server.daemon_threads = True
    server.requests, server.keys, server.required_key = [], [], required_key
    server.release = threading.Event()
    server.url = f"http://127.0.0.1:{server.server_address[1]}/v1"
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server
