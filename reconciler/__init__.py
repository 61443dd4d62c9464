"""reconciler: make GuardDuty and Security Hub membership match a manifest kept in git.

The pipeline reads from the package listing: ``manifest`` → ``observe`` → ``diff`` → ``plan``
→ ``apply`` → ``verify`` → ``report``, driven by ``cli``. AWS calls live in ``reconciler.aws``.
The local AWS-compatible sandbox is a distribution of its own (``sandbox/``), reached only
through ``reconciler.sandboxing``'s entry-point lookup.
"""

__version__ = "0.1.0"
