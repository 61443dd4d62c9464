"""``python -m reconciler.sandbox`` is ``reconcile-sandbox``."""

import sys

from reconciler.sandbox.cli import main

sys.exit(main())
