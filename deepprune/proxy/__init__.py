"""A drop-in pruning proxy: an OpenAI-compatible server in front of the user's own server.

    deepprune proxy --upstream http://127.0.0.1:8000/v1 --port 8788 --method deepprune

Every ``n > 1`` request is served by one of the live engine's methods (DeepPrune, Parallel-Probe,
short-m@k, DeepConf, cons@N) over n traces generated upstream; ``n = 1`` passes through. Existing
clients (the ``openai`` SDK, lm-evaluation-harness, agent frameworks) change only their base URL.
:mod:`deepprune.proxy.core` turns a request into a problem and a method and the result into a
response (pure); :mod:`deepprune.proxy.app` is the ASGI server (FastAPI on uvicorn).
"""
