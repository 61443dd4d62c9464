"""reconciler: make GuardDuty and Security Hub membership match a manifest kept in git.

The pipeline reads from the package listing: ``manifest`` → ``observe`` → ``diff`` → ``plan``
→ ``apply`` → ``verify`` → ``report``, driven by ``cli``. AWS calls live in ``reconciler.aws``;
``reconciler.sandbox`` is a local AWS-compatible endpoint for the member APIs.
"""

__version__ = "0.1.0"
