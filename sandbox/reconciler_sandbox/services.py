"""The registry: every service the sandbox serves beyond STS and Organizations, in one place.

A new service is one module declaring its :class:`~reconciler_sandbox.plugin.ServicePlugin` and
one line here; the state, the server and the command line read the plug-ins from this list,
and the state file's model (:data:`DOCUMENT`) is assembled from their sections. This module and
the services' own modules are the only ones that name a service
(``tests/sandbox/test_service_names.py`` holds that line).
"""

from __future__ import annotations

from collections.abc import Mapping

from reconciler_sandbox import detective, guardduty, securityhub, statefile
from reconciler_sandbox.plugin import ServicePlugin

PLUGINS: tuple[ServicePlugin, ...] = (guardduty.PLUGIN, securityhub.PLUGIN, detective.PLUGIN)

BY_NAME: Mapping[str, ServicePlugin] = {plugin.name: plugin for plugin in PLUGINS}
NAMES: tuple[str, ...] = tuple(BY_NAME)

# Every member quota of the state file's `quotas`, with AWS's published default.
QUOTAS: Mapping[str, int] = {key: value for p in PLUGINS for key, value in p.quotas.items()}

# The state file's model: the shared shape with each service's section and quotas.
DOCUMENT: type[statefile.Document] = statefile.document_model(
    {plugin.name: plugin.section for plugin in PLUGINS}, QUOTAS
)
