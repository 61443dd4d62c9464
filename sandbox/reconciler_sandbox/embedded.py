"""The sandbox as another program embeds it: the one function the ``reconciler.sandbox`` entry
point names.

The reconciler's ``--sandbox STATE.yaml`` looks this function up by its entry point and never
imports this package by name, so the two distributions stay independent: the product wheel
ships no sandbox, and the sandbox needs nothing of the product. The contract is deliberately
small and typed only with builtins: :func:`start` loads the state file (a bad one raises
``ValueError`` with a one-line message naming the file and field), serves it on a free loopback
port for the duration of the ``with`` block, and hands back an object with ``credentials``
(access key, secret), ``endpoint_url`` and ``save(path)``.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from reconciler_sandbox.server import Sandbox, SandboxOptions
from reconciler_sandbox.state import SandboxState


class EmbeddedSandbox:
    """A running sandbox, as :func:`start` yields it."""

    def __init__(self, sandbox: Sandbox) -> None:
        self._sandbox = sandbox

    @property
    def credentials(self) -> tuple[str, str]:
        return self._sandbox.credentials

    @property
    def endpoint_url(self) -> str:
        return self._sandbox.endpoint_url

    def save(self, path: str) -> None:
        """Write the sandbox's state now (the same format it was loaded from); OSError if not."""
        self._sandbox.state.save(path)


@contextmanager
def start(state_path: str) -> Iterator[EmbeddedSandbox]:
    """Serve the state file at ``state_path`` on 127.0.0.1 until the block ends."""
    state = SandboxState.load(state_path)
    with Sandbox(state, SandboxOptions(), host="127.0.0.1", port=0) as sandbox:
        sandbox.start()
        yield EmbeddedSandbox(sandbox)
