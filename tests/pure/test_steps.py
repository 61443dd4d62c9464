"""The step table: every plan step declared once, and read (not restated) by every consumer.

Aspects under test:
- every member of ``Step`` has exactly one declaration, and the table refuses a step declared
  twice or not at all;
- the declarations are consistent: a member-side step has no administrator-side call and every
  other step has one; a step that takes an account out may leave it absent; counts have
  distinct keys and positions, in the summary's documented key order;
- the planner, applier, verifier and reporter keep no per-step knowledge of their own: they
  name no ``Step`` member (the planner only in its rules, ``_shard_actions``), and spell no
  step's operation, wording, count or "already done" text;
- each of them reads the table: changing one declaration changes what the planner prints, what
  the applier counts as already done, what the verifier accepts and what the reporter says;
- the table of steps (docs/explanation/how-it-works.md) says what the declarations say (order, symbol, step, API call,
  and what verification expects afterwards);
- ``operation_of`` (the seam for per-service operation names) gives every step's operation in
  every service, and the plan's actions carry it.
"""

from __future__ import annotations

import ast
import dataclasses
import re
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any, cast

import pytest

import reconciler
from reconciler import steps as steps_module
from reconciler.apply import AccountProgress, ShardApplication, apply_shard
from reconciler.model import (
    DesiredMember,
    InvitationSettings,
    MemberStatus,
    Mode,
    ObservedMember,
    Service,
    ServiceSettings,
    ShardKey,
    ShardObservation,
    UnprocessedAccount,
)
from reconciler.pipeline import RunReport
from reconciler.plan import Action, build_plan
from reconciler.report import render_text, summary
from reconciler.services import registry
from reconciler.steps import STEPS, After, Step, StepSpec, counted, has_step, operation_of
from reconciler.verify import Outcome, verify_shard
from tests.factories import GD_EAST, account, desired_members, desired_state, observed

PACKAGE = Path(reconciler.__file__).parent
README = PACKAGE.parent / "docs" / "explanation" / "how-it-works.md"
CONSUMERS = ("plan.py", "apply.py", "verify.py", "report.py")
# Where a consumer may name a step: the planner's rules say which accounts each step gets.
RULES = {"plan.py": {"_shard_actions"}}


def test_every_step_has_exactly_one_declaration() -> None:
    assert list(STEPS) == list(Step)
    assert all(spec.step is step for step, spec in STEPS.items())
    assert all(step.spec is STEPS[step] for step in Step)


def test_the_table_refuses_a_step_declared_twice_or_not_at_all() -> None:
    specs = list(STEPS.values())
    with pytest.raises(ValueError, match="create is declared twice"):
        steps_module._declare(*specs, STEPS[Step.CREATE])
    with pytest.raises(ValueError, match="without a declaration: accept"):
        steps_module._declare(*(spec for spec in specs if spec.step is not Step.ACCEPT))


def test_the_declarations_are_consistent() -> None:
    for spec in STEPS.values():
        assert (spec.call is None) == spec.member_side, spec.step
        assert all((spec.operation, spec.symbol, spec.past, spec.modes)), spec.step
        if spec.removes:
            assert spec.after.absent_ok, spec.step
        if spec.after.statuses is None and not spec.after.joined:
            # It must leave the account gone: otherwise no account could ever pass.
            assert spec.after.absent_ok, spec.step
    counts = [count for count, _ in counted()]
    assert len({count.key for count in counts}) == len(counts)
    assert [count.rank for count in counts] == sorted({count.rank for count in counts})
    # The JSON summary's key order is part of its documented contract.
    assert [count.key for count in counts] == [
        "to_create",
        "to_invite",
        "to_repair",
        "to_restart",
        "to_accept",
        "to_remove",
    ]


def _code_nodes(tree: ast.Module) -> Iterator[tuple[str | None, ast.AST]]:
    """Every node with the top-level function it sits in (None: module level); docstrings
    are left out, since prose may well name a step."""

    def docstring_ids(node: ast.AST) -> set[int]:
        found: set[int] = set()
        for child in ast.walk(node):
            if isinstance(
                child, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef
            ):
                body = child.body
                if (
                    body
                    and isinstance(body[0], ast.Expr)
                    and isinstance(body[0].value, ast.Constant)
                ):
                    found.add(id(body[0].value))
        return found

    skip = docstring_ids(tree)
    for top in tree.body:
        owner = top.name if isinstance(top, ast.FunctionDef | ast.ClassDef) else None
        if owner is not None:
            # mutmut's copy of a module keeps each function as x_<name>__mutmut_<n> (and
            # _orig): still that function's code (tests/mutation runs these tests on it).
            owner = re.sub(r"^x_(.+)__mutmut_(?:orig|\d+)$", r"\1", owner)
        for node in ast.walk(top):
            if id(node) not in skip:
                yield owner, node


def _step_knowledge(spec: StepSpec) -> set[str]:
    words = {spec.operation, spec.past, *spec.already_done}
    if spec.count is not None:
        words |= {spec.count.key, spec.count.words}
    for refusal in spec.known_refusals:
        words |= {refusal.fix, *refusal.fragments}
    return words


@pytest.mark.parametrize("module", CONSUMERS)
def test_no_consumer_keeps_a_table_of_its_own(module: str) -> None:
    tree = ast.parse((PACKAGE / module).read_text(encoding="utf-8"))
    allowed = RULES.get(module, set())
    named: list[str] = []
    spelled: list[str] = []
    operations = {spec.operation for spec in STEPS.values()}
    knowledge = set().union(*(_step_knowledge(spec) for spec in STEPS.values()))
    for owner, node in _code_nodes(tree):
        if (
            isinstance(node, ast.Attribute)
            and isinstance(node.value, ast.Name)
            and node.value.id == "Step"
            and node.attr in Step.__members__
            and owner not in allowed
        ):
            named.append(f"line {node.lineno}: Step.{node.attr} in {owner or 'module level'}")
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            text = node.value
            if text in knowledge or any(operation in text for operation in operations):
                spelled.append(f"line {getattr(node, 'lineno', '?')}: {text!r}")
    assert named == [], f"{module} names steps outside its rules: {named}"
    assert spelled == [], f"{module} spells what the step table declares: {spelled}"


# --- each consumer reads the table --------------------------------------------------------


def _redeclare(monkeypatch: pytest.MonkeyPatch, step: Step, **changes: Any) -> None:
    """Change one declaration for one test (the table is a plain mapping underneath)."""
    table = cast(dict[Step, StepSpec], STEPS)
    monkeypatch.setitem(table, step, dataclasses.replace(STEPS[step], **changes))


class _Port:
    """A port whose every call answers with the given unprocessed entries."""

    def __init__(self, key: ShardKey, answer: str | None = None) -> None:
        self.key = key
        self.answer = answer
        self.members: dict[str, str] = {}

    def observe(self) -> ShardObservation:
        raise NotImplementedError

    def _unprocessed(self, account_ids: Sequence[str]) -> list[UnprocessedAccount]:
        if self.answer is None:
            return []
        return [UnprocessedAccount(account_id, self.answer) for account_id in account_ids]

    def create_members(self, members: Sequence[DesiredMember]) -> list[UnprocessedAccount]:
        return self._unprocessed([member.account_id for member in members])

    def invite_members(
        self, account_ids: Sequence[str], settings: InvitationSettings
    ) -> list[UnprocessedAccount]:
        return self._unprocessed(account_ids)

    def get_members(
        self, account_ids: Sequence[str]
    ) -> tuple[list[ObservedMember], list[UnprocessedAccount]]:
        found = [
            ObservedMember(a, None, MemberStatus.parse(self.members[a]), self.members[a])
            for a in account_ids
            if a in self.members
        ]
        return found, []

    def delete_members(self, account_ids: Sequence[str]) -> list[UnprocessedAccount]:
        return self._unprocessed(account_ids)

    def disassociate_members(self, account_ids: Sequence[str]) -> list[UnprocessedAccount]:
        return self._unprocessed(account_ids)

    def start_monitoring_members(self, account_ids: Sequence[str]) -> list[UnprocessedAccount]:
        return self._unprocessed(account_ids)

    def organization_auto_enable(self) -> str | None:
        return None


def _create_plan() -> tuple[RunReport, Action]:
    member = account(1)
    desired = desired_state({GD_EAST: desired_members([member])})
    plan = build_plan(desired, {GD_EAST: observed(GD_EAST)})
    report = RunReport(desired, {}, plan, True, None, 0.0)
    return report, plan.actions[0]


def test_the_planner_and_reporter_read_symbol_wording_and_count(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    report, action = _create_plan()
    assert action.step is Step.CREATE
    assert "  + create" in render_text(report)
    assert "Plan: 1 to create, 0 to invite (1 action)" in render_text(report)

    count = STEPS[Step.CREATE].count
    assert count is not None
    _redeclare(
        monkeypatch, Step.CREATE, symbol="*", count=dataclasses.replace(count, words="to onboard")
    )
    text = render_text(report)
    assert "  * create" in text
    assert "Plan: 1 to onboard, 0 to invite (1 action)" in text


def test_the_applier_reads_what_counts_as_already_done(monkeypatch: pytest.MonkeyPatch) -> None:
    member = DesiredMember(account(1), "a@example.com")
    settings = ServiceSettings(Service("guardduty"), Mode.ORGANIZATION)
    action = Action(GD_EAST, Step.CREATE, (member,))

    port = _Port(GD_EAST, answer="The account is enrolled elsewhere.")
    refused = apply_shard(port, [action], settings).accounts[member.account_id]
    assert refused.failure == "CreateMembers: The account is enrolled elsewhere."

    _redeclare(monkeypatch, Step.CREATE, already_done=("enrolled elsewhere",), past="enrolled")
    done = apply_shard(port, [action], settings).accounts[member.account_id]
    assert (done.failure, done.done, done.step) == (None, ["already enrolled"], Step.CREATE)


def test_the_verifier_reads_the_status_a_step_leaves(monkeypatch: pytest.MonkeyPatch) -> None:
    port = _Port(GD_EAST)
    port.members = {account(1): "Disabled"}
    application = ShardApplication(GD_EAST, {}, Mode.ORGANIZATION)
    application.accounts[account(1)] = AccountProgress(
        account(1), done=["monitoring started"], step=Step.START_MONITORING
    )
    results, _ = verify_shard(port, application)
    assert [(r.outcome, r.reason) for r in results] == [
        (Outcome.FAILED, "status Disabled after apply; expected Enabled")
    ]

    _redeclare(monkeypatch, Step.START_MONITORING, after=After(frozenset({MemberStatus.DISABLED})))
    results, _ = verify_shard(port, application)
    assert [(r.outcome, r.reason) for r in results] == [(Outcome.CONVERGED, "monitoring started")]


def test_a_joined_step_expects_what_the_mode_accepts() -> None:
    after = STEPS[Step.INVITE].after
    assert after.statuses_in(Mode.ORGANIZATION) == frozenset({MemberStatus.ENABLED})
    assert MemberStatus.INVITED in (after.statuses_in(Mode.INVITATION) or ())


def test_every_step_has_its_operation_in_every_service_and_actions_carry_it() -> None:
    for step in Step:
        for service in registry.NAMES:
            if has_step(step, service):
                # Every service calls the step's own operation, but Detective's accept.
                own = {("detective", Step.ACCEPT): "AcceptInvitation"}
                expected = own.get((service, step), STEPS[step].operation)
                assert operation_of(step, service) == expected
    report, action = _create_plan()
    assert action.operation == operation_of(Step.CREATE, GD_EAST.service) == "CreateMembers"
    assert summary(report)["to_create"] == 1


def _listed(statuses: frozenset[MemberStatus]) -> str:
    names = [f"`{name}`" for name in sorted(status.value for status in statuses)]
    return names[0] if len(names) == 1 else f"{', '.join(names[:-1])} or {names[-1]}"


def _afterwards(spec: StepSpec) -> str:
    """The README's "verified afterwards" cell, from the declaration."""
    after = spec.after
    if after.joined:
        per_mode = [(mode, after.statuses_in(mode) or frozenset()) for mode in Mode]
        shown = [(mode, statuses) for mode, statuses in per_mode if mode in spec.modes]
        if len(shown) == 1:
            return _listed(shown[0][1])
        return "; ".join(f"{mode.value} mode: {_listed(statuses)}" for mode, statuses in shown)
    if after.statuses is None:
        return "gone"
    return _listed(after.statuses) + (", or gone" if after.absent_ok else "")


def test_the_readme_table_of_steps_says_what_the_declarations_say() -> None:
    section = README.read_text(encoding="utf-8").split("### What the reconciler does to each", 1)
    table = section[1].split("\n\n| observed status", 1)[0]
    rows = [line for line in table.splitlines() if line.startswith("| `")]
    documented = []
    for row in rows:
        cells = [cell.strip() for cell in row.strip("|").split("|")]
        documented.append((cells[0], cells[1], cells[2].split(" ")[0], cells[-1]))
    declared = [
        (f"`{spec.symbol}`", f"`{step.value}`", spec.operation, _afterwards(spec))
        for step, spec in STEPS.items()
    ]
    assert documented == declared
