"""Everything that talks to AWS: sessions, the rate limiter, and one adapter for every service.

This is the only package (with the sandbox) that imports boto3 or botocore. Adapters turn
``botocore.exceptions.ClientError`` into :mod:`reconciler.errors` types, so no library error
escapes it.

No module here names a member service: what differs between them is declared in their specs
(:mod:`reconciler.services`), which the adapters read. Its modules form layers, with no import
cycle (``tests/architecture``): ``ratelimit`` at the bottom; ``session`` (clients and their
hooks) above it; the adapters (``base``: the administrator side of every service,
``members``: the member side, ``organizations``) above it; ``registry`` above the adapters,
gathering the declared operations; ``wiring`` and ``iam`` on top, reading the registry.
"""
