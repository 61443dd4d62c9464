"""What the reliability suites share: the onboarding world, the CLI as a real process, checks.

The reconciler runs here as what it is in production, a separate ``reconcile`` process, pointed
at an embedded sandbox through ``AWS_ENDPOINT_URL`` and ordinary credentials in its
environment. A process can be SIGKILLed for real, and its peak memory measured by the kernel.

Peak memory: ``ru_maxrss`` of a child starts from the RSS of the process that spawned it (the
kernel carries the high-water mark across fork and exec), so a child spawned straight from
pytest would report pytest's own size. :func:`run_measured` therefore spawns the CLI through
``_spawn.py``, a stdlib-only launcher of about 10 MB, and reads the child's ``ru_maxrss``
from the launcher's ``wait4``: an upper bound of the CLI's own peak, never an underestimate.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from reconciler_sandbox import Sandbox
from tests.cli.conftest import ADMIN, manifest, root_email, world
from tests.conftest import FAKE_ENV, UNSET

SPAWN = Path(__file__).with_name("_spawn.py")
REGIONS = ("us-east-1", "eu-west-1")
ACCEPT_ROLE = "OrganizationAccountAccessRole"


def external_account(n: int) -> str:
    """Accounts outside the organization: they join by invitation, and accept it themselves."""
    return f"{500000000000 + n:012d}"


@dataclass(frozen=True)
class MemberGap:
    """What a member account lacks in one region with ``member_side_writes``: accepting there
    makes ``write`` first (as the member), which can be lost like any other write."""

    region: str
    entry: dict[str, Any]  # the member's region entry for the service, without it
    write: str  # the member-side operation that fills the gap
    applies: Callable[[int], bool]  # which members (by index) lack it
    # Whether the member now has it (the sandbox's view of its own account and region).
    filled: Callable[[Any, str, str], bool]
    # Whether accepting makes the write in every member and region, answered "already done"
    # where nothing lacks (Security Hub's EnableSecurityHub, a 409 then).
    everywhere: bool = False


@dataclass(frozen=True)
class Traits:
    """Everything the suites need to know of one service, as data: its status word for an
    onboarded member, the administrator calls that create and invite, the member side of the
    accept, the manifest's invitation settings, and what the members lack."""

    name: str
    enabled: str  # the sandbox's status of a member that accepted, associated and enabled
    creates: tuple[str, ...]  # administrator calls that create members (and count "create")
    invites: tuple[str, ...]  # those that send invitations (counting "invite"); may be creates
    accepts: tuple[str, ...]  # the member-side accept, as the member
    invitation: Mapping[str, Any]  # services.<name>.invitation, without ``accept``
    accept: Mapping[str, Any]  # services.<name>.invitation.accept
    # What the member reads of its own side when it accepts (its gap's check, its invitations).
    member_reads: tuple[str, ...]
    # Whether invitations verify the email first (GetMembers reads it once before accepting).
    verifies_email: bool
    gap: MemberGap | None = None
    # The sandbox's events of a member of this service: every one happens once per shard.
    events: tuple[str, ...] = ("create", "invite")

    @property
    def administrator_writes(self) -> tuple[str, ...]:
        """The administrator's mutating calls of an onboarding, in order, each once."""
        return tuple(dict.fromkeys((*self.creates, *self.invites)))

    @property
    def member_side(self) -> tuple[str, ...]:
        """Every member-side write the onboarding makes, in the order it makes them."""
        return (*((self.gap.write,) if self.gap else ()), *self.accepts)


# With member_side_writes, of the outside accounts every third has no GuardDuty detector in
# the second region (accepting creates it: ``createMemberDetector``), and every third from the
# second has no Security Hub in the first (accepting enables it): so every member-side write is
# made, and can be lost. A Detective member needs nothing of its own to accept.
NO_DETECTOR = MemberGap(
    REGIONS[1],
    {"guardduty": {}},
    "CreateDetector",
    lambda i: i % 3 == 1,
    lambda state, account, region: state.detector_status(account, region) == "ENABLED",
)
NO_HUB = MemberGap(
    REGIONS[0],
    {"securityhub": {"enabled": False}},
    "EnableSecurityHub",
    lambda i: i % 3 == 2,
    lambda state, account, region: bool(state.hub_enabled(account, region)),
    everywhere=True,
)
TRAITS: dict[str, Traits] = {
    t.name: t
    for t in (
        Traits(
            "guardduty",
            enabled="Enabled",
            creates=("CreateMembers",),
            invites=("InviteMembers",),
            accepts=("AcceptAdministratorInvitation",),
            invitation={"disableEmailNotification": True},
            accept={"roleName": ACCEPT_ROLE, "createMemberDetector": True},
            member_reads=("ListDetectors", "ListInvitations"),
            verifies_email=True,
            gap=NO_DETECTOR,
        ),
        Traits(
            "securityhub",
            enabled="Enabled",
            creates=("CreateMembers",),
            invites=("InviteMembers",),
            accepts=("AcceptAdministratorInvitation",),
            invitation={},
            accept={"roleName": ACCEPT_ROLE},
            member_reads=("ListInvitations",),
            verifies_email=False,
            gap=NO_HUB,
        ),
        # CreateMembers creates and invites in one call; the member accepts with
        # AcceptInvitation(GraphArn).
        Traits(
            "detective",
            enabled="ENABLED",
            creates=("CreateMembers",),
            invites=("CreateMembers",),
            accepts=("AcceptInvitation",),
            invitation={"disableEmailNotification": True},
            accept={"roleName": ACCEPT_ROLE},
            member_reads=("ListInvitations",),
            verifies_email=True,
        ),
    )
}
SERVICES = tuple(TRAITS)
MEMBER_SERVICES = SERVICES  # the services whose mutating calls a crash point counts
# Invitations that verify emails (GuardDuty, Detective) read as verifying once before they
# settle, as AWS's first answers do: accepting and verifying wait for the outcome.
EMAIL_VERIFICATION_READS = 1


def member_side_writes(count: int) -> Counter[str]:
    """``service.Operation`` -> how many member-side writes onboarding ``count`` members with
    ``member_side_writes`` makes (one accept per member and shard, one per gap)."""
    out: Counter[str] = Counter()
    for traits in TRAITS.values():
        for operation in traits.accepts:
            out[f"{traits.name}.{operation}"] += count * len(REGIONS)
        gap = traits.gap
        if gap is not None:
            made = count * len(REGIONS) if gap.everywhere else sum(map(gap.applies, range(count)))
            out[f"{traits.name}.{gap.write}"] += made
    return out


def onboarding_world(
    count: int, *, member_side_writes: bool = False
) -> tuple[dict[str, Any], list[str]]:
    """The administrator ready in both regions for every service; ``count`` outside accounts,
    each with what accepting needs of every service in every region.

    With ``member_side_writes`` (the crash and fault suites), the members a service's
    :class:`MemberGap` names lack it, which accepting then creates or enables, and invitations
    that verify emails pass through their verifying status.
    """
    members = [external_account(i) for i in range(count)]
    state = world(org_accounts=2, regions=REGIONS, external=members)
    if not member_side_writes:
        return state, members
    state["emailVerificationReads"] = EMAIL_VERIFICATION_READS
    for index, account in enumerate(members):
        # A copy: world() shares one "everywhere" mapping between its accounts.
        regions = dict(state["accounts"][account]["regions"])
        for traits in TRAITS.values():
            gap = traits.gap
            if gap is not None and gap.applies(index):
                # A named region's entry for a service replaces the "*" one for that service.
                regions[gap.region] = {**regions.get(gap.region, {}), **gap.entry}
        state["accounts"][account]["regions"] = regions
    return state, members


def onboarding_manifest(members: Sequence[str], *, accept: bool = True) -> dict[str, Any]:
    """Invitation mode for every service in both regions, accepting in the member accounts
    (creating a GuardDuty detector where there is none)."""
    data = manifest(members, regions=list(REGIONS), **dict.fromkeys(SERVICES, "invitation"))
    for traits in TRAITS.values():
        invitation = dict(traits.invitation)
        if accept:
            invitation["accept"] = dict(traits.accept)
        data["services"][traits.name]["invitation"] = invitation
    return data


def write_yaml(path: Path, data: Mapping[str, Any]) -> Path:
    path.write_text(yaml.safe_dump(dict(data), sort_keys=False))
    return path


def safe_env() -> dict[str, str]:
    """The process environment without any way to reach real AWS (as tests/conftest.py sets
    it for every test, rebuilt here because module-scoped runs start before that fixture)."""
    env = {k: v for k, v in os.environ.items() if k not in UNSET}
    env.update(FAKE_ENV)
    return env


def cli_env(sandbox: Sandbox, **extra: str) -> dict[str, str]:
    """The environment of a CLI process: this test's fake-AWS environment plus the sandbox."""
    access_key, secret_key = sandbox.credentials
    env = safe_env()
    env.update(
        AWS_ENDPOINT_URL=sandbox.endpoint_url,
        AWS_ACCESS_KEY_ID=access_key,
        AWS_SECRET_ACCESS_KEY=secret_key,
        NO_COLOR="1",
        PYTHONDONTWRITEBYTECODE="1",
    )
    env.pop("AWS_SESSION_TOKEN", None)
    env.update(extra)
    return env


def cli_command(*args: str | Path) -> list[str]:
    return [sys.executable, "-m", "reconciler.cli", *(str(a) for a in args)]


@dataclass
class Completed:
    """One finished ``reconcile`` process."""

    args: list[str]
    code: int
    stdout: str
    stderr: str
    seconds: float
    peak_rss_kb: int | None = None
    calls: list[dict[str, Any]] = field(default_factory=list)

    def json(self) -> Any:
        return json.loads(self.stdout)

    def log_events(self) -> list[dict[str, Any]]:
        """stderr as JSON log events (``--log-format json``); a non-JSON line fails the test."""
        return [json.loads(line) for line in self.stderr.splitlines() if line.strip()]

    def describe(self) -> str:
        return (
            f"exit {self.code} from {' '.join(self.args[2:])}\n--- stdout\n{self.stdout[-4000:]}"
            f"\n--- stderr\n{self.stderr[-4000:]}"
        )


def spawn(args: Sequence[str], env: Mapping[str, str], out: Path) -> subprocess.Popen[bytes]:
    """Start the CLI with stdout and stderr going to files (no pipe can fill up and block)."""
    out.mkdir(parents=True, exist_ok=True)
    with (out / "stdout").open("wb") as stdout, (out / "stderr").open("wb") as stderr:
        return subprocess.Popen(
            list(args), env=dict(env), stdin=subprocess.DEVNULL, stdout=stdout, stderr=stderr
        )


def collect(
    args: Sequence[str], code: int, out: Path, started: float, peak: int | None = None
) -> Completed:
    return Completed(
        list(args),
        code,
        (out / "stdout").read_text(encoding="utf-8", errors="replace"),
        (out / "stderr").read_text(encoding="utf-8", errors="replace"),
        time.monotonic() - started,
        peak,
    )


def run(
    sandbox: Sandbox, out: Path, *args: str | Path, timeout: float = 600, **env: str
) -> Completed:
    """Run ``reconcile args`` to completion; the sandbox's calls of this run are attached."""
    sandbox.clear_calls()
    command = cli_command(*args)
    started = time.monotonic()
    process = spawn(command, cli_env(sandbox, **env), out)
    try:
        code = process.wait(timeout=timeout)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    result = collect(command, code, out, started)
    result.calls = sandbox.calls
    return result


def run_measured(
    sandbox: Sandbox | None, out: Path, *args: str | Path, env: Mapping[str, str] | None = None
) -> Completed:
    """Like :func:`run`, through the launcher, with the kernel's peak RSS of the CLI."""
    if sandbox is not None:
        sandbox.clear_calls()
    command = cli_command(*args)
    report = out / "rusage"
    launcher = [sys.executable, "-S", "-E", str(SPAWN), str(report), *command]
    started = time.monotonic()
    environment = dict(env) if env is not None else safe_env()
    process = spawn(launcher, environment, out)
    try:
        process.wait(timeout=120)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    code_text, peak_text = report.read_text().split()
    result = collect(command, int(code_text), out, started, int(peak_text))
    if sandbox is not None:
        result.calls = sandbox.calls
    return result


# -- the desired end state ------------------------------------------------------------------


def member_records(sandbox: Sandbox) -> dict[tuple[str, str], Any]:
    """Per (service, region): the administrator's member records, by account."""
    return {
        (service, region): {
            m["accountId"]: m for m in sandbox.state.members(ADMIN, region, service)
        }
        for service in SERVICES
        for region in REGIONS
    }


def divergences(sandbox: Sandbox, members: Sequence[str]) -> list[str]:
    """Everything that differs from the onboarded state; empty when converged.

    Per shard: exactly the manifest's accounts are members, each enabled (the service's word,
    :attr:`Traits.enabled`) by invitation with
    the manifest's email, associated with our administrator, with no invitation left pending,
    created once, invited once, and one invitation email sent.
    """
    state = sandbox.state
    problems: list[str] = []
    wanted = set(members)
    for (service, region), records in member_records(sandbox).items():
        shard = f"{service}/{region}"
        extra = set(records) - wanted
        if extra:
            problems.append(f"{shard}: unexpected members {sorted(extra)}")
        for account in members:
            record = records.get(account)
            if record is None:
                problems.append(f"{shard} {account}: not a member")
                continue
            if record["status"] != TRAITS[service].enabled:
                problems.append(f"{shard} {account}: status {record['status']}")
            if record["type"] != "invitation" or record.get("email") != root_email(account):
                problems.append(f"{shard} {account}: record {record}")
            if state.administrator_of(account, region, service) != ADMIN:
                problems.append(f"{shard} {account}: not associated with {ADMIN}")
            if state.invitations_for(account, region, service):
                problems.append(f"{shard} {account}: an invitation is still pending")
            problems.extend(duplicate_writes(sandbox, service, region, account, exact=True))
            sent = record.get("invitationsSent", 0)
            if sent != 1:
                problems.append(f"{shard} {account}: {sent} invitation emails sent")
    return problems


def duplicate_writes(
    sandbox: Sandbox, service: str, region: str, account: str, *, exact: bool = False
) -> list[str]:
    """Creations or invitations of ``account`` past the first (or, with ``exact``, not one)."""
    problems = []
    for event in TRAITS[service].events:
        count = sandbox.state.event_count(event, ADMIN, region, service, account)
        if count > 1 or (exact and count != 1):
            problems.append(f"{service}/{region} {account}: {event}d {count} times")
    return problems


def mutating_member_calls(calls: Iterable[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    """The mutating requests of the member services that reached their handler."""
    return [
        c
        for c in calls
        if c["mutating"]
        and c["service"] in MEMBER_SERVICES
        and c["fault"] in (None, "slow", "drop")
    ]


# -- what a run claims, against what the sandbox holds --------------------------------------


def unconverged(sandbox: Sandbox, members: Sequence[str]) -> set[tuple[str, str, str]]:
    """(service, region, account) of every desired member not onboarded in the sandbox."""
    state = sandbox.state
    out: set[tuple[str, str, str]] = set()
    for (service, region), records in member_records(sandbox).items():
        for account in members:
            record = records.get(account)
            if (
                record is None
                or record["status"] != TRAITS[service].enabled
                or state.administrator_of(account, region, service) != ADMIN
            ):
                out.add((service, region, account))
    return out


def honesty_problems(result: Completed, sandbox: Sandbox, members: Sequence[str]) -> list[str]:
    """Whether the run told the truth about what it left behind.

    Exit 0 only when every desired member is onboarded in the sandbox; exit 1 naming, in the
    JSON ``results``, every account it did not converge with the reason (an account of a shard
    reported blocked, or in a blocking drift item, with its reason, counts as named: the run
    did not touch it); never a
    ``converged`` result for an account that is not; never another exit code.
    """
    problems: list[str] = []
    if result.code not in (0, 1):
        return [f"exit {result.code}: {result.describe()}"]
    try:
        document = result.json()
    except ValueError:
        return [f"stdout is not the JSON document: {result.describe()}"]
    left = unconverged(sandbox, members)
    status = document["summary"]["status"]
    if result.code == 0:
        if left:
            problems.append(f"exit 0 with {len(left)} unconverged accounts: {sorted(left)[:5]}")
        if status != "converged":
            problems.append(f"exit 0 but summary status {status}")
    else:
        if status != "failed":
            problems.append(f"exit 1 but summary status {status}")
        failed = {
            (r["service"], r["region"], r["account_id"]): r["reason"]
            for r in document.get("results", [])
            if r["outcome"] == "failed"
        }
        blocked = {
            (s["service"], s["region"]): s["reason"]
            for s in document["shards"]
            if s["status"] == "blocked"
        }
        # Blocking drift names an account the run would not touch (a member side that cannot
        # accept an invitation is not invited).
        held = {
            (d["service"], d["region"], d["account_id"]): d["detail"]
            for d in document.get("drift", [])
            if d["blocking"]
        }
        for service, region, account in sorted(left):
            reason = (
                failed.get((service, region, account))
                or held.get((service, region, account))
                or blocked.get((service, region))
            )
            if not reason:
                problems.append(f"{service}/{region} {account} is not converged and not named")
        if not failed and not blocked and not document["summary"].get("blocking_drift"):
            problems.append("exit 1 without any failed account, blocked shard or drift")
    for r in document.get("results", []):
        key = (r["service"], r["region"], r["account_id"])
        if r["outcome"] == "converged" and key in left:
            problems.append(f"{key} reported converged but is not")
    return problems


def dry_run_problems(result: Completed, *, administrator_role: bool = False) -> list[str]:
    """A dry run makes read calls only, all as the administrator: every request in its calls
    log is a read, made by the administrator account.

    The one exception is STS AssumeRole of ``administrator.roleArn`` when the manifest gives
    one (``administrator_role``): it changes nothing in any account, it is how the
    administrator is reached. A dry run never assumes a member role.
    """
    problems = []
    writes = sorted(
        {
            f"{c['service']}.{c['operation']}"
            for c in result.calls
            if c["mutating"] and (c["service"], c["operation"]) != ("sts", "AssumeRole")
        }
    )
    if writes:
        problems.append(f"dry run made mutating calls: {writes}")
    assumed = sum(1 for c in result.calls if c["operation"] == "AssumeRole")
    if assumed > (1 if administrator_role else 0):
        problems.append(f"dry run assumed {assumed} roles")
    callers = {c["account"] for c in result.calls} - {ADMIN}
    if callers:
        problems.append(f"dry run called as other accounts: {sorted(callers)}")
    if not result.calls:
        problems.append("dry run made no call at all (is the sandbox reached?)")
    return problems


# -- leaks ----------------------------------------------------------------------------------

# An address, or the masked form (first character, ***, # and six hex digits of its digest).
_ANY_EMAIL = re.compile(r"[A-Za-z0-9._%+\-]+(?:\*\*\*#[0-9a-f]{6})?@[A-Za-z0-9.\-]+\.[A-Za-z]{2,}")
_MASKED = re.compile(r"^[A-Za-z0-9._%+\-]\*\*\*#[0-9a-f]{6}@")


def secrets_of(sandbox: Sandbox) -> list[str]:
    """Every credential the sandbox knows: its base key pair and each issued by AssumeRole,
    whole, plus prefixes and suffixes of the secret parts (a truncated leak is a leak)."""
    needles: set[str] = set(sandbox.credentials)
    for key_id, secret, token in sandbox.issued_credentials:
        needles.update((key_id, secret, token, secret[:16], token[:24], token[-24:]))
    return sorted(needles)


def leaks(text: str, sandbox: Sandbox, members: Iterable[str], *, emails_masked: bool) -> list[str]:
    found = [f"credential {n[:4]}...{n[-4:]}" for n in secrets_of(sandbox) if n in text]
    if emails_masked:
        found += [f"email {a}" for a in members if root_email(a) in text]
        found += [
            f"unmasked email {m}" for m in set(_ANY_EMAIL.findall(text)) if not _MASKED.match(m)
        ]
    return found
