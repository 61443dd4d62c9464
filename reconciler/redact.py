"""Keep secrets and personal data out of every log line and every printed plan.

Member emails are root-account addresses: we show ``a***@example.com`` unless the user asks
for the full text (``--show-emails``). Credentials are never logged on purpose; the scrubber
is the second line of defence, for an AWS key that slips into an error message.
"""

from __future__ import annotations

import re

EMAIL = re.compile(
    r"(?<![\w.+-])([A-Za-z0-9._%+\-])[A-Za-z0-9._%+\-]*@([A-Za-z0-9.\-]+\.[A-Za-z]{2,})"
)
ACCESS_KEY = re.compile(r"\b(?:AKIA|ASIA|AROA|AIDA)[A-Z0-9]{12,}\b")
# Secret keys are 40 characters of base64; session tokens are long base64 runs.
SECRET_LIKE = re.compile(r"(?<![A-Za-z0-9/+=])[A-Za-z0-9/+=]{40}(?![A-Za-z0-9/+=])")
LONG_TOKEN = re.compile(r"[A-Za-z0-9/+=]{100,}")


def mask_emails(text: str) -> str:
    return EMAIL.sub(r"\1***@\2", text)


def scrub_secrets(text: str) -> str:
    text = ACCESS_KEY.sub("[REDACTED-ACCESS-KEY]", text)
    text = LONG_TOKEN.sub("[REDACTED-TOKEN]", text)
    return SECRET_LIKE.sub("[REDACTED-SECRET]", text)


def clean(text: str, *, mask: bool = True) -> str:
    text = scrub_secrets(text)
    return mask_emails(text) if mask else text
