"""Keep secrets and personal data out of every log line and every printed plan.

Member emails are root-account addresses: we show ``a***#5e0c1f@example.com`` unless the user
asks for the full text (``--show-emails``): the first character and the domain, and in place of
the rest a short digest of the whole address (the first six hex digits of its SHA-256, case
folded), so that two masked addresses that differ read differently and the same address reads
the same in every line, run and output.
Among 10,000 addresses, any one shares its six digits with another with a chance of about 1 in
1,700 (some three pairs in all); the account ID printed beside each tells those apart. The
digest cannot be reversed, though someone who already holds a candidate address can check it,
as the first character and the domain already allow. Credentials are never logged on purpose;
the scrubber is the second line of defence, for an AWS key that slips into an error message.
"""

from __future__ import annotations

import hashlib
import re

# Not after "#": the digest of a masked address is not an address (masking twice is a no-op).
EMAIL = re.compile(
    r"(?<![\w.+#-])([A-Za-z0-9._%+\-])[A-Za-z0-9._%+\-]*@([A-Za-z0-9.\-]+\.[A-Za-z]{2,})"
)
ACCESS_KEY = re.compile(r"\b(?:AKIA|ASIA|AROA|AIDA)[A-Z0-9]{12,}\b")
# Secret keys are 40 characters of base64; session tokens are long base64 runs.
SECRET_LIKE = re.compile(r"(?<![A-Za-z0-9/+=])[A-Za-z0-9/+=]{40}(?![A-Za-z0-9/+=])")
LONG_TOKEN = re.compile(r"[A-Za-z0-9/+=]{100,}")


def email_digest(address: str) -> str:
    """Six hex digits that tell masked addresses apart (the same address, the same digits)."""
    return hashlib.sha256(address.casefold().encode("utf-8")).hexdigest()[:6]


def _masked(match: re.Match[str]) -> str:
    return f"{match.group(1)}***#{email_digest(match.group(0))}@{match.group(2)}"


def mask_emails(text: str) -> str:
    return EMAIL.sub(_masked, text)


def scrub_secrets(text: str) -> str:
    text = ACCESS_KEY.sub("[REDACTED-ACCESS-KEY]", text)
    text = LONG_TOKEN.sub("[REDACTED-TOKEN]", text)
    return SECRET_LIKE.sub("[REDACTED-SECRET]", text)


def clean(text: str, *, mask: bool = True) -> str:
    text = scrub_secrets(text)
    return mask_emails(text) if mask else text
