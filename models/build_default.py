"""Build gaitdir's shipped direction model from the real recordings beside the repository, and measure it.

Run from anywhere (the data are found relative to this file: ``<repo>/../shared/datasets``)::

    python models/build_default.py            # evaluate, train, write the model and the figures
    python models/build_default.py --check    # evaluate only; write nothing

Steps
-----
1. Read the IPOL lower-back recordings (subjects 1–14; Voisard et al., IPOL 2023; AGPL-3.0 data, read by
   path, never copied) and the Oxford step-counter recordings (user 1, six phone placements; CC BY 4.0).
2. Subject-wise evaluation on IPOL (GroupKFold(5) by subject: every figure comes from a model trained
   without that person): forward specificity on real forward steps (front known, and with the
   first-steps rule), and accuracy on AP-mirrored steps (synthetic, labelled as such). Step detection on
   the Oxford recordings (a test set: no direction labels there). The step detector's own held-out figures
   come from ``benchmarks/step_detection.py`` (leave one subject out).
3. (after 4 below) The shipped model on real backward motion, front known: ``../shared/datasets/
   mocap-backward`` through ``benchmarks/direction.py`` (non-commercial licence: measured, never trained on).
3. Train the shipped model on all IPOL lower-back recordings (real forward steps + the AP-mirrored
   synthetic backward class) and write ``gaitdir/_data/default_model.json`` (data only: a logistic model
   saved by :func:`gaitdir.model.save_model` as JSON, loaded without scikit-learn or unpickling) with its
   SHA-256 in ``gaitdir/_data/default_model.sha256`` (the hash :func:`gaitdir.model.load_model` checks the
   shipped model against).
4. Write the figures to ``models/figures.json`` and into ``models/MODEL_CARD.md`` between the
   ``<!-- figures -->`` markers.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import sys
import warnings
from dataclasses import replace
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
DATASETS = REPO / ".." / "shared" / "datasets"
DATA_DIR = REPO / "gaitdir" / "_data"
MODEL_FILE = DATA_DIR / "default_model.json"
HASH_FILE = DATA_DIR / "default_model.sha256"
FIGURES_FILE = REPO / "models" / "figures.json"
CARD_FILE = REPO / "models" / "MODEL_CARD.md"
BEGIN, END = "<!-- figures -->", "<!-- /figures -->"


def _atomic_write(path: Path, data: bytes) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_bytes(data)
    os.replace(tmp, path)


def _pct(x: float | None) -> str:
    return "n/a" if x is None else f"{100 * x:.1f} %"


def _rotation_figures(ipol: list[Any]) -> dict[str, Any]:
    """Forward specificity of a model trained on subjects 5–14, on subjects 1–4 rotated several ways."""
    import numpy as np
    from scipy.spatial.transform import Rotation

    from gaitdir.model import train_model
    from gaitdir.pipeline import StepTable, classify_recording

    def number(rec: Any) -> int:
        return int(rec.meta["subject"].split("-")[1])

    train = [r for r in ipol if number(r) > 4]
    test = [r for r in ipol if number(r) <= 4]
    model = train_model(train)
    gravity = np.mean(
        [r.acc_mps2.mean(axis=0) / np.linalg.norm(r.acc_mps2.mean(axis=0)) for r in test], axis=0
    )
    rotations = {
        "none": Rotation.identity(),
        "180° about the vertical": Rotation.from_rotvec(np.pi * gravity / np.linalg.norm(gravity)),
        "flipped clip (180° about sensor y)": Rotation.from_rotvec([0.0, np.pi, 0.0]),
        "180° about sensor x": Rotation.from_rotvec([np.pi, 0.0, 0.0]),
        "arbitrary 1": Rotation.from_rotvec([0.7, -1.9, 2.5]),
        "arbitrary 2": Rotation.random(random_state=7),
    }
    out: dict[str, Any] = {"split": "trained on IPOL subjects 5–14, tested on subjects 1–4", "results": {}}
    for name, rotation in rotations.items():
        m = rotation.as_matrix()
        axis = rotation.apply([0.0, 0.0, -1.0])  # IPOL lower back: the front is the sensor's -z
        row = {}
        for mode, forward_axis in (("first-bout", None), ("axis given", axis)):
            tables = []
            for rec in test:
                # The turned sensor's front is not the file's any more: first-bout calibration gets no
                # forward_axis at all, the other mode the turned one.
                meta = {k: v for k, v in rec.meta.items() if k != "forward_axis"}
                turned = replace(rec, acc_mps2=rec.acc_mps2 @ m.T, gyr_radps=rec.gyr_radps @ m.T, meta=meta)
                tables.append(classify_recording(turned, model=model, forward_axis=forward_axis))
            counts = StepTable.concat(tables).counts()
            row[mode] = {**counts, "specificity": counts["forward"] / counts["steps"]}
        out["results"][name] = row
    return out


def _latency_figures(model: Any, recordings: list[Any], chunk_s: float = 0.1) -> dict[str, Any]:
    """Label latency (emitted − step end) when streaming recordings in small chunks."""
    import numpy as np

    from gaitdir.pipeline import StepPipeline, StepTable

    lat = []
    for rec in recordings:
        # The recording's own front where it has one (IPOL's protocol front), else the first-steps rule.
        pipeline = StepPipeline(
            model, placement=rec.meta.get("placement", "auto"), forward_axis=rec.meta.get("forward_axis")
        )
        n = max(1, round(chunk_s * rec.nominal_rate_hz))
        tables = []
        for i in range(0, rec.n_samples, n):
            gyr = None if rec.gyr_radps is None else rec.gyr_radps[i : i + n]
            tables.append(pipeline.update(rec.time_s[i : i + n], rec.acc_mps2[i : i + n], gyr))
        tables.append(pipeline.flush())
        table = StepTable.concat(tables)
        lat.append(table.emitted_s - table.end_s)
    values = np.concatenate(lat)
    p50, p95, p99 = np.percentile(values, [50, 95, 99])
    return {"chunk_s": chunk_s, "steps": int(values.size), "p50_s": p50, "p95_s": p95, "p99_s": p99}


def _forward_share(table: Any) -> dict[str, Any]:
    counts = table.counts()
    return {**counts, "share": counts["forward"] / counts["steps"] if counts["steps"] else None}


def _figures_markdown(fig: dict[str, Any]) -> str:
    ipol = fig["ipol"]
    real = ipol["direction"]["real"]["forward"]
    cal = ipol["direction"]["real_first_bout"]["forward"]
    single = ipol["direction"]["real_per_step"]["forward"]
    sessions = ipol["direction"]["first_bout_sessions"]
    mir = ipol["direction"]["mirrored"]["backward"]
    mocap = fig["mocap"]["totals"]
    bw, fw = mocap["all/backward"], mocap["all/forward"]
    lines = [
        BEGIN,
        "",
        f"Measured by `python models/build_default.py` with gaitdir {fig['gaitdir_version']}. Split: "
        f"{ipol['split']}. The step detector's held-out figures (leave one subject out over IPOL 1–14, per "
        "phase and placement) come from `benchmarks/step_detection.py` and are quoted under *Step detector* "
        "above; the Oxford rows below use the shipped detector defaults, never tuned on those files.",
        "",
        "| Figure | Data | Value | Steps behind it |",
        "|---|---|---|---|",
        "| Forward specificity: the model, front known, every step (gait initiation included) | "
        f"IPOL lower back, held-out subjects | "
        f"{_pct(real['accuracy'])} | {real['n_steps']} real forward steps |",
        "| Forward specificity: the model, front known, each step alone (no evidence carried) | IPOL "
        f"lower back, held-out subjects | {_pct(single['accuracy'])} | "
        f"{single['n_steps']} real forward steps |",
        "| Forward specificity: no front known, the first-steps rule (a session's first steps are assumed "
        f"forward) | IPOL lower back, held-out subjects | "
        f"{_pct(cal['accuracy'])} | {cal['n_steps']} real forward steps |",
        f"| Sessions swapped by the first-steps rule | IPOL lower back, held-out subjects | "
        f"{sessions['swapped']} of {sessions['sessions']} | {sessions['sessions']} trials |",
        "| Backward steps called backward, front known (real backward motion; motion capture, never "
        f"trained on) | mocap-backward, 1–2 actors, acted styles | {_pct(bw['share'])} | "
        f"{bw['correct']} of {bw['steps']} |",
        "| Forward steps called forward, front known (same clips) | mocap-backward | "
        f"{_pct(fw['share'])} | {fw['correct']} of {fw['steps']} |",
        "| Backward sensitivity on a real worn IMU walking backward | — | **unvalidated** | 0 such steps |",
        f"| Mirrored-AP steps called backward (synthetic, *not* real backward walking) | IPOL, held-out "
        f"subjects | {_pct(mir['accuracy'])} | {mir['n_steps']} mirrored steps |",
    ]
    for name, sd in sorted(fig["oxford"].items()):
        lines.append(
            f"| Step detection F1 / count error | Oxford user 1, {name} | {sd['f1']:.3f} / "
            f"{100 * sd['count_error']:+.1f} % | {sd['reference_steps']} counted |"
        )
    for name, sd in sorted(fig["oxford"].items()):
        share = sd["labelled_forward_share"]
        lines.append(
            f"| Share of steps labelled forward (not validated: no direction labels or known front; walking "
            f"assumed forward, the first-steps rule) | Oxford user 1, {name} | {_pct(share['share'])} | "
            f"{share['steps']} detected |"
        )
    rot = fig["rotation"]
    lines += [
        "",
        f"Mounting (rotated real recordings; {rot['split']}): forward specificity with the first-steps "
        "rule / with the rotated forward axis given — "
        + "; ".join(
            f"{name}: {_pct(r['first-bout']['specificity'])} / {_pct(r['axis given']['specificity'])}"
            for name, r in rot["results"].items()
        )
        + f" ({rot['results']['none']['first-bout']['steps']} steps each).",
        "",
        "Label latency (emitted − step end) streaming in 0.1 s chunks with the shipped model (IPOL with its "
        "front known; Oxford with the first-steps rule): "
        + "; ".join(
            f"{name}: p50 {v['p50_s']:.2f} s, p95 {v['p95_s']:.2f} s ({v['steps']} steps)"
            for name, v in fig["latency"].items()
        )
        + ".",
    ]
    lines += [
        "",
        "Per fold (test subjects → real forward steps): "
        + "; ".join(f"{', '.join(f['test_subjects'])} → {f['test_steps']['forward']}" for f in ipol["folds"])
        + ".",
        "",
        "Shipped file: `gaitdir/_data/default_model.json` (JSON, data only), "
        f"sha256 `{fig['model_sha256']}`, "
        f"{fig['model_bytes']} bytes; trained on {fig['training']['real_steps']['forward']} real forward "
        f"steps of {len(fig['training']['subjects'])} subjects plus "
        f"{fig['training']['synthetic_backward_steps']} mirrored-AP (synthetic) backward steps.",
        "",
        END,
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--check", action="store_true", help="evaluate only; write nothing")
    args = parser.parse_args(argv)

    sys.path.insert(0, str(REPO))
    import gaitdir
    from gaitdir.model import evaluate, save_model, train_model
    from gaitdir.pipeline import classify_recording
    from gaitdir.recordings import read_recording

    ipol_dir = DATASETS / "ipol-healthy-gait" / "GaitData"
    oxford_dir = DATASETS / "oxford-step-counter"
    if not ipol_dir.is_dir():
        print(f"IPOL data not found at {ipol_dir}", file=sys.stderr)
        return 2
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ipol = [read_recording(p) for p in sorted(ipol_dir.glob("*_lb.txt"))]
        oxford = [read_recording(p) for p in sorted(oxford_dir.glob("*.csv"))]
    print(f"IPOL lower back: {len(ipol)} recordings of {len({r.subject for r in ipol})} subjects")

    report = evaluate(ipol, n_splits=5)
    model = train_model(ipol)
    oxford_figs: dict[str, Any] = {}
    for rec in oxford:
        name = rec.meta.get("placement_detail") or rec.meta.get("placement") or Path(rec.meta["source"]).stem
        oxford_figs[name] = evaluate([rec], model=model).step_detection
        # The Oxford walks are not labelled by direction; the user is assumed to walk forward.
        oxford_figs[name]["labelled_forward_share"] = _forward_share(classify_recording(rec, model=model))

    # Real backward motion, front known: the clips measure the model and are never trained on (their
    # licence is non-commercial).
    sys.path.insert(0, str(REPO / "benchmarks"))
    import direction

    mocap_rows = direction.front_known(model, direction.load_clips())
    mocap = {"rows": mocap_rows, "totals": direction.totals(mocap_rows)}
    rotation = _rotation_figures(ipol)
    latency = {
        "ipol_lower_back": _latency_figures(model, ipol),
        "oxford": _latency_figures(model, oxford),
    }
    figures: dict[str, Any] = {
        "gaitdir_version": gaitdir.__version__,
        "rotation": rotation,
        "latency": latency,
        "ipol": report.to_dict(),
        "mocap": mocap,
        "oxford": oxford_figs,
        "training": model.metadata,
    }
    print(json.dumps({k: v for k, v in figures.items() if k != "training"}, indent=1, default=str))
    if args.check:
        return 0

    save_model(model, MODEL_FILE, trust=False)
    data = MODEL_FILE.read_bytes()
    digest = hashlib.sha256(data).hexdigest()
    _atomic_write(HASH_FILE, f"{digest}  {MODEL_FILE.name}\n".encode())
    figures["model_sha256"] = digest
    figures["model_bytes"] = len(data)
    _atomic_write(FIGURES_FILE, (json.dumps(figures, indent=1, default=str) + "\n").encode())
    card = CARD_FILE.read_text(encoding="utf-8")
    if BEGIN in card and END in card:
        head, rest = card.split(BEGIN, 1)
        tail = rest.split(END, 1)[1]
        _atomic_write(CARD_FILE, (head + _figures_markdown(figures) + tail).encode("utf-8"))
    print(f"wrote {MODEL_FILE} ({len(data)} bytes, sha256 {digest}), {FIGURES_FILE}, {CARD_FILE}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
