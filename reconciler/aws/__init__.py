"""Everything that talks to AWS: sessions, the rate limiter, and one adapter per service.

This is the only package (with the sandbox) that imports boto3 or botocore. Adapters turn
``botocore.exceptions.ClientError`` into :mod:`reconciler.errors` types, so no library error
escapes it.

Its modules form layers, with no import cycle (``tests/architecture``): ``operations`` (the
declared operations, as data) and ``ratelimit`` at the bottom; ``session`` (clients and their
hooks) above them; the adapters (``base``, ``guardduty``, ``securityhub``, ``members``,
``organizations``) above it, each declaring the operations it calls; ``registry`` above the
adapters, gathering their declarations and naming each service's adapter; ``wiring`` and
``iam`` on top, reading the registry.
"""
