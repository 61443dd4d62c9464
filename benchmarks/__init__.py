"""Benchmarks of ``reconcile`` against the local sandbox: calls, wall time, CPU and memory.

The reconciler's speed is bounded by AWS's per-account, per-region rate limit, not by our CPU,
so what these benchmarks measure is how close a run gets to that bound and how few calls it
spends: each scenario is run for real (``reconcile`` as a subprocess, against an in-process
sandbox that throttles and delays like AWS), the sandbox's calls log is counted, and the counts
and times are set against lower bounds computed from the scenario alone (:mod:`.bounds`).

``python -m benchmarks`` runs the full scenarios, ``python -m benchmarks --quick`` small ones
through the same code (what ``tests/benchmarks`` runs in CI). See docs/explanation/scale.md.
"""
