"""The local llama.cpp server as ``deepprune serve`` runs it: llama-cpp-python's own OpenAI-compatible
app, plus the two routes production tooling expects of a model server.

- ``GET /health``: 200 once the model is loaded (``vllm-router`` and ``sglang-router`` wait for it
  on every worker; llama-cpp-python's app has no such route);
- ``GET /metrics``: Prometheus counters, named as llama.cpp's own C++ server names them
  (``llamacpp:tokens_predicted_total``: tokens the model generated, counted as the model
  samples them, end-of-generation tokens excluded as ``usage.completion_tokens`` excludes them,
  so it also counts tokens generated after a client closed its stream;
  ``llamacpp:prompt_tokens_total``: the prompt tokens of those requests, as ``usage.prompt_tokens``
  counts them; ``llamacpp:requests_total``: generation requests started).

    python -m deepprune.engine.llama_app --model MODEL.gguf --port 8765 ...   # llama_cpp.server's flags
"""

from __future__ import annotations

import os
import threading

COUNTERS = {"tokens_predicted": 0, "prompt_tokens": 0, "requests": 0}
_LOCK = threading.Lock()


def count_generation() -> None:
    """Wrap ``llama_cpp.Llama.generate`` so every sampled token (end-of-generation aside) is counted."""
    import llama_cpp

    original = llama_cpp.Llama.generate
    if getattr(original, "_deepprune_counted", False):
        return

    def generate(self, tokens, *args, **kwargs):
        with _LOCK:
            COUNTERS["requests"] += 1
            COUNTERS["prompt_tokens"] += len(tokens)  # what usage.prompt_tokens reports
        for token in original(self, tokens, *args, **kwargs):
            if not llama_cpp.llama_vocab_is_eog(self._model.vocab, token):
                with _LOCK:
                    COUNTERS["tokens_predicted"] += 1
            yield token

    generate._deepprune_counted = True
    llama_cpp.Llama.generate = generate


def metrics_text() -> str:
    """The Prometheus exposition of :data:`COUNTERS` (pure)."""
    with _LOCK:
        tok, req, prompt = (
            COUNTERS["tokens_predicted"],
            COUNTERS["requests"],
            COUNTERS["prompt_tokens"],
        )
    return ("# HELP llamacpp:tokens_predicted_total Tokens generated (end-of-generation tokens excluded).\n"
            "# TYPE llamacpp:tokens_predicted_total counter\n"
            f"llamacpp:tokens_predicted_total {tok}\n"
            "# HELP llamacpp:prompt_tokens_total Prompt tokens of the generation requests (usage.prompt_tokens).\n"
            "# TYPE llamacpp:prompt_tokens_total counter\n"
            f"llamacpp:prompt_tokens_total {prompt}\n"
            "# HELP llamacpp:requests_total Generation requests started.\n"
            "# TYPE llamacpp:requests_total counter\n"
            f"llamacpp:requests_total {req}\n")  # fmt: skip


def build_app(argv: list[str] | None = None):
    """llama-cpp-python's app from its own command-line flags, with ``/health`` and ``/metrics``."""
    import argparse

    from fastapi.responses import JSONResponse, PlainTextResponse
    from llama_cpp.server.app import create_app
    from llama_cpp.server.cli import add_args_from_model, parse_model_from_args
    from llama_cpp.server.settings import ModelSettings, ServerSettings, Settings

    from deepprune.engine.server import KEY_ENV

    parser = argparse.ArgumentParser(description="llama.cpp server with /health and /metrics")
    add_args_from_model(parser, Settings)
    args = parser.parse_args(argv)
    server = parse_model_from_args(ServerSettings, args)
    key = os.environ.get(KEY_ENV)
    if (
        key
    ):  # `deepprune serve --api-key`: handed over in the environment, never on the command line
        server.api_key = key
    count_generation()
    model = parse_model_from_args(ModelSettings, args)
    app = create_app(server_settings=server, model_settings=[model])
    health = {
        "status": "ok",
        "max_model_len": model.n_ctx,
    }  # the context, as vLLM's /models says it
    app.add_api_route("/health", lambda: JSONResponse(health), methods=["GET"])
    app.add_api_route("/metrics", lambda: PlainTextResponse(metrics_text()), methods=["GET"])
    return app, server


def main(argv: list[str] | None = None) -> None:
    import uvicorn

    app, server = build_app(argv)
    uvicorn.run(app, host=server.host, port=server.port, log_level="warning")


if __name__ == "__main__":
    main()
