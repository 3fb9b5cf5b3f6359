"""Commands that learn and measure: ``train``, ``evaluate`` and ``datasets download``.

Errors and warnings are reported as in :mod:`gaitdir.cli._offline` (one ``error: ...`` line and exit
code 1; ``warning: ...`` lines), whose helpers these commands share. scikit-learn and the pipeline are
imported inside the commands.
"""

from __future__ import annotations

import enum
import json
import re
import sys
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from gaitdir.cli import app
from gaitdir.cli._offline import (
    FormatOption,
    RecordingFormat,
    TrustModelOption,
    _expand,
    _line,
    _load_model,
    _plain_table,
    _stderr,
    _stdout,
    _user_errors,
    _warnings_as_lines,
)

if TYPE_CHECKING:
    from rich.table import Table

    from gaitdir.recordings import Recording

#: KU-HAR's class folders for forward and backward walking (``11.Walk``, ``12.Walk-backwards``).
_KUHAR_FOLDER = re.compile(r"^\d+\.walk(-backwards)?$", re.IGNORECASE)
_KUHAR_SEARCH_DEPTH = 3


class SyntheticBackward(str, enum.Enum):
    """When ``train`` adds AP-mirrored forward steps as a synthetic backward class."""

    auto = "auto"  # only when the data holds no real backward step
    always = "always"
    never = "never"


class DatasetName(str, enum.Enum):
    """Datasets ``gaitdir datasets download`` can fetch."""

    kuhar = "kuhar"


def _is_kuhar_tree(path: Path) -> bool:
    """True when ``path`` is a folder with KU-HAR walking class folders in it or a few levels below."""
    if not path.is_dir():
        return False
    level = [path]
    for _ in range(_KUHAR_SEARCH_DEPTH):
        children = [c for folder in level for c in sorted(folder.iterdir()) if c.is_dir()]
        if any(_KUHAR_FOLDER.match(c.name) for c in children):
            return True
        level = children
    return False


def _read_training_data(paths: Sequence[Path], fmt: RecordingFormat | None) -> list[Recording]:
    """Read every recording the arguments name; KU-HAR trees go through the dataset reader.

    Unlike ``classify``, a bad recording stops the command: training or evaluating on a silently smaller
    set would give figures the user did not ask for. Only files found in a folder that are not recordings
    at all (a README, a licence) are skipped, with a warning.
    """
    from gaitdir.errors import UnknownFormatError
    from gaitdir.recordings import read_kuhar_dataset, read_recording

    recordings: list[Recording] = []
    for path in paths:
        if fmt in (None, RecordingFormat.kuhar) and _is_kuhar_tree(path):
            recordings.extend(read_kuhar_dataset(path))
            continue
        for file in _expand(path):
            try:
                recordings.append(read_recording(file, format=None if fmt is None else fmt.value))
            except UnknownFormatError:
                if file == path:
                    raise
                # A folder often holds a README or a licence beside the data; that is not an error.
                warnings.warn(
                    f"skipped {file}: not a recording format gaitdir reads", UserWarning, stacklevel=1
                )
    return recordings


def _fmt_float(value: Any, digits: int = 3) -> str:
    return "—" if value is None else f"{value:.{digits}f}"


def _fmt_pct(value: Any) -> str:
    return "—" if value is None else f"{100.0 * value:+.1f} %"


# --------------------------------------------------------------------------------------------------
# train


@app.command()
def train(
    data: Annotated[
        list[Path],
        typer.Argument(
            help="Labelled recordings (gaitdir CSV with a label column, IPOL, KU-HAR folders...); "
            "directories expand.",
            show_default=False,
        ),
    ],
    out: Annotated[Path, typer.Option("--out", "-o", help="Model file to write.", show_default=False)],
    json_output: Annotated[
        bool, typer.Option("--json", help="Print what was learned as one JSON object.")
    ] = False,
    fmt: FormatOption = None,
    synthetic_backward: Annotated[
        SyntheticBackward,
        typer.Option(
            "--synthetic-backward",
            help="Add AP-mirrored copies of the real forward steps as a backward class: 'auto' unless the "
            "real backward steps come from at least 10 people (fewer teach who walked, not which way).",
        ),
    ] = SyntheticBackward.auto,
) -> None:
    """Fit the direction model on labelled recordings and write it to OUT (trusted for this user)."""
    from gaitdir.model import file_sha256, save_model, train_model

    err = _stderr()
    with _user_errors(), _warnings_as_lines(err):
        recordings = _read_training_data(data, fmt)
        mode: Any = {"auto": "auto", "always": True, "never": False}[synthetic_backward.value]
        model = train_model(recordings, synthetic_backward=mode)
        # save_model writes atomically and records the file's hash as trusted for this user.
        written = save_model(model, out)
    meta = model.metadata
    summary = {
        "model": str(written),
        "sha256": file_sha256(written),
        "recordings": len(recordings),
        "subjects": meta.get("subjects", []),
        "real_steps": meta.get("real_steps", {}),
        "synthetic_backward": bool(meta.get("synthetic_backward")),
        "synthetic_backward_steps": int(meta.get("synthetic_backward_steps") or 0),
        "synthetic_backward_transform": meta.get("synthetic_backward_transform"),
        "backward_source": meta.get("backward_source"),
        "placements": meta.get("placements", {}),
        "left_out": meta.get("left_out", []),
    }
    if json_output:
        typer.echo(json.dumps(summary))
        return
    console = _stdout()
    subjects = summary["subjects"]
    console.print(
        f"trained on {len(recordings)} recordings of {len(subjects)} subjects: {', '.join(subjects)}"
    )
    table = _plain_table()
    table.add_column("class")
    table.add_column("real steps", justify="right")
    table.add_column("synthetic steps", justify="right")
    real = summary["real_steps"]
    table.add_row("forward", str(real.get("forward", 0)), "0")
    table.add_row("backward", str(real.get("backward", 0)), str(summary["synthetic_backward_steps"]))
    console.print(table)
    placements = ", ".join(f"{p} ({n} steps)" for p, n in summary["placements"].items())
    console.print(f"placements learned from: {placements}")
    for entry in summary["left_out"]:
        console.print(
            f"left out: {entry['placement']} ({entry['recordings']} recordings, {entry['steps']} labelled "
            f"steps): {entry['why']}",
            markup=False,
        )
    if summary["backward_source"] == "real+mirrored-ap":
        console.print(
            f"backward class: real labelled steps of fewer than 10 people, with synthetic ones added "
            f"({summary['synthetic_backward_transform']}) so that the direction of travel decides, not "
            "who walked (--synthetic-backward never: real steps only)"
        )
    elif summary["synthetic_backward"]:
        console.print(
            f"backward class: synthetic, {summary['synthetic_backward_transform']}; "
            "it is not real backward walking"
        )
    else:
        console.print("backward class: real labelled steps only")
    console.print(f"model written to {written} (sha256 {summary['sha256'][:16]}…, trusted for this user)")


# --------------------------------------------------------------------------------------------------
# evaluate


def _direction_table(figures: dict[str, Any]) -> Table:
    table = _plain_table()
    table.add_column("true class")
    table.add_column("steps (n)", justify="right")
    table.add_column("correct", justify="right")
    table.add_column("accuracy", justify="right")
    for cls in ("forward", "backward"):
        row = figures.get(cls)
        if row is None:
            continue
        n = int(row.get("n_steps", 0))
        accuracy = row.get("accuracy")
        table.add_row(cls, str(n), str(row.get("correct", 0)), "—" if accuracy is None else f"{accuracy:.3f}")
    return table


def _print_report(report: dict[str, Any]) -> None:
    console = _stdout()
    console.print(f"split: {report['split']}")
    for i, fold in enumerate(report.get("folds", []), start=1):
        steps = fold.get("test_steps", {})
        console.print(
            f"  fold {i}: test subjects {', '.join(fold.get('test_subjects', []))} "
            f"({steps.get('forward', 0)} forward, {steps.get('backward', 0)} backward labelled steps)"
        )
    sd = report.get("step_detection", {})
    console.print()
    if sd.get("reference_steps") is None:
        console.print("step detection: no recording has annotated steps; not scored")
    else:
        console.print(
            f"step detection against annotated steps (±{sd['tolerance_s']} s, {sd['recordings']} recordings)"
        )
        table = _plain_table()
        for column in ("reference", "detected", "matched", "precision", "recall", "F1", "count error"):
            table.add_column(column, justify="right")
        table.add_row(
            str(sd["reference_steps"]),
            str(sd["detected_steps"]),
            str(sd["true_positives"]),
            _fmt_float(sd["precision"]),
            _fmt_float(sd["recall"]),
            _fmt_float(sd["f1"]),
            _fmt_pct(sd["count_error"]),
        )
        console.print(table)
    direction = report.get("direction", {})
    console.print()
    for entry in direction.get("left_out", []):
        console.print(
            f"direction not scored for {entry['placement']} ({entry['recordings']} recordings): "
            f"{entry['why']}",
            markup=False,
        )
    if "real" not in direction:
        console.print("direction: no recording from a placement where it is meaningful; not scored")
        return
    placements = ", ".join(f"{p} ({n} steps)" for p, n in direction.get("placements", {}).items())
    console.print(f"direction scored on: {placements}")
    console.print("direction on real labelled steps (wearer's front known)")
    console.print(_direction_table(direction.get("real", {})))
    console.print()
    console.print(
        "direction on real labelled steps (front assumed from the first steps, as classify/live do when no "
        "front is known)"
    )
    console.print(_direction_table(direction.get("real_first_bout", {})))
    mirrored = direction.get("mirrored", {})
    if mirrored.get("backward", {}).get("n_steps"):
        console.print()
        console.print("SYNTHETIC backward: AP-mirrored real forward steps, not real backward walking")
        console.print(_direction_table(mirrored))
    verdict = direction.get("backward_on_real_backward_walking")
    if verdict == "unvalidated":
        console.print()
        console.print(
            "backward steps on real backward walking: unvalidated (no real backward steps in the data)"
        )


@app.command()
def evaluate(
    data: Annotated[
        list[Path],
        typer.Argument(
            help="Recordings with labels and/or annotated steps; directories expand.", show_default=False
        ),
    ],
    model_path: Annotated[
        Path | None,
        typer.Option(
            "--model",
            help="Score this model on all the data (it must not have been trained on any of it). Default: "
            "train and test subject-wise, one model per fold.",
            show_default=False,
        ),
    ] = None,
    json_output: Annotated[bool, typer.Option("--json", help="Print the report as one JSON object.")] = False,
    splits: Annotated[
        int, typer.Option("--splits", "-k", min=2, help="Subject-wise folds (fewer if fewer subjects).")
    ] = 5,
    fmt: FormatOption = None,
    trust_model: TrustModelOption = False,
) -> None:
    """Report subject-wise step detection (F1, count error) and direction accuracy per class, with n.

    Figures on synthetic (AP-mirrored) steps are printed apart from figures on real labels.
    """
    from gaitdir.model import evaluate as evaluate_model

    err = _stderr()
    with _user_errors(), _warnings_as_lines(err):
        model = _load_model(model_path, trust_model) if model_path is not None else None
        recordings = _read_training_data(data, fmt)
        report = evaluate_model(recordings, model=model, n_splits=splits).to_dict()
    if json_output:
        typer.echo(json.dumps(report))
    else:
        _print_report(report)


# --------------------------------------------------------------------------------------------------
# datasets

datasets_app = typer.Typer(
    help="Public datasets gaitdir can learn from.", no_args_is_help=True, add_completion=False
)
app.add_typer(datasets_app, name="datasets")


def _default_datasets_dir() -> Path:
    import platformdirs

    return Path(platformdirs.user_data_dir("gaitdir", appauthor=False)) / "datasets"


@datasets_app.command("download")
def datasets_download(
    name: Annotated[DatasetName, typer.Argument(help="Which dataset.", show_default=False)],
    dest_dir: Annotated[
        Path | None,
        typer.Option(
            "--dir",
            help="Folder to put it in (default: gaitdir's per-user data folder).",
            show_default=False,
        ),
    ] = None,
    url: Annotated[
        str | None,
        typer.Option(
            "--url",
            envvar="GAITDIR_KUHAR_URL",
            help="Fetch the archive from this address instead (a mirror, or a file you host).",
            show_default=False,
        ),
    ] = None,
) -> None:
    """Download a public dataset with real backward walking (KU-HAR: walking folders only).

    KU-HAR (Sikder & Nahid 2021, Mendeley Data DOI 10.17632/45f952y38r.5) is licensed CC BY 4.0: cite it
    wherever you use it. The files stay on your machine; gaitdir does not ship them.
    """
    from gaitdir.datasets import KUHAR_TRIMMED_URL, download_kuhar

    target = dest_dir if dest_dir is not None else _default_datasets_dir()
    source = url or KUHAR_TRIMMED_URL
    err = _stderr()
    if sys.stderr.isatty():
        from rich.progress import (
            BarColumn,
            DownloadColumn,
            Progress,
            TextColumn,
            TimeRemainingColumn,
            TransferSpeedColumn,
        )

        progress = Progress(
            TextColumn(f"{name.value}"),
            BarColumn(),
            DownloadColumn(),
            TransferSpeedColumn(),
            TimeRemainingColumn(),
            console=err,
        )
        task = progress.add_task("download", total=None)

        def report(done: int, total: int | None) -> None:
            progress.update(task, completed=done, total=total)

        with _user_errors(), progress:
            root = download_kuhar(target, url=source, progress=report)
    else:
        _line("downloading", source, err)
        with _user_errors():
            root = download_kuhar(target, url=source)
    console = _stdout()
    console.print(f"KU-HAR walking folders in {root}")
    console.print(f"next: gaitdir train {root} --out my-model.json   (or: gaitdir evaluate {root})")
