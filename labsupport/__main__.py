"""``python -m labsupport``: the command line of :mod:`labsupport.cli`."""

import sys

from .cli import main

if __name__ == "__main__":
    sys.exit(main())
