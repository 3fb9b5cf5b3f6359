"""Live commands: scan, pair, devices, forget, live, demo.

Every :class:`~gaitdir.errors.GaitdirError` becomes one ``error: ...`` line on stderr and exit code 1.

``live`` renders :class:`gaitdir.live.LiveState` two ways: on a terminal, a ``rich`` panel refreshed in
place; otherwise (a pipe, a file, a test runner) one ``step ...`` line per labelled step on stdout, and a
final ``summary ...`` line, both made of ``key=value`` fields. Connection changes and warnings go to
stderr so that stdout stays machine-readable.

Virtual sensors. ``live --virtual REC`` and ``demo`` start an in-process
:class:`gaitdir.devices.virtual.VirtualWorld` (a real GATT stack over an in-memory link) with one
:class:`~gaitdir.devices.virtual.VirtualSensor` replaying ``REC``, and then connect exactly as to a real
sensor — scan, driver, session — through the world's bleak backends. For ``scan``/``pair``/``live
--device`` the hidden option ``--virtual-world KIND[,KIND...]`` (or the environment variable
``GAITDIR_VIRTUAL_WORLD``) puts one virtual twin of each KIND (replaying the bundled sample recording) in
range instead of the computer's Bluetooth, which is how these commands are tested without a radio.
"""

from __future__ import annotations

import contextlib
import signal
from collections.abc import AsyncIterator, Coroutine, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, NoReturn, TypeVar

import typer

from gaitdir.cli import app
from gaitdir.errors import DeviceError, GaitdirError

if TYPE_CHECKING:
    from rich.console import Console
    from rich.panel import Panel

    from gaitdir.live import LiveState, LiveSummary
    from gaitdir.recordings import Recording

_T = TypeVar("_T")


def _run_async(main: Coroutine[Any, Any, _T]) -> _T:
    """``asyncio.run``: asyncio is imported by the commands that run an event loop, not with this module.

    Every command's start-up imports this module, and asyncio alone takes about 40 ms of it.
    """
    import asyncio

    return asyncio.run(main)


#: Environment variable standing in for ``--virtual-world`` (tests, demos of scan/pair).
VIRTUAL_WORLD_ENV = "GAITDIR_VIRTUAL_WORLD"

#: Where a sensor family is worn when ``pair`` is not told (a chest strap can only be on the chest).
_DEFAULT_PLACEMENT = {"polar-h10": "chest", "polar-verity": "arm"}

_LABELS = ("forward", "backward", "other")

# --------------------------------------------------------------------------------------------------
# Output helpers


# rich is imported where something is printed with it (see gaitdir.cli._offline).


def _stdout() -> Console:
    # Resolved at call time so that a test runner's captured streams are used.
    from rich.console import Console

    return Console(highlight=False, soft_wrap=True)


def _stderr() -> Console:
    from rich.console import Console

    return Console(stderr=True, highlight=False, soft_wrap=True)


def _fail(message: object, code: int = 1) -> NoReturn:
    _stderr().print(f"error: {message}", markup=False)
    raise typer.Exit(code)


@contextlib.contextmanager
def _user_errors() -> Iterator[None]:
    """Turn gaitdir's own errors into one line on stderr and exit code 1 instead of a traceback."""
    try:
        yield
    except GaitdirError as exc:
        _fail(exc)


def _kinds_option(value: str | None) -> list[str]:
    return [k.strip() for k in (value or "").split(",") if k.strip()]


# --------------------------------------------------------------------------------------------------
# Virtual sensors


@dataclass(frozen=True)
class _TwinSpec:
    """One virtual sensor to put in range: what it replays, as which family, how fast, which faults."""

    recording: Recording
    kind: str
    speed: float = 1.0
    faults: tuple[str, ...] = ()
    placement: str | None = None


@contextlib.asynccontextmanager
async def _virtual_world(specs: list[_TwinSpec]) -> AsyncIterator[tuple[Any, list[Any]]]:
    """A running virtual world with one advertising virtual sensor per spec."""
    from gaitdir.devices.virtual import TWINS, Fault, VirtualSensor, VirtualWorld

    for spec in specs:
        if spec.kind not in TWINS:
            raise DeviceError(
                f"no virtual twin of sensor kind {spec.kind!r}; known kinds: {', '.join(sorted(TWINS))}"
            )
    faults = [[Fault.parse(f) for f in spec.faults] for spec in specs]
    async with VirtualWorld() as world:
        sensors: list[Any] = []
        try:
            for spec, fault_list in zip(specs, faults, strict=True):
                sensor = VirtualSensor(
                    world,
                    spec.recording,
                    kind=spec.kind,
                    speed=spec.speed,
                    faults=fault_list,
                    placement=spec.placement,
                )
                sensors.append(sensor)
                await sensor.start()
            yield world, sensors
        finally:
            for sensor in sensors:
                await sensor.close()


def _sample_twins(kinds: list[str]) -> list[_TwinSpec]:
    from gaitdir.recordings import read_recording, sample_recording_path

    sample = read_recording(sample_recording_path())
    return [_TwinSpec(sample, kind) for kind in kinds]


def _check_placement(placement: str | None) -> str | None:
    """``placement`` if the step detector knows it; a clear error listing the known ones otherwise."""
    from gaitdir.signal import PLACEMENTS

    if placement is None or placement.lower() in PLACEMENTS:
        return None if placement is None else placement.lower()
    raise GaitdirError(f"unknown placement {placement!r}; choose one of {', '.join(sorted(PLACEMENTS))}")


# --------------------------------------------------------------------------------------------------
# scan


@app.command()
def scan(
    timeout: Annotated[float, typer.Option("--timeout", min=0.5, help="How long to listen (s).")] = 5.0,
    virtual_world: Annotated[
        str | None, typer.Option("--virtual-world", envvar=VIRTUAL_WORLD_ENV, hidden=True)
    ] = None,
) -> None:
    """List nearby sensors: name, address, signal strength (RSSI) and the type gaitdir recognises."""
    with _user_errors():
        found = _run_async(_scan(timeout, _kinds_option(virtual_world)))
    if not found:
        _stdout().print("No Bluetooth devices found. Is the sensor on and not connected to another app?")
        return
    from rich.table import Table

    table = Table(title="Nearby devices")
    table.add_column("name")
    table.add_column("address")
    table.add_column("RSSI (dBm)", justify="right")
    table.add_column("type")
    for sensor in found:
        table.add_row(
            sensor.name or "?",
            sensor.address,
            "?" if sensor.rssi is None else str(sensor.rssi),
            sensor.kind or "not supported",
        )
    _stdout().print(table)


async def _scan(timeout_s: float, virtual_kinds: list[str]) -> list[Any]:
    from gaitdir.devices import scan as scan_devices

    if not virtual_kinds:
        return _sorted_found(await scan_devices(timeout_s=timeout_s))
    async with _virtual_world(_sample_twins(virtual_kinds)) as (world, _):
        return _sorted_found(await scan_devices(timeout_s=timeout_s, backend=world))


def _sorted_found(found: list[Any]) -> list[Any]:
    # Supported sensors first, strongest signal first.
    return sorted(found, key=lambda f: (f.kind is None, -(f.rssi if f.rssi is not None else -999)))


def _match_found(found: list[Any], name_or_address: str) -> Any | None:
    key = name_or_address.strip()
    for f in found:
        if f.address.lower() == key.lower() or (f.name and f.name == key):
            return f
    for f in found:  # a unique prefix of the name is enough ("Polar H10")
        if f.name and f.name.lower().startswith(key.lower()):
            return f
    return None


# --------------------------------------------------------------------------------------------------
# pair / devices / forget


@app.command()
def pair(
    name_or_address: Annotated[str, typer.Argument(help="The sensor's advertised name or its address.")],
    placement: Annotated[
        str | None,
        typer.Option(help="Where it is worn: chest, lower_back, arm, pocket, foot... (default: by type)."),
    ] = None,
    kind: Annotated[
        str | None, typer.Option(help="Sensor type (e.g. polar-h10); given, no scan is needed.")
    ] = None,
    forward_axis: Annotated[
        str | None, typer.Option(help="Sensor axis pointing to the wearer's front, e.g. +x.")
    ] = None,
    timeout: Annotated[float, typer.Option("--timeout", min=0.5, help="How long to scan (s).")] = 5.0,
    virtual_world: Annotated[
        str | None, typer.Option("--virtual-world", envvar=VIRTUAL_WORLD_ENV, hidden=True)
    ] = None,
) -> None:
    """Remember a sensor (type, address, placement) so that `gaitdir live` connects to it by default."""
    from gaitdir.config import RememberedSensor, SensorStore
    from gaitdir.devices import DRIVERS

    with _user_errors():
        placement = _check_placement(placement)
        if kind is not None:
            if kind not in DRIVERS:
                raise DeviceError(f"unknown sensor type {kind!r}; supported: {', '.join(sorted(DRIVERS))}")
            # An address alone has no name yet; anything else is both name and address (some OSes
            # connect by name-resolved identifiers).
            is_address = _looks_like_address(name_or_address)
            name, address = ("" if is_address else name_or_address), name_or_address
        else:
            found = _run_async(_scan(timeout, _kinds_option(virtual_world)))
            match = _match_found(found, name_or_address)
            if match is None:
                raise DeviceError(
                    f"{name_or_address!r} was not found within {timeout:g} s "
                    "(is it on, in range and not connected to another app? `gaitdir scan` lists what is seen)"
                )
            if match.kind is None:
                raise DeviceError(
                    f"{match.name or match.address} is not a sensor gaitdir supports "
                    f"(supported types: {', '.join(sorted(DRIVERS))})"
                )
            name, address, kind = match.name or "", match.address, match.kind
        sensor = RememberedSensor(
            name=name,
            address=address,
            kind=kind,
            placement=placement or _DEFAULT_PLACEMENT.get(kind, "auto"),
            forward_axis=forward_axis,
        )
        store = SensorStore()
        store.pair(sensor)
    _stdout().print(
        f"Paired {sensor.label} ({sensor.kind}, {sensor.address}, worn on: {sensor.placement}); "
        "it is the default for `gaitdir live`.",
        markup=False,
    )
    for line in _front_lines(_sensor_front(sensor, sensor.placement)):
        _stdout().print(line, markup=False)


def _looks_like_address(text: str) -> bool:
    parts = text.split(":")
    mac = len(parts) == 6 and all(len(p) == 2 for p in parts)
    uuid = len(text) == 36 and text.count("-") == 4
    return mac or uuid


@app.command()
def devices() -> None:
    """List remembered sensors (the default one is marked *)."""
    from gaitdir.config import SensorStore

    with _user_errors():
        store = SensorStore()
        sensors = store.sensors()
        default = store.default()
    if not sensors:
        _stdout().print("No remembered sensors. Find one with `gaitdir scan`, then `gaitdir pair NAME`.")
        return
    from rich.table import Table

    table = Table(title=f"Remembered sensors ({store.path})")
    for column in ("", "name", "address", "type", "placement", "front"):
        table.add_column(column)
    for s in sensors:
        is_default = default is not None and s.address == default.address
        front = _sensor_front(s, s.placement)
        table.add_row(
            "*" if is_default else "", s.name or "?", s.address, s.kind, s.placement, front.describe()
        )
    _stdout().print(table)


@app.command()
def forget(
    name_or_address: Annotated[str, typer.Argument(help="A remembered sensor's name or address.")],
) -> None:
    """Forget a remembered sensor."""
    from gaitdir.config import SensorStore

    with _user_errors():
        removed = SensorStore().forget(name_or_address)
    _stdout().print(f"Forgot {removed.label} ({removed.kind}, {removed.address}).")


# --------------------------------------------------------------------------------------------------
# live / demo


@app.command()
def live(
    device: Annotated[
        str | None, typer.Option(help="Sensor name or address (default: the remembered default).")
    ] = None,
    record: Annotated[
        Path | None, typer.Option(help="Record the raw samples to this gaitdir CSV while streaming.")
    ] = None,
    label: Annotated[
        str | None,
        typer.Option(help="Per-sample label written into --record: forward or backward (or other)."),
    ] = None,
    duration: Annotated[
        float | None, typer.Option(min=0.01, help="Stop after this many seconds (default: until Ctrl-C).")
    ] = None,
    events: Annotated[
        Path | None, typer.Option(help="Write one JSON line per labelled step (with its latency) here.")
    ] = None,
    virtual: Annotated[
        Path | None,
        typer.Option(help="Replay this recording through the built-in virtual sensor instead of a device."),
    ] = None,
    sensor: Annotated[
        str, typer.Option(help="Which sensor the virtual one is (polar-h10, polar-verity, ...).")
    ] = "polar-h10",
    speed: Annotated[float, typer.Option(min=0.01, help="Virtual replay speed (1 = real time).")] = 1.0,
    fault: Annotated[
        list[str] | None,
        typer.Option(
            help="Virtual fault: disconnect@S, stop@S or garbage@S (S = stream seconds); repeatable."
        ),
    ] = None,
    placement: Annotated[
        str | None, typer.Option(help="Where the sensor is worn (default: as paired, else auto).")
    ] = None,
    forward_axis: Annotated[
        str | None,
        typer.Option(
            "--forward-axis",
            help="Sensor axis pointing to the wearer's front ('+x', '-z', '0,0.7,0.7'); wins over a stored "
            "calibration and the sensor's mounting profile.",
            show_default=False,
        ),
    ] = None,
    scan_timeout: Annotated[
        float, typer.Option("--scan-timeout", min=0.5, help="How long to look for the sensor (s).")
    ] = 10.0,
    virtual_world: Annotated[
        str | None, typer.Option("--virtual-world", envvar=VIRTUAL_WORLD_ENV, hidden=True)
    ] = None,
    history: Annotated[
        bool | None,
        typer.Option(
            "--history/--no-history",
            help="Save the session in your history (`gaitdir history`); default: yes for a sensor, no for "
            "a --virtual replay.",
            show_default=False,
        ),
    ] = None,
) -> None:
    """Count forward and backward steps live from a sensor (Ctrl-C stops and prints a summary)."""
    with _user_errors():
        if label is not None and label not in _LABELS:
            raise GaitdirError(f"--label must be forward or backward (or other); got {label!r}")
        if label is not None and record is None:
            raise GaitdirError("--label labels the recorded samples: give --record FILE too")
        if fault and virtual is None:
            raise GaitdirError("--fault applies to the virtual sensor: use it with --virtual RECORDING")
        request = _LiveRequest(
            device=device,
            record=record,
            label=label,
            duration_s=duration,
            events=events,
            virtual=virtual,
            sensor_kind=sensor,
            speed=speed,
            faults=tuple(fault or ()),
            placement=placement,
            forward_axis=forward_axis,
            virtual_kinds=_kinds_option(virtual_world),
            scan_timeout_s=scan_timeout,
            # a replay is not the wearer's walking of today: kept out of the history unless asked for
            history=history if history is not None else virtual is None,
        )
        _run_live_command(request)


@app.command()
def demo(
    duration: Annotated[
        float | None, typer.Option(min=0.01, help="Stop after this many seconds (default: whole sample).")
    ] = None,
    speed: Annotated[float, typer.Option(min=0.01, help="Replay speed (1 = real time).")] = 1.0,
) -> None:
    """Zero-setup demo: a virtual Polar H10 replays a bundled real recording and steps are counted live."""
    from gaitdir.recordings import sample_recording_path

    with _user_errors():
        request = _LiveRequest(
            virtual=Path(sample_recording_path()),
            sensor_kind="polar-h10",
            speed=speed,
            duration_s=duration,
        )
        _run_live_command(request)


@dataclass(frozen=True)
class _LiveRequest:
    device: str | None = None
    record: Path | None = None
    label: str | None = None
    duration_s: float | None = None
    events: Path | None = None
    virtual: Path | None = None
    sensor_kind: str = "polar-h10"
    speed: float = 1.0
    faults: tuple[str, ...] = ()
    placement: str | None = None
    forward_axis: str | None = None
    virtual_kinds: tuple[str, ...] | list[str] = ()
    scan_timeout_s: float = 10.0
    # the demo replays a bundled recording: not the user's walking, so not in their history
    history: bool = False


def _run_live_command(request: _LiveRequest) -> None:
    from gaitdir.cli._history import LiveHistoryHook

    out = _stdout()
    view = _TerminalView(out) if out.is_terminal else _PlainView(out, _stderr())
    hook = LiveHistoryHook(request.history, _stderr())
    try:
        summary = _run_async(_live_main(request, view, hook))
    finally:
        hook.close()
    view.finish(summary)
    hook.tell(out if out.is_terminal else _stderr())


async def _live_main(request: _LiveRequest, view: _View, hook: Any) -> LiveSummary:
    import asyncio

    from gaitdir.config import SensorStore
    from gaitdir.live import LiveSession
    from gaitdir.model.front import resolve_forward_reference
    from gaitdir.recordings import read_recording
    from gaitdir.signal import PLACEMENTS

    placement = _check_placement(request.placement)
    if request.forward_axis is not None:
        resolve_forward_reference(option=request.forward_axis)  # a bad axis fails before connecting
    remembered = None
    kind = request.sensor_kind
    remembered_kind = False
    target: str | None = None
    replayed = None
    if request.virtual is not None:
        replayed = read_recording(request.virtual)
        # The virtual sensor is worn where the replayed recording was made.
        meta_placement = str(replayed.meta.get("placement", "")).lower()
        placement = placement or (meta_placement if meta_placement in PLACEMENTS else None)
    else:
        remembered = SensorStore().find(request.device) if request.device else SensorStore().default()
        if request.device is None and remembered is None:
            raise GaitdirError(
                "no sensor to connect to: pair one first (`gaitdir scan`, then `gaitdir pair NAME`), "
                "give --device NAME_OR_ADDRESS, or try `gaitdir demo`"
            )
        if remembered is not None:
            target, kind, remembered_kind = remembered.address, remembered.kind, True
            placement = placement or remembered.placement
        else:
            target = request.device
    placement = placement or _DEFAULT_PLACEMENT.get(kind, "auto")
    front = _live_front(request, remembered, kind, placement, replayed)

    async with contextlib.AsyncExitStack() as stack:
        backend: Any = None
        end_signal: Any = None
        if replayed is not None:
            spec = _TwinSpec(
                replayed, kind, request.speed, request.faults, _check_placement(request.placement)
            )
            backend, sensors = await stack.enter_async_context(_virtual_world([spec]))
            # A finished replay drops the link and vanishes; this tells the session not to wait for it.
            target, end_signal = sensors[0].address, sensors[0].finished
            if sensors[0].worn is not None:
                # The twin presents the recording as its sensor worn at this placement, so the front
                # comes from that sensor's mounting profile, as for a real one (not from the file).
                placement = sensors[0].worn_placement
                front = resolve_forward_reference(
                    option=request.forward_axis, option_detail="given now", sensor=kind, placement=placement
                )
        elif request.virtual_kinds:
            backend, _ = await stack.enter_async_context(
                _virtual_world(_sample_twins(list(request.virtual_kinds)))
            )
        assert target is not None
        known_kind = kind if (request.virtual is not None or remembered_kind) else None
        driver_cls, ble_device = await _resolve(target, known_kind, backend, request.scan_timeout_s)
        view.connecting(f"{driver_cls.kind} {ble_device.name or target}")
        source = _open_session(driver_cls, ble_device, backend, end_signal)
        # --- history hook: the session's row follows its state snapshots (gaitdir.cli._history)
        hook.announce_recording(request.record)
        session = LiveSession(
            placement=placement,
            forward_axis=front,
            record_path=request.record,
            record_meta={"sensor": driver_cls.kind, "started": _now_iso()},
            label=request.label,
            events_path=request.events,
            duration_s=request.duration_s,
            observer=hook.observer(view.update),
        )
        hook.start(
            sensor=driver_cls.kind if replayed is None else f"{driver_cls.kind} (virtual)",
            placement=placement,
            record=request.record,
            events=request.events,
        )
        # --- end of the history hook's set-up
        with _stop_on_sigint(session), view:
            async with hook.running(session):
                try:
                    summary = await session.run(source)
                except asyncio.CancelledError:
                    # Ctrl-C where no signal handler can be installed: the session shut down cleanly first.
                    summary = getattr(session, "summary_", None)
                    if summary is None:
                        raise
                hook.finish(summary)
                return summary
    raise AssertionError("unreachable")


def _sensor_front(sensor: Any, placement: str, option: str | None = None) -> Any:
    """A remembered sensor's front at ``placement``: the user's axis (given now or at pairing), else its
    stored calibration (made at that placement), else its mounting profile, else the first steps."""
    from gaitdir.model.front import resolve_forward_reference

    calibration = sensor.calibration
    usable = calibration is not None and calibration.placement in ("auto", placement)
    given = option if option is not None else sensor.forward_axis
    return resolve_forward_reference(
        option=given,
        option_detail="given now" if option is not None else "given at pairing",
        calibration=calibration.forward_axis if usable else None,
        calibration_detail=calibration.describe() if usable else "",
        sensor=sensor.kind,
        placement=placement,
    )


def _now_iso() -> str:
    """Now, in local time with its UTC offset (the recording's ``started`` metadata)."""
    import datetime

    return datetime.datetime.now().astimezone().isoformat(timespec="seconds")


def _live_front(
    request: _LiveRequest, remembered: Any, kind: str, placement: str, replayed: Recording | None
) -> Any:
    """Where the wearer's front comes from in a live session: the user's axis (given now or at pairing),
    else the sensor's stored calibration, else its mounting profile at this placement, else the first
    steps (an assumption, reported as such).

    A replayed recording stands for a sensor worn as its metadata says: its own ``forward_axis`` is the
    front (source ``file``).
    """
    from gaitdir.model.front import resolve_forward_reference

    if request.forward_axis is not None:
        return resolve_forward_reference(option=request.forward_axis)
    if replayed is not None:
        return resolve_forward_reference(file_axis=replayed.meta.get("forward_axis") or None)
    if remembered is not None:
        return _sensor_front(remembered, placement)
    return resolve_forward_reference(sensor=kind, placement=placement)


async def _resolve(target: str, kind: str | None, backend: Any, timeout_s: float) -> tuple[type[Any], Any]:
    """Find ``target`` (name or address) by scanning; return its driver class and the found device.

    ``kind`` forces the driver (a remembered or virtual sensor); otherwise the advertisement decides.
    """
    from gaitdir.devices import DRIVERS, find_device

    found = await find_device(target, timeout_s=timeout_s, backend=backend)
    kind = kind or found.kind
    if kind is None or kind not in DRIVERS:
        raise DeviceError(
            f"{found.name or found.address} is not a sensor gaitdir supports "
            f"(supported: {', '.join(sorted(DRIVERS))})"
        )
    return DRIVERS[kind], found.device


def _open_session(driver_cls: type[Any], device: Any, backend: Any, end_signal: Any) -> Any:
    from gaitdir.devices import SensorSession

    return SensorSession(driver_cls, device, backend=backend, end_signal=end_signal)


@contextlib.contextmanager
def _stop_on_sigint(session: Any) -> Iterator[None]:
    """Make Ctrl-C request a clean stop of ``session`` instead of cancelling mid-write."""
    import asyncio

    loop = asyncio.get_running_loop()
    try:
        loop.add_signal_handler(signal.SIGINT, session.request_stop)
    except (NotImplementedError, RuntimeError, ValueError):
        # Windows / not the main thread: asyncio.run cancels the task, which shuts down just as cleanly.
        yield
        return
    try:
        yield
    finally:
        loop.remove_signal_handler(signal.SIGINT)


# --------------------------------------------------------------------------------------------------
# Views


class _View:
    """Renders live state; a context manager around the session's run."""

    def connecting(self, what: str) -> None:
        """Announce the device being connected."""

    def update(self, state: LiveState) -> None:
        """Receive a state snapshot (called often; keep it cheap)."""

    def finish(self, summary: LiveSummary) -> None:
        """Print the final summary."""

    def __enter__(self) -> _View:
        return self

    def __exit__(self, *exc_info: object) -> None:
        return None


def _summary_fields(summary: LiveSummary) -> str:
    fields = [
        f"steps={summary.steps}",
        f"forward={summary.forward}",
        f"backward={summary.backward}",
        f"duration_s={summary.stream_duration_s:.2f}",
        f"elapsed_s={summary.elapsed_s:.2f}",
        f"samples={summary.samples}",
        f"malformed_frames={summary.malformed_frames}",
        f"gaps={summary.gaps}",
        f"reconnects={summary.reconnects}",
        f"sensor_stops={summary.sensor_stops}",
        f"end={summary.end_reason.replace(' ', '_')}",
    ]
    if summary.recording_path is not None:
        fields.append(f"recording={summary.recording_path}")
    if summary.events_path is not None:
        fields.append(f"events={summary.events_path}")
    reference = summary.forward_reference
    if reference is not None:
        fields.append(f"front={reference.source}")
        if reference.axis is not None:
            from gaitdir.model.front import format_axis

            fields.append(f"front_axis={format_axis(reference.axis)}")
    return " ".join(fields)


def _front_lines(reference: Any) -> list[str]:
    """Where the front came from, and for an assumed one the one-line way to make it known."""
    if reference is None:
        return []
    from gaitdir.model.front import CALIBRATE_HINT

    lines = [f"front: {reference.describe()}"]
    if not reference.known:
        lines.append(f"note: {CALIBRATE_HINT}")
    return lines


class _PlainView(_View):
    """Pipe-friendly: ``step ...`` per step and ``summary ...`` on stdout; connection changes on stderr."""

    def __init__(self, out: Console, err: Console) -> None:
        self.out = out
        self.err = err
        self._connection: str | None = None
        self._n = 0

    def connecting(self, what: str) -> None:
        self.err.print(f"connecting to {what}", markup=False)

    def update(self, state: LiveState) -> None:
        if state.connection != self._connection:
            self._connection = state.connection
            self.err.print(
                f"connection: {state.connection} at stream time {state.stream_time_s:.2f} s", markup=False
            )
        # A snapshot can carry several steps and its counts include all of them: each line shows the
        # counts up to and including its own step, as if the steps had come one snapshot each.
        forward = state.forward - sum(step.direction == "forward" for step in state.new_steps)
        backward = state.backward - sum(step.direction == "backward" for step in state.new_steps)
        for step in state.new_steps:
            self._n += 1
            forward += step.direction == "forward"
            backward += step.direction == "backward"
            self.out.print(
                f"step n={self._n} time_s={step.time_s:.3f} direction={step.direction} "
                f"confidence={step.confidence:.2f} forward={forward} backward={backward}",
                markup=False,
            )

    def finish(self, summary: LiveSummary) -> None:
        self.out.print("summary " + _summary_fields(summary), markup=False)
        # stdout stays machine-readable (the summary line says front=...); the advice goes to stderr.
        if summary.forward_reference is not None and not summary.forward_reference.known:
            self.err.print(_front_lines(summary.forward_reference)[-1], markup=False)


class _TerminalView(_View):
    """A ``rich`` panel refreshed in place."""

    def __init__(self, out: Console) -> None:
        from rich.live import Live

        self.out = out
        self._state: LiveState | None = None
        self._what = ""
        self._live = Live(console=out, get_renderable=self._render, refresh_per_second=8, transient=False)

    def connecting(self, what: str) -> None:
        self._what = what

    def update(self, state: LiveState) -> None:
        self._state = state

    def __enter__(self) -> _TerminalView:
        self._live.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._live.stop()

    def _render(self) -> Panel:
        from rich.console import Group
        from rich.panel import Panel
        from rich.table import Table
        from rich.text import Text

        s = self._state
        if s is None:
            return Panel(Text(f"connecting to {self._what} ..."), title="gaitdir live")
        counts = Table.grid(padding=(0, 3))
        counts.add_row(
            Text(f"forward {s.forward}", style="bold green"),
            Text(f"backward {s.backward}", style="bold magenta"),
            Text(f"total {s.steps}", style="bold"),
        )
        last = "—"
        if s.last_step is not None:
            last = f"{s.last_step.direction} ({s.last_step.confidence:.0%})"
        details = Table.grid(padding=(0, 2))
        details.add_column(style="dim")
        details.add_column()
        if s.forward_reference is not None:
            front = Text(s.forward_reference.describe())
            if not s.forward_reference.known:
                front.stylize("yellow")
            details.add_row("front", front)
            if not s.forward_reference.known:
                from gaitdir.model.front import CALIBRATE_HINT

                details.add_row("", Text(CALIBRATE_HINT, style="yellow"))
        details.add_row("last step", last)
        details.add_row("cadence", f"{s.cadence_spm:.0f} steps/min")
        details.add_row("elapsed", _clock(s.elapsed_s) + f"  (stream {_clock(s.stream_time_s)})")
        connection_style = "green" if s.connection == "streaming" else "yellow"
        details.add_row("connection", Text(s.connection, style=connection_style))
        details.add_row(
            "sample rate", f"{s.sample_rate_hz:.0f} Hz received ({s.sensor_rate_hz:.0f} Hz sensor clock)"
        )
        problems = []
        if s.malformed_frames:
            problems.append(f"{s.malformed_frames} malformed frames skipped")
        if s.gaps:
            problems.append(f"{s.gaps} gaps ({s.reconnects} reconnects)")
        if s.lost_packets:
            problems.append(f"{s.lost_packets} lost-packet reports")
        if problems:
            details.add_row("stream", ", ".join(problems))
        return Panel(
            Group(counts, Text(""), details), title=f"gaitdir live — {self._what}", subtitle="Ctrl-C stops"
        )

    def finish(self, summary: LiveSummary) -> None:
        self.out.print(
            f"[bold]{summary.steps} steps[/]: {summary.forward} forward, {summary.backward} backward "
            f"in {_clock(summary.stream_duration_s)} ({summary.end_reason})"
        )
        extra = []
        if summary.gaps or summary.malformed_frames:
            extra.append(f"{summary.gaps} gaps, {summary.malformed_frames} malformed frames skipped")
        if summary.recording_path is not None:
            extra.append(f"recording: {summary.recording_path}")
        if summary.events_path is not None:
            extra.append(f"events: {summary.events_path}")
        extra.extend(_front_lines(summary.forward_reference))
        for line in extra:
            self.out.print(line, markup=False)


def _clock(seconds: float) -> str:
    minutes, secs = divmod(max(seconds, 0.0), 60.0)
    return f"{int(minutes):d}:{secs:04.1f}"
