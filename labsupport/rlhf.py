"""Old path of :mod:`labsupport.studies.rlhf`, kept for one release: importing it warns and gives that module."""

import sys

from labsupport import moved

sys.modules[__name__] = moved("rlhf")
