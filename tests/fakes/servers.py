"""uvicorn servers for tests."""

import contextlib

import uvicorn


class QuietServer(uvicorn.Server):
    """A uvicorn server that leaves SIGTERM alone: tests run several in one process. sse-starlette finds "the"
    server through the SIGTERM handler and ends every open stream once that server is stopping, so a stopped
    test server left behind as the handler would cut every later stream short."""

    @contextlib.contextmanager
    def capture_signals(self):
        yield
