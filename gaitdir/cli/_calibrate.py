"""``gaitdir calibrate``: find the wearer's front from a walk known to be forward.

Two forms. With a remembered sensor (or none: the default one), the user stands still, then walks forward
normally for about ten steps; the forward axis found is stored with the sensor (with the date and the
number of steps behind it), and ``gaitdir live`` uses it from then on (ahead of the sensor's mounting
profile; an explicit ``--forward-axis`` still wins). With a recording that starts with forward walking,
the axis is printed (``--json``: one object), ready for ``classify --forward-axis`` or the file's
``forward_axis`` metadata; nothing is stored.
"""

from __future__ import annotations

import json
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from gaitdir.cli import app
from gaitdir.cli._live import (
    VIRTUAL_WORLD_ENV,
    _check_placement,
    _kinds_option,
    _open_session,
    _resolve,
    _run_async,
    _sample_twins,
    _stderr,
    _stdout,
    _user_errors,
    _virtual_world,
)
from gaitdir.errors import GaitdirError

if TYPE_CHECKING:
    from gaitdir.model.front import FrontCalibration

#: What the user is asked to do.
INSTRUCTIONS = "Stand still for a moment, then walk forward normally in a straight line for about ten steps."


@app.command()
def calibrate(
    target: Annotated[
        str | None,
        typer.Argument(
            help="A remembered sensor (name or address; default: the default one), or a recording that "
            "starts with forward walking.",
            show_default=False,
        ),
    ] = None,
    json_output: Annotated[bool, typer.Option("--json", help="Print the result as one JSON object.")] = False,
    placement: Annotated[
        str | None,
        typer.Option(help="Where the sensor is worn (default: as paired, or the file's placement)."),
    ] = None,
    timeout: Annotated[
        float, typer.Option("--timeout", min=5.0, help="Longest wait for the walk (s, sensor only).")
    ] = 60.0,
    scan_timeout: Annotated[
        float, typer.Option("--scan-timeout", min=0.5, help="How long to look for the sensor (s).")
    ] = 10.0,
    virtual_world: Annotated[
        str | None, typer.Option("--virtual-world", envvar=VIRTUAL_WORLD_ENV, hidden=True)
    ] = None,
) -> None:
    """Find where the wearer's front is from a forward walk, and store it with the sensor (or print it).

    For a sensor: stand still, then walk forward normally for about ten steps. For a recording that
    starts with forward walking: prints the forward axis for `classify --forward-axis` or the file's
    metadata. A walk with too few steps, turning, or no clear answer is refused with the reason.
    """
    with _user_errors():
        placement = _check_placement(placement)
        if target is not None and Path(target).is_file():
            result, stored = _calibrate_file(Path(target), placement), None
        else:
            result, stored = _calibrate_sensor(
                target, placement, timeout, scan_timeout, _kinds_option(virtual_world), json_output
            )
    _report(result, stored, json_output, source=target)


def _calibrate_file(path: Path, placement: str | None) -> FrontCalibration:
    from gaitdir.model.front import calibrate_recording
    from gaitdir.recordings import read_recording

    return calibrate_recording(read_recording(path), placement=placement)


def _calibrate_sensor(
    name: str | None,
    placement: str | None,
    timeout_s: float,
    scan_timeout_s: float,
    virtual_kinds: list[str],
    quiet: bool,
) -> tuple[FrontCalibration, Any]:
    from gaitdir.config import Calibration, SensorStore

    store = SensorStore()
    sensor = store.find(name) if name is not None else store.default()
    if sensor is None:
        if name is not None:
            raise GaitdirError(
                f"{name!r} is neither a recording nor a remembered sensor (see `gaitdir devices`; pair it "
                "with `gaitdir pair NAME`)"
            )
        raise GaitdirError(
            "no sensor to calibrate: pair one first (`gaitdir scan`, then `gaitdir pair NAME`)"
        )
    placement = placement or sensor.placement
    if not quiet:
        _stderr().print(f"Calibrating {sensor.label} ({sensor.kind}, worn at {placement}).", markup=False)
        _stderr().print(INSTRUCTIONS, markup=False)
    result = _run_async(_calibration_main(sensor, placement, timeout_s, scan_timeout_s, virtual_kinds))
    calibration = Calibration(
        forward_axis=result.forward_axis,
        date=datetime.now(timezone.utc).isoformat(timespec="seconds"),
        steps=result.steps,
        placement=placement,
    )
    return result, store.set_calibration(sensor.address, calibration)


async def _calibration_main(
    sensor: Any, placement: str, timeout_s: float, scan_timeout_s: float, virtual_kinds: list[str]
) -> FrontCalibration:
    import contextlib

    from gaitdir.live import run_calibration
    from gaitdir.model.front import FrontCalibrator

    async with contextlib.AsyncExitStack() as stack:
        backend: Any = None
        if virtual_kinds:
            backend, _ = await stack.enter_async_context(_virtual_world(_sample_twins(virtual_kinds)))
        driver_cls, device = await _resolve(sensor.address, sensor.kind, backend, scan_timeout_s)
        source = _open_session(driver_cls, device, backend, None)
        return await run_calibration(source, FrontCalibrator(placement=placement), timeout_s=timeout_s)
    raise AssertionError("unreachable")


def _report(result: FrontCalibration, stored: Any, json_output: bool, *, source: str | None) -> None:
    from gaitdir.model.front import format_axis

    axis = format_axis(result.forward_axis)
    if json_output:
        payload = result.to_dict()
        if stored is not None:
            payload["sensor"] = {"name": stored.name, "address": stored.address, "kind": stored.kind}
            payload["stored"] = True
        else:
            payload["recording"] = source
            payload["stored"] = False
        typer.echo(json.dumps(payload))
        return
    out = _stdout()
    out.print(
        f"forward axis {axis} (sensor coordinates), from {result.steps} forward steps "
        f"({result.agreement:.0%} agree)",
        markup=False,
    )
    if stored is not None:
        out.print(
            f"Stored with {stored.label}: `gaitdir live` now takes the wearer's front from this calibration.",
            markup=False,
        )
    else:
        out.print(
            f"Use it with `gaitdir classify --forward-axis {axis} ...`, or as `# forward_axis: {axis}` in "
            "the recording's metadata.",
            markup=False,
        )
