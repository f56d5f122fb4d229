"""The live engine: traces from a real model server.

- ``live``: the one front door (``prepare`` a run's settings, ``solve_one`` a problem); ``solve``
  (records, resume, the table) and the proxy call it.
- ``run``: what every live method shares (the problem, its seeds, trace and probe requests, the
  vote); ``methods`` (cons@N, cons@k, DeepPrune and the registry), ``early_stop`` (DeepConf,
  Parallel-Probe, short-m@k) and ``waves`` (ASC, ConSol, ESC in parallel waves) are the methods;
  ``ledger`` what each spent; ``solve_config`` their settings; ``recipe`` the settings ``auto`` runs.
- ``backends``: the server (OpenAI-compatible, vLLM in-process) or a replayed pool.
- ``generate`` builds pools; ``problems`` holds what ``generate`` and ``solve`` share (records,
  seeds); ``server`` and ``llama_app`` run the local llama.cpp server.
"""
