"""``python -m mlops_toolkit.bootstrap``: the same command as ``mlops-bootstrap``."""

import sys

from mlops_toolkit.bootstrap.cli import main

sys.exit(main())
