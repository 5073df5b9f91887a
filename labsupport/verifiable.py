"""Old path of :mod:`labsupport.studies.verifiable`, kept for one release: importing it warns and gives that module."""

import sys

from labsupport import moved

sys.modules[__name__] = moved("verifiable")
