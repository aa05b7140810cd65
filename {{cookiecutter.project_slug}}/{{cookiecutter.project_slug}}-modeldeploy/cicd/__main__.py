"""``python -m cicd bootstrap|teardown``: see ``python -m cicd --help``."""

import sys

from cicd.cli import main

sys.exit(main())
