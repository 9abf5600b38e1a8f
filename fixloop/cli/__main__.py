"""``python -m fixloop.cli``."""

import sys

from fixloop.cli.main import main

if __name__ == "__main__":
    sys.exit(main())
