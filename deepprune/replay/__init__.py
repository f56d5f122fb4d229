"""The replay: online methods run over saved trace pools (``harness``, ``methods``, ``ledger``) and the
commands that report them (``prune``, ``compare``, ``reproduce``, ``figures``)."""
