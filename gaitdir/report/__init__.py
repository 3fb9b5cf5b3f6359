"""Reports: a recording's steps drawn over its body-frame signal, and the history's steps per day.

:func:`trace_recording` runs the same :class:`~gaitdir.pipeline.StepPipeline` as ``classify`` and keeps
what the detector saw: the acceleration along the body axes (vertical, anterior-posterior, medio-lateral;
the detector's front end, see :class:`gaitdir.signal.BodySignal`) and every labelled step.
:func:`recording_figure` and :func:`history_figure` draw them (matplotlib, Agg canvas: no display and no
global pyplot state); :func:`recording_html` and :func:`history_html` make self-contained pages with the
figure embedded; :func:`write_report` writes a PNG and its page atomically. Only :func:`write_report`
touches files.
"""

from gaitdir.report._figures import (
    BACKWARD_COLOUR,
    FORWARD_COLOUR,
    close_up_window,
    figure_png,
    history_figure,
    recording_figure,
    week_comparison,
)
from gaitdir.report._pages import history_html, recording_html, write_report
from gaitdir.report._trace import (
    FORWARD_SOURCES,
    RecordingTrace,
    cadence_series,
    envelope,
    trace_recording,
)

__all__ = [
    "BACKWARD_COLOUR",
    "FORWARD_COLOUR",
    "FORWARD_SOURCES",
    "RecordingTrace",
    "cadence_series",
    "close_up_window",
    "envelope",
    "figure_png",
    "history_figure",
    "history_html",
    "recording_figure",
    "recording_html",
    "trace_recording",
    "week_comparison",
    "write_report",
]
