"""What a loaded manifest is: frozen values, with every default already applied.

:func:`reconciler.manifest.load_manifest` hands a :class:`Manifest` on; it no longer knows
about YAML, files or pydantic. :func:`reconciler.manifest.expand` turns it into the pipeline's
:class:`~reconciler.model.DesiredState`, once the Organizations accounts (when
``membersFrom`` asks for them) are known. Like :mod:`reconciler.model`, these are slotted
dataclasses because there is one :class:`ManifestMember` per listed account, up to tens of
thousands.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from reconciler.model import PruneSettings, Service, ServiceSettings


@dataclass(frozen=True, slots=True)
class ManifestMember:
    """One explicit ``members`` entry, with its services and regions resolved."""

    account_id: str
    email: str | None
    services: frozenset[Service]
    regions: frozenset[str]


@dataclass(frozen=True, slots=True)
class OrganizationSource:
    """``membersFrom.organization``: which Organizations accounts are members too.

    ``ous`` is None for the whole organization. The accounts are listed by the Organizations
    adapter (ACTIVE ones only) and passed to :func:`~reconciler.manifest.expand`, which drops
    ``exclude`` and the administrator itself and lets explicit members win.
    """

    ous: tuple[str, ...] | None = None
    recursive: bool = True
    exclude: frozenset[str] = frozenset()
    role_arn: str | None = None


@dataclass(frozen=True, slots=True)
class Manifest:
    """A validated manifest.

    ``source`` is the path as given (a file or a directory); ``files`` every file read to
    build it (YAML and CSV), and ``digest`` a SHA-256 over their names and bytes, so a saved
    plan can tell whether the manifest changed since.
    """

    source: str
    files: tuple[str, ...]
    digest: str
    administrator_account_id: str
    administrator_role_arn: str | None
    partition: str
    regions: tuple[str, ...]
    services: Mapping[Service, ServiceSettings]
    members: tuple[ManifestMember, ...]
    prune: PruneSettings
    members_from: OrganizationSource | None
