"""Saved plans: what a reviewer approved, applied exactly, or not at all (pure).

``reconcile --dry-run --out plan.json`` writes the plan together with fingerprints of what it
was computed from: the desired state (the manifest, expanded, Organizations accounts included)
and, per action, the observed state of the accounts it touches. ``reconcile --plan plan.json``
observes again and hands the applier exactly the saved actions, but only when

- the desired state is unchanged (same fingerprint), and
- every action's accounts are still as they were observed (same per-action fingerprint).

Otherwise it refuses, naming what changed. A plan whose changes are already in AWS (the
fresh plan is empty) is a no-op, so re-running an applied plan is safe.

A digest can say *that* an action's accounts changed, not *how*, and "the members changed"
sends the reviewer to the console to find out. So beside each fingerprint the document keeps
the data it digests (``observed``: the shard's readiness and auto-enable setting, and each
account's status and folded email, or null if absent). The fingerprints stay the authority; the
snapshot only explains a mismatch, field by field, with deepdiff. A plan saved before snapshots
existed (same version: readers ignore unknown keys) is refused with the action-level reason.

This module only turns plans into documents and back, computes fingerprints and explains
their mismatches: no I/O beyond the document text, no AWS.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, TypedDict

from reconciler.errors import ManifestError
from reconciler.model import DesiredMember, DesiredState, Service, ShardKey, ShardObservation
from reconciler.plan import Action, Plan, Step

FORMAT = "reconciler-plan"
# Snapshots were added within version 1: an older reader ignores them, and a newer one reads
# an older document (it refuses it with the action-level reason, as that reader did).
VERSION = 1


class MemberSnapshot(TypedDict):
    status: str
    email: str | None


class Snapshot(TypedDict):
    """What :func:`action_fingerprint` digests, as data; an absent account is None."""

    ready: bool | None  # None: the shard was not observed at all
    auto_enable: str | None
    # Absent accounts are kept (as None) so that both sides always have the same keys: deepdiff
    # 8+ reports a whole dict as replaced when few keys are shared, which would hide the fields.
    members: dict[str, MemberSnapshot | None]


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
    # None for an action saved before snapshots were stored.
    action_snapshots: tuple[Snapshot | None, ...]


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


def action_snapshot(action: Action, observations: Mapping[ShardKey, ShardObservation]) -> Snapshot:
    """The observed state :func:`action_fingerprint` digests, to explain a mismatch later.

    Emails are folded, as the fingerprint sees them, so that the snapshots differ exactly when
    the fingerprints do: a change of case alone neither makes a plan stale nor shows up here.
    """
    observation = observations.get(action.key)
    if observation is None:
        return {
            "ready": None,
            "auto_enable": None,
            "members": dict.fromkeys(sorted(set(action.account_ids))),
        }
    members: dict[str, MemberSnapshot | None] = {}
    for account in sorted(set(action.account_ids)):
        member = observation.members.get(account)
        members[account] = (
            None
            if member is None
            else {
                "status": member.status.value,
                "email": member.email.casefold() if member.email else None,
            }
        )
    return {
        "ready": observation.ready,
        "auto_enable": observation.auto_enable,
        "members": members,
    }


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
                "observed": action_snapshot(action, observations),
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
            action_snapshots=tuple(_snapshot(entry) for entry in document["actions"]),
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


def _snapshot(entry: Mapping[str, Any]) -> Snapshot | None:
    raw = entry.get("observed")
    if raw is None:
        return None
    ready = raw["ready"]
    if ready is not None and not isinstance(ready, bool):
        raise TypeError(f"observed.ready must be true, false or null, not {ready!r}")
    auto_enable = raw["auto_enable"]
    return {
        "ready": ready,
        "auto_enable": None if auto_enable is None else str(auto_enable),
        "members": {
            str(account): None if member is None else _member_snapshot(member)
            for account, member in raw["members"].items()
        },
    }


def _member_snapshot(raw: Mapping[str, Any]) -> MemberSnapshot:
    email = raw["email"]
    return {"status": str(raw["status"]), "email": None if email is None else str(email)}


def stale_actions(saved: SavedPlan, observations: Mapping[ShardKey, ShardObservation]) -> list[str]:
    """Why saved actions are no longer valid against ``observations`` (empty: all valid)."""
    reasons: list[str] = []
    for action, fingerprint in zip(saved.actions, saved.action_fingerprints, strict=True):
        if action_fingerprint(action, observations) != fingerprint:
            reasons.extend(_stale_action_reason(action))
    return reasons


def stale_changes(
    saved: SavedPlan, observations: Mapping[ShardKey, ShardObservation]
) -> list[str] | None:
    """What changed under the stale actions, one line per field; None without snapshots.

    None means the document predates snapshots: the caller falls back to
    :func:`stale_actions`. A stale action whose snapshot shows no difference (a document edited
    by hand) still gets its action-level reason, so no stale action goes unmentioned.
    """
    if all(snapshot is None for snapshot in saved.action_snapshots):
        return None
    lines: list[str] = []
    for action, fingerprint, snapshot in zip(
        saved.actions, saved.action_fingerprints, saved.action_snapshots, strict=True
    ):
        if action_fingerprint(action, observations) == fingerprint:
            continue
        changes = (
            _changes(action, snapshot, action_snapshot(action, observations))
            if snapshot is not None
            else []
        )
        lines.extend(changes or _stale_action_reason(action))
    return lines


def _changes(action: Action, before: Snapshot, after: Snapshot) -> list[str]:
    # Imported here: deepdiff takes about 0.3 s to import, and only a refusal needs it.
    from deepdiff import DeepDiff

    found: list[tuple[str, int, str]] = []
    for levels in DeepDiff(before, after, view="tree").values():
        for level in levels:
            path = [str(step) for step in level.path(output_format="list")]
            found.append(_describe(path, level.t1, level.t2))
    where = f"{action.key.service.value} {action.key.region} {action.step.value}"
    return [
        f"{where} {account}: {text}" if account else f"{where}: {text}"
        for account, _, text in sorted(found)
    ]


_READINESS = {True: "ready", False: "blocked", None: "not observed"}


def _describe(path: list[str], old: Any, new: Any) -> tuple[str, int, str]:
    """(account or "" for the shard, order within it, the change in words)."""
    if path[:1] == ["members"] and len(path) == 2:
        # None → member (or a key added, in a document edited by hand): it appeared.
        if isinstance(new, dict):
            return path[1], 0, f"member appeared (status {new.get('status')})"
        return path[1], 0, "member removed"
    if path[:1] == ["members"] and len(path) == 3:
        field = path[2]
        order = {"status": 1, "email": 2}.get(field, 3)
        return path[1], order, f"{field} {_shown(old)} → {_shown(new)}"
    if path == ["ready"]:
        return "", 0, f"shard {_READINESS.get(old, old)} → {_READINESS.get(new, new)}"
    if path == ["auto_enable"]:
        return "", 1, f"organization auto-enable {_shown(old)} → {_shown(new)}"
    return "", 2, f"{'.'.join(path)} changed"


def _shown(value: Any) -> str:
    return "(none)" if value is None else str(value)


def _stale_action_reason(action: Action) -> list[str]:
    accounts = ", ".join(action.account_ids[:5])
    more = f" and {len(action.account_ids) - 5} more" if len(action.account_ids) > 5 else ""
    return [
        f"{action.key} {action.step.value} ({accounts}{more}): the members changed "
        "since the plan was made"
    ]
