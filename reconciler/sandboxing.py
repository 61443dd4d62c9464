"""How ``--sandbox`` finds the sandbox: by its entry point, never by importing it by name.

The sandbox is a distribution of its own (``sandbox/`` in this repository, ``pip install -e
./sandbox``), which the product wheel and the container image do not contain. It announces one
function in the ``reconciler.sandbox`` entry-point group; this module looks it up and states the
small contract the composition root relies on. When it is not installed, ``--sandbox`` is a
usage error that says how to install it, before any AWS call.

It hands the composition root a context manager yielding an :class:`EmbeddedSandbox`.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager
from importlib.metadata import entry_points
from typing import Protocol, cast

from reconciler.errors import UsageError

GROUP = "reconciler.sandbox"
NAME = "embedded"
INSTALL_HINT = "pip install -e ./sandbox (the reconciler-sandbox distribution of this repository)"


class EmbeddedSandbox(Protocol):
    """A running sandbox: where it listens, what to sign with, and how to save its state."""

    @property
    def credentials(self) -> tuple[str, str]: ...

    @property
    def endpoint_url(self) -> str: ...

    def save(self, path: str) -> None: ...


Starter = Callable[[str], AbstractContextManager[EmbeddedSandbox]]


def starter() -> Starter:
    """The installed sandbox's ``start(state_path)``; UsageError when none is installed."""
    found = entry_points(group=GROUP, name=NAME)
    if not found:
        raise UsageError(f"--sandbox: the sandbox is not installed; {INSTALL_HINT}")
    (entry,) = tuple(found)[:1]
    return cast(Starter, entry.load())


def embedded(state_path: str) -> AbstractContextManager[EmbeddedSandbox]:
    """Start the sandbox from ``state_path``; a bad state file is a UsageError naming it."""
    return _Started(starter(), state_path)


class _Started(AbstractContextManager[EmbeddedSandbox]):
    """Defers the start to ``with`` and turns the sandbox's ValueError into a usage error."""

    def __init__(self, start: Starter, state_path: str) -> None:
        self._start = start
        self._state_path = state_path
        self._inner: AbstractContextManager[EmbeddedSandbox] | None = None

    def __enter__(self) -> EmbeddedSandbox:
        self._inner = self._start(self._state_path)
        try:
            return self._inner.__enter__()
        except ValueError as exc:
            raise UsageError(f"--sandbox: {exc}") from None

    def __exit__(self, *exc_info: object) -> bool | None:
        assert self._inner is not None
        return self._inner.__exit__(*exc_info)  # type: ignore[arg-type]
