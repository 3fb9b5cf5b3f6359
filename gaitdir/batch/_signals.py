"""Stopping on a signal without an exception that Python would print and lose."""

from __future__ import annotations

import os
import threading
from types import FrameType

#: A signal that arrived where its exception would be lost is delivered again this much later (s).
REDELIVER_S = 0.05
_LOST_IN_FILES = ("_weakrefset.py", "weakref.py")


def redelivered_if_lost(signum: int, frame: FrameType | None) -> bool:
    """Deliver ``signum`` again shortly, and return True, when ``frame`` is one whose exception is lost.

    Python runs a signal handler between any two bytecodes of the main thread, also inside a weak
    reference's callback or a ``__del__`` method. An exception raised there is printed as "Exception
    ignored in ..." with a traceback and then dropped, so the process would go on as if no signal had
    come. A handler that would raise calls this first and returns when it gives True.
    """
    if frame is None:
        return False
    code = frame.f_code
    if not (code.co_filename.endswith(_LOST_IN_FILES) or code.co_name == "__del__"):
        return False
    threading.Timer(REDELIVER_S, os.kill, (os.getpid(), signum)).start()
    return True
