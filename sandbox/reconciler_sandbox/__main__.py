"""``python -m reconciler_sandbox`` is ``reconcile-sandbox``."""

import sys

from reconciler_sandbox.cli import main

sys.exit(main())
