"""The one exception hierarchy of the reconciler.

Every step raises one of these, never a library's own exception: the AWS adapters chain
``botocore`` errors into :class:`AwsError` (``raise ... from exc``), the manifest loader turns
YAML and pydantic errors into :class:`ManifestError`. Only ``reconciler.cli`` turns them into
exit codes, so the mapping from failure to exit code lives in exactly one place.
"""

from __future__ import annotations


class ReconcilerError(Exception):
    """Root of every error the reconciler raises on purpose."""


class UsageError(ReconcilerError):
    """The command line itself is wrong (unknown flag, missing manifest path, bad value)."""


class OutputError(ReconcilerError):
    """A file the run writes (a saved plan, metrics) could not be written after the run."""


class ManifestError(ReconcilerError):
    """The manifest is not valid; raised before any AWS call is made.

    The message is always a single line that names the file, the line where the parser knows
    it, the field path and the offending value, so it can be pasted into a PR review.
    """

    def __init__(
        self,
        message: str,
        *,
        path: str,
        line: int | None = None,
        field: str | None = None,
        value: object = None,
        has_value: bool = False,
    ) -> None:
        self.path = path
        self.line = line
        self.field = field
        self.value = value
        self.has_value = has_value
        self.reason = message
        super().__init__(self._render())

    def _render(self) -> str:
        where = self.path if self.line is None else f"{self.path}:{self.line}"
        parts = [where]
        if self.field:
            parts.append(f"field {self.field}")
        if self.has_value:
            shown = repr(self.value)
            if len(shown) > 80:
                shown = shown[:77] + "..."
            parts.append(f"value {shown}")
        text = ": ".join([", ".join(parts), self.reason])
        # One line, always: a value with a newline in it must not break the contract.
        return " ".join(text.split())


class AwsError(ReconcilerError):
    """An AWS call failed in a way the adapter could not absorb."""

    def __init__(
        self,
        message: str,
        *,
        service: str,
        region: str,
        operation: str,
        code: str | None = None,
        status: int | None = None,
    ) -> None:
        self.service = service
        self.region = region
        self.operation = operation
        self.code = code
        self.status = status
        self.aws_message = message
        label = f"{service} {operation} in {region}"
        detail = f"{code}: {message}" if code else message
        super().__init__(f"{label} failed: {detail}")


class TransientAwsError(AwsError):
    """Throttling, 5xx or a dropped connection that survived botocore's own retries."""


class PermanentAwsError(AwsError):
    """An error that retrying cannot fix (access denied, validation, not found)."""


class ConflictError(PermanentAwsError):
    """A 409 ResourceConflictException: the resource already exists."""


class RegionNotEnabledError(PermanentAwsError):
    """The region is an opt-in region that the account has not enabled (403, invalid token)."""


class AcceptError(ReconcilerError):
    """A member account cannot accept: no invitation from our administrator, no detector."""


class IdentityMismatch(ReconcilerError):
    """The credentials belong to another account than the manifest's administrator."""


class PlanRefused(ReconcilerError):
    """The plan breaks a safety rail (a quota, a mass deletion) and is refused as a whole."""


class DryRunViolation(ReconcilerError):
    """A mutating AWS operation was attempted while dry-run was on.

    Raised by the client layer itself, independently of the applier, so a bug in the
    pipeline can never turn a preview into a change.
    """


class UndeclaredOperation(ReconcilerError):
    """The code tried an AWS operation that nobody declared (``reconciler.services.operations``).

    Refusing it keeps the published IAM policy and the dry-run guard complete: an operation
    cannot be called without being listed in both.
    """
