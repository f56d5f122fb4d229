"""`deepprune serve` as a user runs it: a key-protected server on a chosen host and port, quiet by
default, and a SIGTERM that stops its llama.cpp child (the port is free again)."""

import json
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request

import pytest

from deepprune.engine.server import wait_ready

# one test worker runs every llama.cpp server (no two compete for the cores)
pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("llama")]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _port_open(port: int) -> bool:
    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) == 0


def _port_freed(port: int, limit: float = 30.0) -> bool:
    """Whether nothing listens on ``port`` any more within ``limit`` seconds."""
    deadline = time.monotonic() + limit
    while _port_open(port) and time.monotonic() < deadline:
        time.sleep(0.5)
    return not _port_open(port)


def test_serve_takes_a_key_stays_quiet_and_stops_on_sigterm(tmp_path):
    port = _free_port()
    log = tmp_path / "llama.log"
    cmd = [sys.executable, "-m", "deepprune.cli", "serve", "--port", str(port), "--host", "127.0.0.1",
           "--api-key", "sekret", "--served-model-name", "my-model", "--n-ctx", "512", "--log", str(log)]  # fmt: skip
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        wait_ready(f"http://127.0.0.1:{port}/v1", 240, proc, api_key="sekret")
        with pytest.raises(urllib.error.HTTPError) as e:  # no key: refused
            urllib.request.urlopen(f"http://127.0.0.1:{port}/v1/models", timeout=10)
        assert e.value.code == 401
        req = urllib.request.Request(
            f"http://127.0.0.1:{port}/v1/models", headers={"Authorization": "Bearer sekret"}
        )
        with urllib.request.urlopen(req, timeout=10) as r:
            assert [m["id"] for m in json.load(r)["data"]] == ["my-model"]
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert _port_freed(port), "the llama.cpp child still holds the port after SIGTERM"
    assert proc.returncode == 0
    assert f"serving my-model at http://127.0.0.1:{port}/v1" in out
    assert (
        len((out + err).splitlines()) < 10
    )  # llama.cpp's log lines went to --log, not the terminal
    assert log.stat().st_size > 0


def test_serve_names_a_missing_model_in_one_line():
    r = subprocess.run([sys.executable, "-m", "deepprune.cli", "serve", "--model", "/no/such.gguf"],
                       capture_output=True, text=True, timeout=60)  # fmt: skip
    assert (
        r.returncode == 2
        and r.stderr.strip() == "deepprune: error: /no/such.gguf: no such GGUF file"
    )


def test_a_killed_serve_takes_its_child_along_and_a_port_in_use_is_one_line(tmp_path):
    """kill -9 of `deepprune serve`: the llama.cpp child dies with it (the port is free again); while it
    runs, a second serve on its port is refused at once, and the key is on no command line."""
    port = _free_port()
    cmd = [sys.executable, "-m", "deepprune.cli", "serve", "--port", str(port), "--n-ctx", "512",
           "--api-key", "sekret-9", "--log", str(tmp_path / "llama.log")]  # fmt: skip
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_ready(f"http://127.0.0.1:{port}/v1", 240, proc, api_key="sekret-9")
        children = subprocess.run(
            ["pgrep", "-P", str(proc.pid)], capture_output=True, text=True
        ).stdout.split()
        assert children
        for pid in children:  # `ps` shows every command line to every user: never the key
            with open(f"/proc/{pid}/cmdline", "rb") as fh:
                assert b"sekret-9" not in fh.read()
        second = [sys.executable, "-m", "deepprune.cli", "serve", "--port", str(port)]
        again = subprocess.run(second, capture_output=True, text=True, timeout=60)
        assert again.returncode == 2 and f"--port {port}: cannot listen" in again.stderr, (
            again.stderr
        )
        proc.kill()  # SIGKILL: no handler runs in serve
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert _port_freed(port), "the llama.cpp child outlived its killed parent"
