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
snapshot only explains a mismatch, field by field, with deepdiff. A plan without snapshots
(same version: readers ignore unknown keys) is refused with the action-level reason.

The document checks itself when it is read back. A hand edit (an account added to an action,
an email changed, an action dropped, a fingerprint or the scope altered) would otherwise pass
for a change in AWS or in the manifest, or worse, be applied: the fingerprints cover the
observed state of an action's accounts, not the action itself. So ``digest`` is a SHA-256 over
the document's content (canonical JSON: re-indenting or reordering keys does not change it)
except the snapshots, and each snapshot must digest to its action's fingerprint over exactly
the action's accounts. A document that fails either is not a valid saved plan (exit 3), and
the snapshots, though outside the digest, cannot be edited unnoticed. It is a check against
edits and damage, not a signature: whoever may write the plan may write the manifest too.

A plan refused by a safety rail is saved marked ``refused`` (with the reasons), under the
digest, so ``--plan`` refuses it again instead of applying it, and a file at that path from an
earlier run is not left to be applied in its place.

This module only turns plans into documents and back, computes fingerprints and explains
their mismatches: no I/O beyond the document text, no AWS.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, TypedDict

from reconciler.errors import ManifestError, PlanRefused
from reconciler.manifest.values import Manifest
from reconciler.model import DesiredMember, DesiredState, Service, ShardKey, ShardObservation
from reconciler.plan import Action, Plan, Refusal, Step
from reconciler.services import registry

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
    # The safety rails the plan broke when it was made (a refused plan is never applied).
    refusals: tuple[Refusal, ...] = ()


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
        members = observation.members
        _digest_shard(
            digest,
            key,
            observation.ready,
            observation.auto_enable,
            (
                (account, None if member is None else (member.status.value, member.email))
                for account in (wanted if wanted is not None else sorted(members))
                for member in (members.get(account),)
            ),
        )
    return digest.hexdigest()


def _digest_shard(
    digest: Any,
    key: ShardKey,
    ready: bool,
    auto_enable: str | None,
    members: Iterable[tuple[str, tuple[str, str | None] | None]],
) -> None:
    """One shard's part of a fingerprint: (account, (status, email) or None if absent)."""
    digest.update(f"\n{key}:{ready}:{auto_enable}:".encode())
    for account, member in members:
        state = "absent" if member is None else f"{member[0]}|{(member[1] or '').casefold()}"
        digest.update(f"{account}={state};".encode())


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
    refusals: Sequence[Refusal] = (),
) -> str:
    """The saved-plan document (JSON text). It holds member emails: keep it like the manifest.

    With ``refusals`` (the plan broke a safety rail), the document says so and ``--plan``
    refuses it.
    """
    document: dict[str, Any] = {
        "format": FORMAT,
        "version": VERSION,
        "manifest": desired.source,
        "administrator": desired.administrator_account_id,
        "scope": {
            "services": [str(service) for service in sorted(desired.services)],
            "regions": list(desired.regions),
        },
        "desired_fingerprint": desired_fingerprint(desired),
        "observed_fingerprint": observed_fingerprint(observations),
        "actions": [
            {
                "service": action.key.service,
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
    if refusals:
        document["refused"] = [
            {"rail": r.rail, "reason": r.reason, "override": r.override} for r in refusals
        ]
    document["digest"] = _content_digest(document)
    return json.dumps(document, indent=2) + "\n"


def _content_digest(document: Mapping[str, Any]) -> str:
    """SHA-256 of the document's content, without the digest itself and the snapshots.

    The snapshots stay out so a plan can lose them (as older plans never had them) and keep
    its digest; each is checked against its action's fingerprint instead, which is inside.
    """
    content = {key: value for key, value in document.items() if key != "digest"}
    content["actions"] = [
        {key: value for key, value in entry.items() if key != "observed"}
        for entry in document["actions"]
    ]
    canonical = json.dumps(content, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return "sha256:" + hashlib.sha256(canonical.encode()).hexdigest()


def load(text: str, *, path: str) -> SavedPlan:
    """Parse a saved-plan document and check it against itself.

    A malformed or edited document is an invalid input (ManifestError, exit 3); one saved
    refused by a safety rail is refused again (PlanRefused, exit 1). Both before any AWS call.
    """
    document, saved = _parse(text, path=path)
    problem = _integrity_problem(document, saved)
    if problem is not None:
        raise ManifestError(
            f"not a valid saved plan: {problem}; it was changed after it was saved: "
            "make a new plan",
            path=path,
        )
    if saved.refusals:
        reasons = "; ".join(refusal.reason for refusal in saved.refusals)
        overrides = sorted({r.override for r in saved.refusals if r.override is not None})
        again = f" (with {', '.join(overrides)} if this is intended)" if overrides else ""
        raise PlanRefused(
            f"saved plan refused, nothing applied: the plan was refused when it was made "
            f"({reasons}); make a new plan{again}"
        )
    return saved


def _parse(text: str, *, path: str) -> tuple[dict[str, Any], SavedPlan]:
    try:
        document = json.loads(text)
        if document.get("format") != FORMAT or document.get("version") != VERSION:
            raise ValueError(f"not a {FORMAT} version {VERSION} document")
        actions = tuple(_action(entry) for entry in document["actions"])
        return document, SavedPlan(
            manifest=str(document["manifest"]),
            desired_fingerprint=str(document["desired_fingerprint"]),
            observed_fingerprint=str(document["observed_fingerprint"]),
            services=tuple(registry.service(name) for name in document["scope"]["services"]),
            regions=tuple(str(region) for region in document["scope"]["regions"]),
            actions=actions,
            action_fingerprints=tuple(str(entry["fingerprint"]) for entry in document["actions"]),
            action_snapshots=tuple(_snapshot(entry) for entry in document["actions"]),
            refusals=tuple(
                Refusal(
                    str(entry["rail"]),
                    str(entry["reason"]),
                    None if entry["override"] is None else str(entry["override"]),
                )
                for entry in document.get("refused") or ()
            ),
        )
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        raise ManifestError(f"not a saved plan: {exc}", path=path) from None


def _integrity_problem(document: Mapping[str, Any], saved: SavedPlan) -> str | None:
    """What shows the document was edited, in words; None if it is as it was saved.

    The checks that can name the edit (an action against its own fingerprint and the scope)
    come first; the digest catches every other edit.
    """
    services, regions = set(saved.services), set(saved.regions)
    for number, (entry, action, fingerprint, snapshot) in enumerate(
        zip(
            document["actions"],
            saved.actions,
            saved.action_fingerprints,
            saved.action_snapshots,
            strict=True,
        ),
        start=1,
    ):
        where = f"action {number} ({action.key.service} {action.key.region} "
        where += f"{action.step.value})"
        if action.key.service not in services:
            return f"{where}: {action.key.service} is not one of the plan's services"
        if action.key.region not in regions:
            return f"{where}: {action.key.region} is not one of the plan's regions"
        if entry.get("operation") != action.operation:
            return (
                f"{where}: operation {entry.get('operation')} is not the {action.step.value} "
                f"step's ({action.operation})"
            )
        if snapshot is None:
            continue  # saved without snapshots: the digest still covers the fingerprint
        mismatch = _accounts_mismatch(action, snapshot)
        if mismatch:
            return (
                f"{where}: its accounts are not those its fingerprint was taken over ({mismatch})"
            )
        if _snapshot_fingerprint(action, snapshot) != fingerprint:
            return f"{where}: its observed state does not match its fingerprint"
    digest = document.get("digest")
    if digest is None:
        return "it has no digest"
    if digest != _content_digest(document):
        return "its content does not match its digest"
    return None


def _accounts_mismatch(action: Action, snapshot: Snapshot) -> str:
    accounts, observed = set(action.account_ids), set(snapshot["members"])
    parts = []
    if accounts - observed:
        parts.append(f"not observed: {', '.join(sorted(accounts - observed))}")
    if observed - accounts:
        parts.append(f"observed, not in the action: {', '.join(sorted(observed - accounts))}")
    return "; ".join(parts)


def _snapshot_fingerprint(action: Action, snapshot: Snapshot) -> str:
    """The fingerprint the snapshot's data digests to (as :func:`action_fingerprint` does)."""
    digest = hashlib.sha256()
    if snapshot["ready"] is None:  # the shard was not observed: nothing was digested
        return digest.hexdigest()
    members = snapshot["members"]
    _digest_shard(
        digest,
        action.key,
        snapshot["ready"],
        snapshot["auto_enable"],
        (
            (account, None if member is None else (member["status"], member["email"]))
            for account in sorted(set(action.account_ids))
            for member in (members.get(account),)
        ),
    )
    return digest.hexdigest()


def scope_of(saved: SavedPlan, manifest: Manifest) -> tuple[list[Service], list[str]]:
    """The services and regions to run a saved plan over; PlanRefused if the manifest lacks one.

    The plan's scope is not a ``--service``/``--region`` the user passed, so a manifest that
    no longer has one of them is named as what it is: a manifest changed since the plan.
    """
    missing: list[str] = []
    lost_services = [str(s) for s in saved.services if s not in manifest.services]
    if lost_services:
        configured = ", ".join(s for s in registry.NAMES if s in manifest.services)
        missing.append(
            f"the plan covers service {', '.join(lost_services)}, which the manifest "
            f"{manifest.source} does not configure (it configures {configured or 'none'})"
        )
    lost_regions = [r for r in saved.regions if r not in manifest.regions]
    if lost_regions:
        missing.append(
            f"the plan covers region {', '.join(lost_regions)}, which the manifest "
            f"{manifest.source} does not list (it lists {', '.join(manifest.regions)})"
        )
    if missing:
        raise PlanRefused(
            "saved plan refused, nothing applied: "
            + "; ".join(missing)
            + "; the manifest changed since the plan was made: make a new plan"
        )
    return list(saved.services), list(saved.regions)


def _action(entry: Mapping[str, Any]) -> Action:
    return Action(
        ShardKey(registry.service(entry["service"]), str(entry["region"])),
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
    by hand, which :func:`load` refuses, so only a SavedPlan built otherwise) still gets its
    action-level reason, so no stale action goes unmentioned.
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
    where = f"{action.key.service} {action.key.region} {action.step.value}"
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
