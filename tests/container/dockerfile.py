"""Just enough of the Dockerfile and .dockerignore formats to test ours without a Docker engine.

No Docker engine runs on the development machines or in CI, so the container tests read the
Dockerfile the way the builder does (line continuations, comments, stages, exec-form JSON) and
replay its install steps in a virtual environment. This module is the reading half.
"""

from __future__ import annotations

import json
import re
import shlex
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
DOCKERFILE = REPO / "Dockerfile"
DOCKERIGNORE = REPO / ".dockerignore"


@dataclass(frozen=True)
class Instruction:
    keyword: str  # upper case: FROM, RUN, COPY, ...
    args: str  # the rest of the logical line, continuations joined
    line: int  # 1-based line the instruction starts on


@dataclass
class Stage:
    base: str
    name: str | None
    instructions: list[Instruction] = field(default_factory=list)

    def all(self, keyword: str) -> list[Instruction]:
        return [ins for ins in self.instructions if ins.keyword == keyword]

    def env(self) -> dict[str, str]:
        """The stage's ENV, in the ``KEY=VALUE ...`` form (the only one our Dockerfile uses)."""
        values: dict[str, str] = {}
        for ins in self.all("ENV"):
            for item in shlex.split(ins.args):
                key, sep, value = item.partition("=")
                if not sep:
                    raise ValueError(f"line {ins.line}: ENV without '=' is not supported: {item}")
                values[key] = value
        return values


@dataclass(frozen=True)
class Copy:
    flags: dict[str, str]
    sources: list[str]
    dest: str


def instructions(text: str) -> list[Instruction]:
    """Logical instructions: comments dropped, backslash continuations joined."""
    result: list[Instruction] = []
    pending: list[str] = []
    start = 0
    for number, raw in enumerate(text.splitlines(), start=1):
        stripped = raw.strip()
        if stripped.startswith("#") or (not stripped and not pending):
            continue  # a comment, also inside a continuation, as the builder does
        if not pending:
            start = number
        if stripped.endswith("\\"):
            pending.append(stripped[:-1].strip())
            continue
        pending.append(stripped)
        logical = " ".join(part for part in pending if part)
        pending = []
        keyword, _, args = logical.partition(" ")
        result.append(Instruction(keyword.upper(), args.strip(), start))
    if pending:
        raise ValueError("the Dockerfile ends inside a line continuation")
    return result


def stages(text: str) -> list[Stage]:
    found: list[Stage] = []
    for ins in instructions(text):
        if ins.keyword == "FROM":
            words = ins.args.split()
            words = [word for word in words if not word.startswith("--")]
            name = words[2] if len(words) == 3 and words[1].upper() == "AS" else None
            found.append(Stage(base=words[0], name=name))
        elif found:
            found[-1].instructions.append(ins)
        elif ins.keyword != "ARG":
            raise ValueError(f"line {ins.line}: {ins.keyword} before the first FROM")
    return found


def exec_form(ins: Instruction) -> list[str]:
    """The JSON array of an exec-form instruction (ENTRYPOINT, CMD); ValueError otherwise."""
    try:
        value = json.loads(ins.args)
    except json.JSONDecodeError as exc:
        raise ValueError(f"line {ins.line}: {ins.keyword} is not in exec (JSON) form") from exc
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise ValueError(f"line {ins.line}: {ins.keyword} is not a JSON array of strings")
    return value


def parse_copy(ins: Instruction) -> Copy:
    words = shlex.split(ins.args)
    flags: dict[str, str] = {}
    while words and words[0].startswith("--"):
        key, _, value = words.pop(0)[2:].partition("=")
        flags[key] = value
    if len(words) < 2:
        raise ValueError(f"line {ins.line}: COPY needs a source and a destination")
    return Copy(flags=flags, sources=words[:-1], dest=words[-1])


def shell_commands(ins: Instruction) -> list[str]:
    """A shell-form RUN split at ``&&`` into its commands (our RUNs are plain ``a && b``)."""
    return [part.strip() for part in ins.args.split("&&") if part.strip()]


# --- .dockerignore -----------------------------------------------------------------------------


def ignore_patterns(text: str) -> list[str]:
    patterns: list[str] = []
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        patterns.append(line)
    return patterns


def _pattern_regex(pattern: str) -> re.Pattern[str]:
    out: list[str] = []
    i = 0
    while i < len(pattern):
        if pattern.startswith("**/", i):
            out.append("(?:.*/)?")
            i += 3
        elif pattern.startswith("**", i):
            out.append(".*")
            i += 2
        elif pattern[i] == "*":
            out.append("[^/]*")
            i += 1
        elif pattern[i] == "?":
            out.append("[^/]")
            i += 1
        else:
            out.append(re.escape(pattern[i]))
            i += 1
    return re.compile("".join(out))


def is_ignored(path: str, patterns: list[str]) -> bool:
    """Whether the builder leaves ``path`` (relative, '/'-separated) out of the build context.

    Docker's rules: the last matching pattern wins, ``!`` re-includes, and a pattern that
    matches a directory matches everything below it.
    """
    parts = path.strip("/").split("/")
    prefixes = ["/".join(parts[: i + 1]) for i in range(len(parts))]
    ignored = False
    for pattern in patterns:
        negate = pattern.startswith("!")
        body = pattern[1:] if negate else pattern
        regex = _pattern_regex(body.strip().strip("/"))
        if any(regex.fullmatch(prefix) for prefix in prefixes):
            ignored = not negate
    return ignored
