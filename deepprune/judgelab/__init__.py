"""The judge lab: training judges and measuring them (what :mod:`deepprune.judges` does not do).

:mod:`deepprune.judges` scores a pair at inference time; this package trains the judges
(``train_configs``, ``crossencoder_training``, ``feature_training``), fits calibrations
(``calibrate``), evaluates them (``grid``, ``crossfit``, ``ablation``) and scores pair files
resumably (``scoring``). Nothing in ``judges`` imports from here.
"""
