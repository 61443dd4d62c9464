"""The manifest's format, version 1, as pydantic models: the single source of its schema.

These models describe the YAML exactly as users write it (camelCase keys, unknown keys refused,
values never coerced: ``"10"`` is not an integer and ``012345678901`` is not an account ID), and
:mod:`reconciler.schema` publishes them as ``schemas/manifest.schema.json`` for editors. They
check what one value can tell on its own (an account ID's digits, an email's syntax, an ARN's
shape); the rules that need two places of the manifest or the region catalog live in
:mod:`reconciler.manifest.checks`. pydantic's own messages are never shown: the ``*_problem``
functions here explain a failed pattern in words, and :mod:`reconciler.manifest.loading`
rewrites every other error type.
"""

from __future__ import annotations

import re
import string
from typing import TYPE_CHECKING, Annotated, Any, Final, Literal

from pydantic import (
    ConfigDict,
    Discriminator,
    Field,
    StringConstraints,
    Tag,
    create_model,
)

from reconciler.model import Mode
from reconciler.services import registry
from reconciler.services.settings import ROLE_NAME_PATTERN as ROLE_NAME_PATTERN
from reconciler.services.settings import ROLE_PATH_AND_NAME as _ROLE_PATH_AND_NAME
from reconciler.services.settings import ModeName as ModeName
from reconciler.services.settings import RoleName as RoleName
from reconciler.services.settings import SettingsModel as _Model

# The syntax of each kind of string, as patterns that pydantic checks in Rust (fast: no Python
# call per member) and that the JSON schema hands to editors, so they are written in the
# subset that Rust, Python and JavaScript regular expressions share: no lookarounds, no
# named groups. When a value fails one, the matching *_problem function says why in words.
ACCOUNT_ID_PATTERN: Final = r"^[0-9]{12}$"
OU_ID_PATTERN: Final = r"^ou-[0-9a-z]{4,32}-[a-z0-9]{8,32}$"
ROLE_ARN_PATTERN: Final = f"^arn:aws[a-z0-9-]*:iam::[0-9]{{12}}:role/{_ROLE_PATH_AND_NAME}$"
#: The same, with the parts named, for the cross-field checks (partition, account).
ROLE_ARN_RE: Final = re.compile(
    r"arn:(?P<partition>aws[a-z0-9-]*):iam::(?P<account>[0-9]{12}):role/" + _ROLE_PATH_AND_NAME
)
REGION_PATTERN: Final = r"^[a-z]{2,4}(-[a-z]+)+-[0-9]+$"

# The member services' AccountDetail.email documentation (the facts file, section 10).
EMAIL_MIN, EMAIL_MAX = 6, 64
EMAIL_LOCAL_FORBIDDEN: Final = frozenset("\"'()<>[]:,\\|%&")
_DOMAIN_CHARS: Final = frozenset(string.ascii_letters + string.digits + ".-")
# Printable ASCII but the forbidden characters and @, as a character class that Rust, Python
# and JavaScript (with the u flag, as editors compile schema patterns) all read the same way;
# a test checks it against EMAIL_LOCAL_FORBIDDEN.
EMAIL_LOCAL_CLASS: Final = r"!#$*+\-./0-9;=?A-Z\^_`a-z{}~"
#: Local part not starting with a dot; domain starting and ending with a letter or digit,
#: with a dot somewhere. The length (6-64) is a separate constraint.
EMAIL_PATTERN: Final = (
    f"^[{EMAIL_LOCAL_CLASS.replace('.', '')}][{EMAIL_LOCAL_CLASS}]*"
    "@[A-Za-z0-9][A-Za-z0-9.-]*\\.[A-Za-z0-9.-]*[A-Za-z0-9]$"
)
_EMAIL_RE: Final = re.compile(EMAIL_PATTERN)


def account_id_problem(value: str) -> str:
    """Why ``value`` is not an AWS account ID (it failed :data:`ACCOUNT_ID_PATTERN`)."""
    if value.isdigit() and value.isascii():
        hint = (
            " (a spreadsheet or an unquoted YAML number may have dropped leading zeros)"
            if len(value) < 12
            else ""
        )
        return f"an account ID has exactly 12 digits, this one has {len(value)}{hint}"
    return "an account ID is exactly 12 digits (0-9), with no spaces, dashes or letters"


def email_problem(value: str) -> str | None:
    """Why a member service would refuse ``value`` as an email, or None when it would not."""
    if EMAIL_MIN <= len(value) <= EMAIL_MAX and _EMAIL_RE.fullmatch(value):
        return None
    if not EMAIL_MIN <= len(value) <= EMAIL_MAX:
        return f"an email must be {EMAIL_MIN} to {EMAIL_MAX} characters long, not {len(value)}"
    if not value.isascii():
        return "an email must be 7-bit ASCII"
    if value.count("@") != 1:
        return "an email must contain exactly one @"
    local, domain = value.split("@")
    if not local:
        return "an email needs a name before the @"
    if local.startswith("."):
        return "the part of an email before the @ must not start with a dot"
    if any(c.isspace() or not c.isprintable() for c in local):
        return "the part of an email before the @ must not contain spaces or control characters"
    bad = sorted({c for c in local if c in EMAIL_LOCAL_FORBIDDEN})
    if bad:
        return f"the part of an email before the @ must not contain {' '.join(bad)}"
    if not set(domain) <= _DOMAIN_CHARS:
        return "an email's domain may contain only letters, digits, dots and hyphens"
    if "." not in domain:
        return "an email's domain needs at least one dot"
    if domain[0] in ".-" or domain[-1] in ".-":
        return "an email's domain must not start or end with a dot or a hyphen"
    return "not a valid email address"


def role_arn_problem(value: str) -> str:
    """Why ``value`` failed :data:`ROLE_ARN_PATTERN`."""
    return (
        "expected an IAM role ARN such as arn:aws:iam::111111111111:role/Name "
        "(arn:PARTITION:iam::ACCOUNT:role/[PATH/]NAME)"
    )


def role_name_problem(value: str) -> str:
    """Why ``value`` failed :data:`ROLE_NAME_PATTERN`."""
    if value.startswith("arn:"):
        return "expected a role name such as OrganizationAccountAccessRole, not an ARN"
    return (
        "expected an IAM role name: 1-64 letters, digits and +=,.@_-, optionally after a "
        "path such as team/"
    )


def ou_id_problem(value: str) -> str:
    """Why ``value`` failed :data:`OU_ID_PATTERN`."""
    if value.startswith("r-"):
        return "this is the organization's root ID; omit ous to take the whole organization"
    return (
        "expected an organizational unit ID such as ou-ab12-cd34ef56 (ou-, 4-32 lowercase "
        "letters or digits, -, 8-32 more)"
    )


AccountId = Annotated[
    str,
    StringConstraints(pattern=ACCOUNT_ID_PATTERN),
    Field(description="A 12-digit AWS account ID, quoted so YAML keeps its leading zeros."),
]
Email = Annotated[
    str,
    StringConstraints(min_length=EMAIL_MIN, max_length=EMAIL_MAX, pattern=EMAIL_PATTERN),
]
RoleArn = Annotated[str, StringConstraints(pattern=ROLE_ARN_PATTERN)]
OuId = Annotated[str, StringConstraints(pattern=OU_ID_PATTERN)]
# Whether a region exists, and offers the service, is checked against botocore's endpoint
# data in checks.py, with a better message than a pattern could give; the pattern is only
# published in the schema, to help editors catch typos such as US-EAST-1.
Region = Annotated[str, Field(json_schema_extra={"pattern": REGION_PATTERN})]
if TYPE_CHECKING:
    ServiceName = str
else:
    # The registered services' names, as a Literal of them.
    ServiceName = Literal[registry.NAMES]


class Administrator(_Model):
    model_config = ConfigDict(
        json_schema_extra={
            "description": (
                f"The {' / '.join(spec.label for spec in registry.SPECS)} administrator "
                "(delegated administrator) account."
            )
        }
    )

    account_id: AccountId = Field(description="The administrator account's 12-digit ID.")
    role_arn: RoleArn | None = Field(
        default=None,
        description=(
            "An IAM role in the administrator account, assumed before any call. Omit it to "
            "use the credentials as found (profile, environment, instance role)."
        ),
    )


class _ServicesBase(_Model):
    model_config = ConfigDict(json_schema_extra={"minProperties": 1})


def _services_model() -> type[_Model]:
    """``services``: one optional key per registered service, its own settings model."""
    fields: dict[str, Any] = {
        spec.name: (spec.settings | None, Field(default=None, description=spec.description))
        for spec in registry.SPECS
    }
    return create_model(
        "Services",
        __base__=_ServicesBase,
        __doc__="The services to reconcile; at least one.",
        __module__=__name__,
        **fields,
    )


if TYPE_CHECKING:

    class Services(_Model):
        """The services to reconcile (built from the registry at run time)."""

else:
    Services = _services_model()


def _email_description() -> str:
    """The email's description: which services need one, and in which modes."""
    always, some, never = [], [], []
    for spec in registry.SPECS:
        modes = spec.email.required_in
        if modes == frozenset(Mode):
            always.append(f"{spec.label}'s")
        elif modes:
            some.append(f"{spec.label}'s in {' and '.join(sorted(m.value for m in modes))} mode")
        else:
            never.append(spec.label)
    scopes = registry.listed([*always, *some], "or")
    text = f"The account's root email. Required when the member is in {scopes} scope"
    text += " (its CreateMembers needs one)"
    if never:
        text += f"; optional for {registry.listed(never)}"
    return text + "."


class Member(_Model):
    """An account that must be a member of the administrator."""

    account_id: AccountId = Field(description="The member account's 12-digit ID.")
    email: Email | None = Field(
        default=None,
        description=_email_description(),
    )
    services: list[ServiceName] | None = Field(
        default=None,
        min_length=1,
        description="The services this account is a member of. Default: every service.",
    )
    regions: list[Region] | None = Field(
        default=None,
        min_length=1,
        description="The regions this account is a member in. Default: every region.",
    )


class CsvMembers(_Model):
    """Members read from a CSV file in the AWS scripts' format."""

    csv: str = Field(
        min_length=1,
        description=(
            "Path of the CSV file, relative to this manifest file: one AccountId,Email per "
            "line, no header."
        ),
    )


def _members_kind(value: Any) -> str:
    return "csv" if isinstance(value, dict) else "list"


Members = Annotated[
    Annotated[list[Member], Tag("list")] | Annotated[CsvMembers, Tag("csv")],
    Discriminator(_members_kind),
]


class Prune(_Model):
    """Removal of members that AWS has and the manifest does not."""

    enabled: bool = Field(default=False, description="Remove undesired members. Off by default.")
    max_deletions: int = Field(
        default=10,
        ge=0,
        description=(
            "Refuse the whole plan when it would remove more accounts than this, unless "
            "--allow-mass-prune is given."
        ),
    )
    protected_accounts: list[AccountId] = Field(
        default_factory=list, description="Accounts never removed, whatever the manifest says."
    )


class OrganizationMembers(_Model):
    """Take the ACTIVE accounts of the AWS Organization (or of some of its OUs) as members."""

    ous: list[OuId] | None = Field(
        default=None,
        min_length=1,
        description=(
            "Organizational unit IDs to take accounts from. Omit for the whole organization."
        ),
    )
    recursive: bool = Field(default=True, description="Include the accounts of child OUs too.")
    exclude: list[AccountId] = Field(
        default_factory=list, description="Accounts of the organization never made members."
    )
    role_arn: RoleArn | None = Field(
        default=None,
        description=(
            "A role (usually in the management account) assumed to read the organization. "
            "Default: the administrator's credentials (a delegated administrator can read it)."
        ),
    )


class MembersFrom(_Model):
    """Where members come from besides the explicit list."""

    organization: OrganizationMembers = Field(
        description="Accounts of the AWS Organization; explicit members entries win over them."
    )


class ManifestDocument(_Model):
    """A membership manifest, format version 1."""

    model_config = ConfigDict(title="reconciler manifest, format version 1")

    version: Literal[1] = Field(description="The manifest format version; always 1.")
    administrator: Administrator
    regions: list[Region] = Field(
        min_length=1,
        description="Every region to reconcile, all in one partition (aws, aws-us-gov, aws-cn).",
    )
    services: Services
    members: Members = Field(
        default_factory=list,
        description=(
            "The member accounts: a list, or {csv: path} for a CSV file in the AWS scripts' format."
        ),
    )
    prune: Prune = Field(
        default=Prune(), description="Removal of undesired members; off by default."
    )
    members_from: MembersFrom | None = Field(
        default=None, description="Members taken from AWS Organizations, besides `members`."
    )
