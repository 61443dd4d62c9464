"""reconciler: make AWS security services' membership match a manifest kept in git.

The pipeline reads from the package listing: ``manifest`` → ``observe`` → ``diff`` → ``plan``
→ ``apply`` → ``verify`` → ``report``, driven by ``cli``. Each member service is a plug-in
(``reconciler.services``: one module per service, one registry). AWS calls live in
``reconciler.aws``;
``reconciler.sandbox`` is a local AWS-compatible endpoint for the member APIs.
"""

__version__ = "0.1.0"
