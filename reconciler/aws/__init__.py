"""Everything that talks to AWS: sessions, the rate limiter, and one adapter per service.

This is the only package (with the sandbox) that imports boto3 or botocore. Adapters turn
``botocore.exceptions.ClientError`` into :mod:`reconciler.errors` types, so no library error
escapes it.
"""
