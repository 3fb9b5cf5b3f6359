"""Importing gaitdir does not import scipy's big subpackages (nor asyncio, which only live commands
need); gaitdir.signal.preload does import scipy, thread-safely."""

from __future__ import annotations

import subprocess
import sys

_PROBE = """
import sys, threading
import gaitdir.cli, gaitdir.pipeline, gaitdir.signal, gaitdir.model, gaitdir.recordings
big = ("scipy.signal", "scipy.ndimage", "scipy.optimize", "scipy.stats", "asyncio")
heavy = sorted(m for m in big if m in sys.modules)
print("HEAVY", heavy)
from gaitdir.signal import preload
from gaitdir.pipeline import classify_recording
from gaitdir.recordings import read_recording, sample_recording_path
thread = threading.Thread(target=preload)
thread.start()
# the main thread needs scipy.signal while the preload thread may still be importing it
steps = classify_recording(read_recording(sample_recording_path()))
thread.join()
print("STEPS", len(steps), "scipy.signal" in sys.modules)
"""


def test_import_is_light_and_preload_in_a_thread_is_safe() -> None:
    out = subprocess.run([sys.executable, "-c", _PROBE], capture_output=True, text=True, check=True).stdout
    assert "HEAVY []" in out, out
    steps = int(out.split("STEPS ")[1].split()[0])
    assert steps > 100 and out.rstrip().endswith("True")
