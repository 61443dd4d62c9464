"""Saved plans: what a reviewer approved, applied exactly, or not at all (pure).

``reconcile --dry-run --out plan.json`` writes the plan together with fingerprints of what it
was computed from: the desired state (the manifest, expanded, Organizations accounts included)
and, per action, the observed state of the accounts it touches. ``reconcile --plan plan.json``
observes again and hands the applier exactly the saved actions, but only when

- the desired state is unchanged (same fingerprint), and
- every action's accounts are still as they were observed (same per-action fingerprint).

Otherwise it refuses, naming what changed. A plan whose changes are already in AWS (the
fresh plan is empty) is a no-op, so re-running an applied plan is safe.

This module only turns plans into documents and back and computes fingerprints: no I/O
beyond the document text, no AWS.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from reconciler.errors import ManifestError
from reconciler.model import DesiredMember, DesiredState, Service, ShardKey, ShardObservation
from reconciler.plan import Action, Plan, Step

FORMAT = "reconciler-plan"
VERSION = 1


@dataclass(frozen=True, slots=True)
class SavedPlan:
    """A plan read back from its document."""

    manifest: str
    desired_fingerprint: str
    observed_fingerprint: str
    services: tuple[Service, ...]
    regions: tuple[str, ...]
    actions: tuple[Action, ...]
    action_fingerprints: tuple[str, ...]


def desired_fingerprint(desired: DesiredState) -> str:
    """A digest of everything in the desired state that can change a plan."""
    digest = hashlib.sha256()
    digest.update(f"{desired.administrator_account_id}|{desired.partition}\n".encode())
    for service in sorted(desired.services):
        settings = desired.services[service]
        digest.update(repr(settings).encode())
    digest.update(repr(desired.prune).encode())
    for key in sorted(desired.shards):
        digest.update(f"\n{key}:".encode())
        members = desired.shards[key]
        for account in sorted(members):
            email = (members[account].email or "").casefold()
            digest.update(f"{account}={email};".encode())
    return digest.hexdigest()


def observed_fingerprint(
    observations: Mapping[ShardKey, ShardObservation], accounts: Iterable[str] | None = None
) -> str:
    """A digest of observed members: all of them, or only ``accounts`` (absent ones too)."""
    digest = hashlib.sha256()
    wanted = None if accounts is None else sorted(set(accounts))
    for key in sorted(observations):
        observation = observations[key]
        digest.update(f"\n{key}:{observation.ready}:{observation.auto_enable}:".encode())
        members = observation.members
        for account in wanted if wanted is not None else sorted(members):
            member = members.get(account)
            state = (
                "absent"
                if member is None
                else f"{member.status.value}|{(member.email or '').casefold()}"
            )
            digest.update(f"{account}={state};".encode())
    return digest.hexdigest()


def action_fingerprint(action: Action, observations: Mapping[ShardKey, ShardObservation]) -> str:
    observation = observations.get(action.key)
    scoped = {action.key: observation} if observation is not None else {}
    return observed_fingerprint(scoped, action.account_ids)


def dump(
    plan: Plan,
    *,
    desired: DesiredState,
    observations: Mapping[ShardKey, ShardObservation],
) -> str:
    """The saved-plan document (JSON text). It holds member emails: keep it like the manifest."""
    document = {
        "format": FORMAT,
        "version": VERSION,
        "manifest": desired.source,
        "administrator": desired.administrator_account_id,
        "scope": {
            "services": [service.value for service in sorted(desired.services)],
            "regions": list(desired.regions),
        },
        "desired_fingerprint": desired_fingerprint(desired),
        "observed_fingerprint": observed_fingerprint(observations),
        "actions": [
            {
                "service": action.key.service.value,
                "region": action.key.region,
                "step": action.step.value,
                "operation": action.operation,
                "members": [
                    {"account_id": member.account_id, "email": member.email}
                    for member in action.members
                ],
                "fingerprint": action_fingerprint(action, observations),
            }
            for action in plan.actions
        ],
    }
    return json.dumps(document, indent=2) + "\n"


def load(text: str, *, path: str) -> SavedPlan:
    """Parse a saved-plan document; a malformed one is an invalid input (exit 3)."""
    try:
        document = json.loads(text)
        if document.get("format") != FORMAT or document.get("version") != VERSION:
            raise ValueError(f"not a {FORMAT} version {VERSION} document")
        actions = tuple(_action(entry) for entry in document["actions"])
        return SavedPlan(
            manifest=str(document["manifest"]),
            desired_fingerprint=str(document["desired_fingerprint"]),
            observed_fingerprint=str(document["observed_fingerprint"]),
            services=tuple(Service(name) for name in document["scope"]["services"]),
            regions=tuple(str(region) for region in document["scope"]["regions"]),
            actions=actions,
            action_fingerprints=tuple(str(entry["fingerprint"]) for entry in document["actions"]),
        )
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        raise ManifestError(f"not a saved plan: {exc}", path=path) from None


def _action(entry: Mapping[str, Any]) -> Action:
    return Action(
        ShardKey(Service(entry["service"]), str(entry["region"])),
        Step(entry["step"]),
        tuple(
            DesiredMember(str(member["account_id"]), member.get("email"))
            for member in entry["members"]
        ),
    )


def stale_actions(saved: SavedPlan, observations: Mapping[ShardKey, ShardObservation]) -> list[str]:
    """Why saved actions are no longer valid against ``observations`` (empty: all valid)."""
    reasons: list[str] = []
    for action, fingerprint in zip(saved.actions, saved.action_fingerprints, strict=True):
        if action_fingerprint(action, observations) != fingerprint:
            accounts = ", ".join(action.account_ids[:5])
            more = f" and {len(action.account_ids) - 5} more" if len(action.account_ids) > 5 else ""
            reasons.append(
                f"{action.key} {action.step.value} ({accounts}{more}): the members changed "
                "since the plan was made"
            )
    return reasons
