"""reconciler: make AWS security services' membership match a manifest kept in git.

The pipeline reads from the package listing: ``manifest`` → ``observe`` → ``diff`` → ``plan``
→ ``apply`` → ``verify`` → ``report``, driven by ``cli``. Each member service is a plug-in
(``reconciler.services``: one module per service, one registry). AWS calls live in
``reconciler.aws``. The local AWS-compatible sandbox is a distribution of its own
(``sandbox/``), reached only through ``reconciler.sandboxing``'s entry-point lookup.
"""

__version__ = "0.1.0"
