import socket

import pytest


@pytest.fixture(scope="session")
def local_server(tmp_path_factory):
    """The real llama.cpp server with the packaged Gemma 3 270M, on a free port; stopped by PID at the end."""
    from deepprune.engine.server import LocalServer

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    log = tmp_path_factory.mktemp("server") / "server.log"
    with LocalServer(port=port, n_ctx=2048, log=str(log)) as server:
        yield server
