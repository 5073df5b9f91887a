"""``python -m labsupport``: the command line of :mod:`labsupport.cli` (the ``labsupport`` console script)."""

import sys

from .cli import main

if __name__ == "__main__":
    sys.exit(main(prog="python -m labsupport"))
