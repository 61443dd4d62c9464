"""The state file's shape, as pydantic models, and its one-line errors.

The models check what a schema can say: which keys exist, their types, patterns and enums,
what is required. What it cannot (an OU's parent is listed, a member is listed once, links
between administrators agree) the state checks while it builds itself
(:mod:`reconciler_sandbox.state`). The parts that differ by service are declared by each
service's module (its :class:`Section` and :class:`MemberEntry` subclasses) and assembled here
by :func:`document_model` from what the registry passes in, so this module names no service.

A validation error becomes one :class:`~reconciler_sandbox.records.FieldError`: the dotted path
of the first offending field (``accounts.111111111111.regions.eu-west-1.<service>.members[0]
.status``) and a short reason worded for the person who wrote the file.

The published JSON Schema (``schemas/sandbox-state.schema.json``) is :func:`json_schema` of the
assembled model: ``python -m reconciler_sandbox schema`` prints it.
"""

from __future__ import annotations

import json
import types
import typing
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Annotated, Any, Literal, Required

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StrictBool,
    StrictInt,
    StrictStr,
    StringConstraints,
    ValidationError,
    create_model,
)
from pydantic import Strict as PydanticStrict
from pydantic.json_schema import GenerateJsonSchema
from pydantic_core import PydanticCustomError
from typing_extensions import TypedDict

from reconciler_sandbox.records import FieldError

SCHEMA_DIALECT = "https://json-schema.org/draft/2020-12/schema"

ACCOUNT_ID = r"^\d{12}$"
REGION = r"^[a-z]{2}(-[a-z]+)+-\d{1,2}$"
REGION_OR_ALL = r"^(\*|[a-z]{2}(-[a-z]+)+-\d{1,2})$"
EMAIL = r"^[^@\s]+@[^@\s]+\.[^@\s]+$"
ORG_ID = r"^o-[a-z0-9]{10,32}$"
ROOT_ID = r"^r-[0-9a-z]{4,32}$"
OU_ID = r"^ou-[0-9a-z]{4,32}-[a-z0-9]{8,32}$"
ROLE_NAME = r"^[\w+=,.@-]{1,64}$"
NOT_BLANK = r"\S"

# What a pattern means, for the error message of a value that does not match it.
_PATTERN_REASONS = {
    ACCOUNT_ID: "is not a 12-digit account id",
    REGION: "is not a region name like eu-west-1",
    REGION_OR_ALL: "is not a region name like eu-west-1",
    EMAIL: "is not an email address",
    ORG_ID: "is not an organization id like o-abc1234567",
    ROOT_ID: "is not a root id like r-ab12",
    OU_ID: "is not an OU id like ou-ab12-11111111",
    ROLE_NAME: "is not a role name",
}

AccountId = Annotated[
    StrictStr, StringConstraints(pattern=ACCOUNT_ID), Field(description="A 12-digit account id.")
]
Region = Annotated[StrictStr, StringConstraints(pattern=REGION)]
RegionOrAll = Annotated[StrictStr, StringConstraints(pattern=REGION_OR_ALL)]
Email = Annotated[StrictStr, StringConstraints(pattern=EMAIL, max_length=64)]
Name = Annotated[StrictStr, StringConstraints(pattern=NOT_BLANK)]
Count = Annotated[StrictInt, Field(ge=0)]


def _not_a_number(value: Any) -> Any:
    # pydantic's lax datetime reads numbers as epoch seconds; a state file writes ISO-8601.
    if isinstance(value, int | float):
        raise PydanticCustomError(
            "timestamp", "{value} is not an ISO-8601 timestamp", {"value": repr(value)}
        )
    return value


# ISO-8601 strings (or YAML's own timestamps), parsed by pydantic-core: lax, in strict models.
Timestamp = Annotated[datetime, BeforeValidator(_not_a_number), PydanticStrict(False)]


class Strict(BaseModel):
    """Unknown keys are refused and nothing is coerced (``"1"`` is no number, ``1`` no bool)."""

    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)


# --------------------------------------------------------------------------------------------
# What services subclass
# --------------------------------------------------------------------------------------------


# A member record is validated as a TypedDict, not a model: 50,000 of them load three times
# faster so (no instance per record), and the state reads them as plain mappings.
ENTRY_CONFIG = ConfigDict(extra="forbid", strict=True)


class MemberEntry(TypedDict, total=False):
    """The fields of a member record every service has. A service subclasses it with its
    ``status`` vocabulary (``Required[Literal[...]]``, and may add ``disabledReason``),
    decorated with ``@with_config(ENTRY_CONFIG)``."""

    accountId: Required[AccountId]
    email: Email | None
    type: Literal["organization", "invitation"]
    invitedAt: Timestamp | None
    updatedAt: Timestamp | None
    invitationsSent: Annotated[
        Count, Field(description="Invitations sent (written by the sandbox).")
    ]
    verificationReadsLeft: Annotated[
        Count,
        Field(
            description="Reads left before an email verification settles (written by the sandbox)."
        ),
    ]


class Section(Strict):
    """One service's section of a region. A service adds its settings and a ``members`` list
    of its own :class:`MemberEntry` subclass (not allowed under the ``"*"`` region)."""

    def entries(self) -> Sequence[Mapping[str, Any]]:
        found = getattr(self, "members", None)
        return found if isinstance(found, list) else []

    def settings(self) -> dict[str, Any]:
        """The section without members, as the state file spells it."""
        return self.model_dump(exclude={"members"}, exclude_none=True)


# --------------------------------------------------------------------------------------------
# The document
# --------------------------------------------------------------------------------------------


class OrganizationalUnit(Strict):
    id: Annotated[StrictStr, StringConstraints(pattern=OU_ID)]
    name: Name
    parent: Name


class OrganizationAccount(Strict):
    accountId: AccountId
    email: Email
    name: Name | None = None
    # Organizations' account State (botocore's AccountState); its older Status had no CLOSED
    # or PENDING_ACTIVATION.
    status: Literal["PENDING_ACTIVATION", "ACTIVE", "SUSPENDED", "PENDING_CLOSURE", "CLOSED"] = (
        "ACTIVE"
    )
    parent: Name | None = None


class Organization(Strict):
    id: Annotated[StrictStr, StringConstraints(pattern=ORG_ID)]
    managementAccount: AccountId
    rootId: Annotated[StrictStr, StringConstraints(pattern=ROOT_ID)]
    # A model with one optional account id per service (document_model).
    delegatedAdministrators: Strict | None = None
    organizationsDelegatedAdministrators: list[AccountId] | None = None
    organizationalUnits: list[OrganizationalUnit] | None = None
    accounts: list[OrganizationAccount] | None = None


class Account(Strict):
    email: Email | None = None
    roles: list[Annotated[StrictStr, StringConstraints(pattern=ROLE_NAME)]] | None = None
    disabledRegions: list[Region] | None = None
    # Region (or "*") -> a model with one optional Section per service (document_model).
    regions: dict[RegionOrAll, Strict | None] | None = None


class Document(Strict):
    version: Literal[1]
    defaultAccount: AccountId
    # A model with one optional count per quota (document_model).
    quotas: Strict | None = None
    emailVerificationReads: Count | None = None
    organization: Organization | None = None
    accounts: dict[AccountId, Account | None] | None = None

    def delegated_administrators(self) -> dict[str, str]:
        found = self.organization.delegatedAdministrators if self.organization else None
        return found.model_dump(exclude_none=True) if found is not None else {}

    def quota_overrides(self) -> dict[str, int]:
        return self.quotas.model_dump(exclude_none=True) if self.quotas is not None else {}


def sections_of(region: Strict | None) -> dict[str, Section]:
    """A region's sections by service name (those present)."""
    if region is None:
        return {}
    return {
        name: getattr(region, name)
        for name in region.model_fields_set
        if getattr(region, name) is not None
    }


def _optional(kind: Any, description: str | None = None) -> Any:
    """A field definition for ``create_model``: ``kind`` or null, absent by default."""
    return (typing.Optional[kind], Field(None, description=description))  # noqa: UP045


def document_model(
    sections: Mapping[str, type[Section]], quotas: Mapping[str, int]
) -> type[Document]:
    """The state file's model for these services (name -> section model) and quotas."""
    region: Any = create_model(
        "RegionSections",
        __base__=Strict,
        **{name: _optional(model) for name, model in sections.items()},
    )
    delegated: Any = create_model(
        "DelegatedAdministrators",
        __base__=Strict,
        **{name: _optional(AccountId) for name in sections},
    )
    quota_model: Any = create_model(
        "Quotas",
        __base__=Strict,
        **{key: _optional(Count, f"Default {default}.") for key, default in quotas.items()},
    )
    account: Any = create_model(
        "Account", __base__=Account, regions=_optional(dict[RegionOrAll, region | None])
    )
    organization: Any = create_model(
        "Organization", __base__=Organization, delegatedAdministrators=_optional(delegated)
    )
    document: type[Document] = create_model(
        "SandboxState",
        __base__=Document,
        quotas=_optional(quota_model),
        organization=_optional(organization),
        accounts=_optional(dict[AccountId, account | None]),
    )
    return document


# --------------------------------------------------------------------------------------------
# Errors: the first one, as a path and a reason
# --------------------------------------------------------------------------------------------


def field_error(error: ValidationError, root: Any, prefix: str = "") -> FieldError:
    """The first error of ``error`` (validating ``root``, a model or a type) as a FieldError."""
    first = error.errors(include_url=False)[0]
    loc = list(first["loc"])
    is_key = bool(loc) and loc[-1] == "[key]"
    if is_key:
        loc.pop()
    path = _path(prefix, loc, is_key)
    return FieldError(path or "(top level)", _reason(first, root, loc, is_key))


def _path(prefix: str, loc: Sequence[str | int], is_key: bool) -> str:
    out = prefix
    for index, part in enumerate(loc):
        # An int is a list index, unless it is the offending key itself (an unquoted id).
        if isinstance(part, int) and not (is_key and index == len(loc) - 1):
            out += f"[{part}]"
        else:
            out = f"{out}.{part}" if out else str(part)
    return out


def _kind(value: Any) -> str:
    return "nothing" if value is None else type(value).__name__


def _reason(first: Any, root: Any, loc: list[str | int], is_key: bool) -> str:
    kind = first["type"]
    value = first.get("input")
    ctx = first.get("ctx") or {}
    if kind == "missing":
        return "is required"
    if kind == "extra_forbidden":
        allowed = _keys(_annotation_at(root, loc[:-1]))
        listing = f" (expected one of: {', '.join(sorted(allowed))})" if allowed else ""
        return f"unknown key{listing}"
    if kind in ("model_type", "dict_type", "model_attributes_type"):
        return f"expected a mapping, got {_kind(value)}"
    if kind == "list_type":
        return f"expected a list, got {_kind(value)}"
    if kind == "bool_type":
        return f"expected true or false, got {value!r}"
    if kind in ("int_type", "greater_than_equal", "int_from_float"):
        return f"expected a non-negative integer, got {value!r}"
    if kind == "literal_error":
        expected = str(ctx.get("expected", "")).replace(" or ", ", ").replace("'", "")
        return f"{value!r} is not one of {expected}"
    if kind == "string_type":
        if is_key:
            return "keys must be strings (quote account ids)"
        number = isinstance(value, int) and not isinstance(value, bool)
        if number and _pattern_of(_annotation_at(root, loc)) == ACCOUNT_ID:
            return f"account id {value!r} must be a quoted 12-digit string"
        return f"expected a string, got {_kind(value)} {value!r}"
    if kind == "string_pattern_mismatch":
        pattern = str(ctx.get("pattern", ""))
        if pattern == NOT_BLANK:
            return f"expected a non-empty string, got {value!r}"
        return f"{value!r} {_PATTERN_REASONS.get(pattern, f'does not match {pattern}')}"
    if kind == "string_too_long":
        return f"{value!r} is not an email address"
    return str(first["msg"])


def _unwrap(annotation: Any) -> list[Any]:
    """The concrete types an annotation may hold (through Optional, unions, Annotated)."""
    origin = typing.get_origin(annotation)
    if origin is Annotated:
        return _unwrap(typing.get_args(annotation)[0])
    if origin in (typing.Union, types.UnionType):
        return [t for arg in typing.get_args(annotation) for t in _unwrap(arg)]
    return [annotation]


def _annotation_at(root: Any, loc: Sequence[str | int]) -> Any:
    """The annotation of the field at ``loc`` below ``root``, or None when it cannot be told."""
    current: Any = root
    for part in loc:
        following: Any = None
        for option in _unwrap(current):
            origin = typing.get_origin(option)
            if isinstance(option, type) and issubclass(option, BaseModel) and isinstance(part, str):
                info = option.model_fields.get(part)
                if info is not None:
                    following = info.annotation
                    if info.metadata:
                        following = Annotated[(info.annotation, *info.metadata)]
            elif origin is list and isinstance(part, int):
                following = typing.get_args(option)[0]
            elif origin is dict and isinstance(part, str):
                following = typing.get_args(option)[1]
            if following is not None:
                break
        if following is None:
            return None
        current = following
    return current


def _keys(annotation: Any) -> list[str]:
    for option in _unwrap(annotation):
        if isinstance(option, type) and issubclass(option, BaseModel):
            return list(option.model_fields)
    return []


def _pattern_of(annotation: Any) -> str | None:
    if typing.get_origin(annotation) is Annotated:
        for meta in typing.get_args(annotation)[1:]:
            pattern = getattr(meta, "pattern", None)
            if isinstance(pattern, str):
                return pattern
        return _pattern_of(typing.get_args(annotation)[0])
    return None


# --------------------------------------------------------------------------------------------
# The published schema
# --------------------------------------------------------------------------------------------


class _NoFieldTitles(GenerateJsonSchema):
    def field_title_should_be_set(self, schema: Any) -> bool:
        return False


def json_schema(model: type[Document]) -> dict[str, Any]:
    schema = model.model_json_schema(mode="validation", schema_generator=_NoFieldTitles)
    return {
        "$schema": SCHEMA_DIALECT,
        **schema,
        "title": "reconcile-sandbox state file",
        "description": (
            "The world of the sandbox (accounts, organization, each service's resources and "
            "members); read by `reconcile-sandbox --state` and `reconcile --sandbox`. A region's "
            "`members` are not allowed under the `*` region. Reference: docs/reference/sandbox.md, "
            "section 'The state file'."
        ),
    }


def render_schema(model: type[Document]) -> str:
    """The schema as committed: two-space indented JSON with a final newline."""
    return json.dumps(json_schema(model), indent=2, ensure_ascii=False) + "\n"


__all__ = [
    "Account",
    "Document",
    "MemberEntry",
    "Section",
    "StrictBool",
    "document_model",
    "field_error",
    "render_schema",
    "sections_of",
]
