"""``python -m reconciler_sandbox`` is ``reconcile-sandbox``; ``python -m reconciler_sandbox
schema`` prints the state file's JSON Schema (``schemas/sandbox-state.schema.json``)."""

import sys

from reconciler_sandbox import services, statefile
from reconciler_sandbox.cli import main

if sys.argv[1:] == ["schema"]:
    sys.stdout.write(statefile.render_schema(services.DOCUMENT))
    sys.exit(0)
sys.exit(main())
