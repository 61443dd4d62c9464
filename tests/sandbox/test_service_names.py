"""A service is a plug-in of the sandbox: only its own module and the registry name it.

Everything that differs between services (the administrator-side resource and its section of
the state file, the status vocabulary, the limits and quotas, the handlers, the email
verification and organization rules) is declared in the service's module and reached through
its ``ServicePlugin``, listed in ``reconciler_sandbox/services.py``. So the words that are a
service's own (its name, label and distinctive operations and fields, as its plug-in lists
them in ``names``) appear in no other source file of the sandbox, comments and docstrings
included: a new service touches its module and the registry, nothing else.

We test these aspects:
- no sandbox source file but a service's module and the registry holds any of its words
  (the failure names the file, the line and the word);
- every registered service declares its name and label among its words, and lives in a module
  of its own, named after it;
- the check sees a planted word (so the first test could fail).
"""

from __future__ import annotations

import sys
from pathlib import Path

from reconciler_sandbox import services
from reconciler_sandbox.plugin import ServicePlugin

PACKAGE = Path(sys.modules["reconciler_sandbox"].__file__ or "").resolve().parent
REGISTRY = PACKAGE / "services.py"


def _module_file(plugin: ServicePlugin) -> Path:
    # The module that defines the service's region record is the service's module.
    module = sys.modules[plugin.region.__module__]
    return Path(module.__file__ or "").resolve()


def offences(files: list[Path], plugins: tuple[ServicePlugin, ...]) -> list[str]:
    """``file:line: word`` for every word of a service found outside its module and the registry."""
    found: list[str] = []
    for path in files:
        if path == REGISTRY:
            continue
        lines = path.read_text(encoding="utf-8").splitlines()
        for plugin in plugins:
            if path == _module_file(plugin):
                continue
            for number, line in enumerate(lines, start=1):
                for word in plugin.names:
                    if word in line:
                        found.append(f"{path.name}:{number}: {word!r} ({plugin.label})")
    return found


def test_no_sandbox_module_but_its_own_and_the_registry_names_a_service() -> None:
    files = sorted(PACKAGE.rglob("*.py"))
    assert len(files) > 10
    assert offences(files, services.PLUGINS) == []


def test_every_service_is_a_module_of_its_own_that_declares_its_words() -> None:
    assert len(services.PLUGINS) >= 2
    modules = {_module_file(plugin) for plugin in services.PLUGINS}
    assert len(modules) == len(services.PLUGINS)
    for plugin in services.PLUGINS:
        assert _module_file(plugin).name == f"{plugin.name}.py"
        assert plugin.name in plugin.names
        assert plugin.label in plugin.names
        assert plugin.behaviour.name == plugin.name


def test_the_check_sees_a_planted_word(tmp_path: Path) -> None:
    plugin = services.PLUGINS[0]
    planted = tmp_path / "server.py"
    planted.write_text(f"x = 1\n# talks to {plugin.names[-1]} here\n", encoding="utf-8")
    assert offences([planted], (plugin,)) == [f"server.py:2: {plugin.names[-1]!r} ({plugin.label})"]
