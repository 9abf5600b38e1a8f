"""``python -m fixloop.cli``."""

import sys

from fixloop.cli.main import main

sys.exit(main())
