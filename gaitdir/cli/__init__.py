"""The ``gaitdir`` command line. Only this package prints."""

from __future__ import annotations

import typer

app = typer.Typer(
    name="gaitdir",
    help="Count forward and backward steps from one wearable IMU, live or from recorded files.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

# Command modules register themselves on ``app``, imported for that side effect in the order ``--help``
# lists them: live, recorded files, learning, history.
from gaitdir.cli import _live, _calibrate, _offline, _training, _history  # noqa: E402, F401, I001


def main() -> None:
    """Console-script entry point."""
    app()
