"""The live engine: traces from a real model server. ``backends`` talk to the server, ``generate``
builds pools, ``solve`` orchestrates live pruning (``methods``, ``ledger``), ``problems`` holds what
``generate`` and ``solve`` share, ``server`` starts the local llama.cpp server."""
