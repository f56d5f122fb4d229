"""A drop-in pruning proxy: an OpenAI-compatible server in front of the user's own server.

    deepprune proxy --upstream http://127.0.0.1:8000/v1 --port 8788

Every ``n > 1`` request is served by one of the live engine's methods (``auto``: the recipe chosen
out of sample; DeepPrune, Parallel-Probe, short-m@k, DeepConf, ASC, ConSol, ESC, cons@N) over n
traces generated upstream; ``n = 1`` passes through. Existing clients (the ``openai`` SDK,
lm-evaluation-harness, agent frameworks) change only their base URL. vLLM's split:
:mod:`~deepprune.proxy.routes` (what each URL does, auth, request ids),
:mod:`~deepprune.proxy.app` (admission and serving: the one call into
:mod:`deepprune.engine.live`), :mod:`~deepprune.proxy.core` (the pure request/response
translation), beside :mod:`~deepprune.proxy.upstream` (bounded upstream slots),
:mod:`~deepprune.proxy.metrics` (counters) and :mod:`~deepprune.proxy.job` (settings, uvicorn).
"""
