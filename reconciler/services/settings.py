"""What every service's manifest settings share: the pydantic base and the common field types.

Each service module defines the models of its own ``services.<name>`` entry from these, and
:mod:`reconciler.manifest.models` builds the manifest's ``services`` mapping from the
registered services' models (so the JSON Schema keeps one property per service). The base
model's configuration is the manifest's: strict, frozen, unknown keys refused, camelCase.
"""

from __future__ import annotations

from typing import Annotated, Final, Literal

from pydantic import BaseModel, ConfigDict, StringConstraints
from pydantic.alias_generators import to_camel

ROLE_PATH_AND_NAME: Final = r"(?:[A-Za-z0-9_+=,.@-]+/)*[A-Za-z0-9_+=,.@-]{1,64}"
ROLE_NAME_PATTERN: Final = f"^{ROLE_PATH_AND_NAME}$"

RoleName = Annotated[str, StringConstraints(pattern=ROLE_NAME_PATTERN)]
ModeName = Literal["organization", "invitation"]

#: The description of every service's ``mode`` key.
MODE_DESCRIPTION: Final = (
    "organization: members are accounts of the AWS Organization and are enabled "
    "directly. invitation: members are created, then invited, and must accept."
)
ACCEPT_ROLE_DESCRIPTION: Final = "The role assumed in each member account to accept the invitation."
ACCEPT_DESCRIPTION: Final = "Accept the invitations in the member accounts too (opt-in)."
INVITATION_DESCRIPTION: Final = "Only with mode: invitation."
DEFAULT_ACCEPT_ROLE: Final = "OrganizationAccountAccessRole"


class SettingsModel(BaseModel):
    # The manifest's models' base (no docstring: it would become every subclass's schema
    # description). strict: YAML already typed every value; coercing "10" to 10 or 1 to True
    # would hide mistakes. frozen: a validated manifest is a value. extra=forbid: a misspelt
    # key must not silently mean "use the default".
    model_config = ConfigDict(
        frozen=True,
        extra="forbid",
        strict=True,
        alias_generator=to_camel,
        validate_by_alias=True,
        validate_by_name=False,
        serialize_by_alias=True,
    )
