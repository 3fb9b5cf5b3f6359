"""Direction on real backward motion: gaitdir's labels on the motion-capture clips, front known or calibrated.

Data: ``../shared/datasets/mocap-backward`` — real backward and forward walking of professional actors in
acted styles (Bandai-Namco-Research-Motiondataset-1, CC BY-NC 4.0), turned into what an accelerometer
fixed to the pelvis would read (6 Hz bandwidth, 100 Hz, gravity included; x = the wearer's front from the
hips' anatomy). Two groups of clips, ``bandai1-grpA`` and ``bandai1-grpB``, stand for at most two people.
The licence is non-commercial: the clips are used here to measure and to choose, never to train the
shipped model, and they are not bundled.

What it reports, per clip and overall, for the shipped model and the shipped pipeline:

1. **front known** — the file's ``forward_axis`` (as a mounting profile, a calibration or the user would
   give it): backward steps called backward, forward steps called forward, and the steps counted against
   the feet's count (duration × the feet's step frequency from the manifest, good to about ±1 step);
2. **front calibrated** — ``gaitdir calibrate`` run on one forward clip of the same group (the first, in
   name order, that it accepts; the ones it refuses are listed with the reason), that axis then given for
   every clip of the group;
3. **front assumed** — nothing known (the file's ``forward_axis`` left out): the first steps of each
   clip are taken as forward, the last resort gaitdir reports as ``first-steps``. Every clip walks one way
   from its start, so a backward clip comes out swapped: the figure says what that assumption costs;
4. ``--ipol``: forward specificity on IPOL lower-back people never trained on (leave one subject out, the
   front known from the protocol), the figure that says real forward steps stay forward;
5. ``--ablations``: what the design choices are worth, each variant trained the same way (all IPOL
   lower-back forward steps plus a synthetic backward class; never on these clips) and scored on the
   clips by group: the synthetic class (AP-mirrored against time-reversed forward steps), the features
   (all six signed cues against the four on which mirroring and time reversal agree), the evidence carried
   between steps, and the AP axis (the known front against the estimated AP line signed by the front).

Run from the repository root::

    python benchmarks/direction.py                    # 1, 2 and 3
    python benchmarks/direction.py --ipol --ablations # everything (a few minutes)
    python benchmarks/direction.py --json             # one JSON object

Limits (say them with every figure): one or two people, acted styles, a virtual sensor at the pelvis joint
centre with 6 Hz bandwidth (no impacts, no soft tissue), 9 backward clips. Other styles and people are kept
aside to check the result.
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
import warnings
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

REPO = Path(__file__).resolve().parents[1]
DATASETS = REPO / ".." / "shared" / "datasets"
MOCAP = DATASETS / "mocap-backward"
IPOL = DATASETS / "ipol-healthy-gait" / "GaitData"

sys.path.insert(0, str(REPO))

from gaitdir.errors import CalibrationError  # noqa: E402
from gaitdir.features import FEATURE_NAMES, mirror_features, step_features  # noqa: E402
from gaitdir.model import (  # noqa: E402
    BoutEvidence,
    DirectionModel,
    ap_sign_from_axis,
    forward_log_odds,
    load_model,
    parse_forward_axis,
)
from gaitdir.model.front import calibrate_recording  # noqa: E402
from gaitdir.pipeline import classify_recording  # noqa: E402
from gaitdir.recordings import Recording, read_recording  # noqa: E402
from gaitdir.signal import detect_steps  # noqa: E402


def load_clips() -> list[tuple[dict[str, str], Recording]]:
    with open(MOCAP / "manifest.csv", newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    return [(row, read_recording(MOCAP / row["file"])) for row in sorted(rows, key=lambda r: r["file"])]


def _without_front(rec: Recording) -> Recording:
    return replace(rec, meta={k: v for k, v in rec.meta.items() if k != "forward_axis"})


def _style(name: str) -> str:
    return name.replace("bandai1_", "").replace(".csv", "")


def _score(row: dict[str, str], directions: np.ndarray) -> dict[str, Any]:
    label = row["label"]
    feet = float(row["duration_s"]) * float(row["step_freq_hz_feet"])
    return {
        "clip": _style(row["file"]),
        "group": row["subject"],
        "label": label,
        "steps": int(directions.size),
        "feet_steps": round(feet, 1),
        "correct": int(np.sum(directions == label)),
        "labels": "".join("F" if d == "forward" else "B" for d in directions),
    }


def totals(rows: list[dict[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for group in ("all", "bandai1-grpA", "bandai1-grpB"):
        sel = [r for r in rows if group == "all" or r["group"] == group]
        for label in ("backward", "forward"):
            n = sum(r["steps"] for r in sel if r["label"] == label)
            c = sum(r["correct"] for r in sel if r["label"] == label)
            out[f"{group}/{label}"] = {"steps": n, "correct": c, "share": (c / n) if n else None}
    off = [abs(r["steps"] - r["feet_steps"]) for r in rows]
    out["count"] = {
        "clips": len(rows),
        "clips_within_2_steps": int(sum(o <= 2 for o in off)),
        "worst_off_by": round(max(off), 1) if off else None,
    }
    return out


def front_known(model: DirectionModel, clips: list[tuple[dict[str, str], Recording]]) -> list[dict[str, Any]]:
    return [_score(row, classify_recording(rec, model=model).direction) for row, rec in clips]


def front_assumed(
    model: DirectionModel, clips: list[tuple[dict[str, str], Recording]]
) -> list[dict[str, Any]]:
    return [_score(row, classify_recording(_without_front(rec), model=model).direction) for row, rec in clips]


def front_calibrated(
    model: DirectionModel, clips: list[tuple[dict[str, str], Recording]]
) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    calibrations: dict[str, Any] = {}
    for group in sorted({row["subject"] for row, _ in clips}):
        members = [(row, rec) for row, rec in clips if row["subject"] == group]
        axis = None
        refused = []
        for row, rec in members:
            if row["label"] != "forward":
                continue
            try:
                result = calibrate_recording(_without_front(rec), model=model)
            except CalibrationError as exc:
                refused.append({"clip": _style(row["file"]), "reason": str(exc).split(";")[0]})
                continue
            axis = result.forward_axis
            true = parse_forward_axis(rec.meta["forward_axis"])
            calibrations[group] = {
                "clip": _style(row["file"]),
                "axis": [round(v, 3) for v in axis],
                "cosine_with_anatomical_front": round(float(np.dot(axis, true)), 3),
                "steps": result.steps,
                "refused": refused,
            }
            break
        if axis is None:
            calibrations[group] = {"clip": None, "refused": refused}
            continue
        for row, rec in members:
            table = classify_recording(_without_front(rec), model=model, forward_axis=np.asarray(axis))
            rows.append(_score(row, table.direction))
    return rows, calibrations


def ipol_loso() -> dict[str, Any]:
    from gaitdir.model import evaluate

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        recs = [read_recording(p) for p in sorted(IPOL.glob("*_lb.txt"))]
    subjects = {r.meta["subject"] for r in recs}
    report = evaluate(recs, n_splits=len(subjects))
    real = report.direction["real"]["forward"]
    return {
        "split": report.split,
        "forward_steps": real["n_steps"],
        "called_forward": real["correct"],
        "specificity": real["accuracy"],
    }


# ----------------------------------------------------------------------------------------------------
# ablations


def _reversed_features(rec: Recording, front: np.ndarray) -> np.ndarray:
    """Features of the same steps played backwards in time (the other hypothesis of a backward step)."""
    out = []
    for batch in detect_steps(rec, front_axis_sensor=front):
        if not len(batch):
            continue
        body = batch.body
        n = body.n_samples
        rev = [x[::-1].copy() for x in (body.vertical_mps2, body.ap_mps2, body.ml_mps2)]
        from gaitdir.features import step_features_from_arrays

        out.append(
            step_features_from_arrays(
                *rev, n - batch.end_idx, n - batch.start_idx, sample_rate_hz=body.sample_rate_hz
            )
        )
    return np.concatenate(out) if out else np.zeros((0, len(FEATURE_NAMES)))


def _steps(rec: Recording, front: np.ndarray, *, fixed: bool) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Features along the front, start and end of every step: with the AP axis fixed to the known front,
    or estimated and signed by the front."""
    feats, starts, ends = [], [], []
    params = {"front_axis_sensor": front} if fixed else {}
    for batch in detect_steps(rec, **params):
        if not len(batch):
            continue
        sign = 1.0 if fixed else (ap_sign_from_axis(front, batch, min_cosine=0.0) or 1.0)
        feats.append(step_features(batch, ap_sign=sign))
        starts.append(batch.start_s)
        ends.append(batch.end_s)
    if not feats:
        return np.zeros((0, len(FEATURE_NAMES))), np.zeros(0), np.zeros(0)
    return np.concatenate(feats), np.concatenate(starts), np.concatenate(ends)


def ablations(clips: list[tuple[dict[str, str], Recording]]) -> list[dict[str, Any]]:
    from gaitdir.model import DirectionClassifier, step_labels

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ipol = [read_recording(p) for p in sorted(IPOL.glob("*_lb.txt"))]
    travel_only = np.array([n not in ("corr_ap_vertical", "fundamental_phase_cos") for n in FEATURE_NAMES])
    cache: dict[tuple[str, bool], tuple[np.ndarray, np.ndarray]] = {}

    def training(fixed: bool, reversal: bool) -> tuple[np.ndarray, np.ndarray]:
        key = (("reversed" if reversal else "mirrored"), fixed)
        if key not in cache:
            xs, bs = [], []
            for rec in ipol:
                front = parse_forward_axis(rec.meta["forward_axis"])
                x, s, e = _steps(rec, front, fixed=fixed)
                keep = step_labels(rec, s, e) == "forward"
                xs.append(x[keep])
                bs.append(_reversed_features(rec, front)[keep] if reversal else mirror_features(x[keep]))
            cache[key] = (np.concatenate(xs), np.concatenate(bs))
        return cache[key]

    variants = [
        (
            "as shipped: mirrored class, 6 cues, AP = known front, evidence 0.85 over pauses <= 0.5 s, "
            "bout start held",
            {},
        ),
        ("time-reversed forward steps as the backward class", {"reversal": True}),
        ("the 4 cues both hypotheses agree on (no zero-lag cues)", {"columns": travel_only}),
        ("each step alone (no evidence carried, nothing held)", {"decay": 0.0, "held": 0}),
        (
            "evidence 0.5 between touching steps only, nothing held (previous rule)",
            {"decay": 0.5, "gap_s": 0.0, "held": 0},
        ),
        ("AP axis estimated, signed by the known front", {"fixed": False}),
    ]
    out = []
    for name, v in variants:
        fixed = v.get("fixed", True)
        forward, backward = training(fixed, v.get("reversal", False))
        columns = v.get("columns", np.ones(len(FEATURE_NAMES), bool))
        x = np.concatenate([forward, backward])[:, columns]
        y = np.array(["forward"] * len(forward) + ["backward"] * len(backward))
        clf = DirectionClassifier().fit(x, y)
        model = DirectionModel(classifier=clf, feature_names=tuple(np.array(FEATURE_NAMES)[columns]))
        rows = []
        for row, rec in clips:
            front = parse_forward_axis(rec.meta["forward_axis"])
            feats, s, e = _steps(rec, front, fixed=fixed)
            evidence = BoutEvidence(
                decay=v.get("decay", 0.85), gap_s=v.get("gap_s", 0.5), max_held=v.get("held", 2)
            )
            values = np.concatenate(
                [evidence.push(forward_log_odds(model, feats[:, columns]), s, e), evidence.flush()]
            )
            rows.append(_score(row, np.where(values >= 0, "forward", "backward")))
        shares = totals(rows)
        out.append({"variant": name, **{k: shares[k]["share"] for k in shares if k != "count"}})
    return out


# ----------------------------------------------------------------------------------------------------


def _pct(x: float | None) -> str:
    return "n/a" if x is None else f"{100 * x:.1f} %"


def _print_rows(title: str, rows: list[dict[str, Any]]) -> None:
    print(f"\n## {title}\n")
    print("| clip | group | walked | steps (feet) | called right | labels |")
    print("|---|---|---|---|---|---|")
    for r in rows:
        print(
            f"| {r['clip']} | {r['group'][-4:]} | {r['label']} | {r['steps']} ({r['feet_steps']}) | "
            f"{r['correct']}/{r['steps']} | `{r['labels']}` |"
        )
    t = totals(rows)
    print()
    for group in ("all", "bandai1-grpA", "bandai1-grpB"):
        b, f = t[f"{group}/backward"], t[f"{group}/forward"]
        print(
            f"- {group}: backward steps called backward {b['correct']}/{b['steps']} ({_pct(b['share'])}), "
            f"forward steps called forward {f['correct']}/{f['steps']} ({_pct(f['share'])})"
        )
    c = t["count"]
    print(
        f"- steps counted within 2 of the feet's count: {c['clips_within_2_steps']} of {c['clips']} clips "
        f"(worst off by {c['worst_off_by']})"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--ipol", action="store_true", help="also IPOL forward specificity, leave one subject out"
    )
    parser.add_argument("--ablations", action="store_true", help="also the design variants")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    args = parser.parse_args(argv)
    if not MOCAP.is_dir():
        print(f"the motion-capture clips are expected at {MOCAP}", file=sys.stderr)
        return 2
    model = load_model()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        clips = load_clips()
        known = front_known(model, clips)
        calibrated, calibrations = front_calibrated(model, clips)
        assumed = front_assumed(model, clips)
        result: dict[str, Any] = {
            "front_known": {"clips": known, "totals": totals(known)},
            "front_calibrated": {
                "clips": calibrated,
                "totals": totals(calibrated),
                "calibrations": calibrations,
            },
            "front_assumed": {"clips": assumed, "totals": totals(assumed)},
        }
        if args.ipol:
            result["ipol_loso"] = ipol_loso()
        if args.ablations:
            result["ablations"] = ablations(clips)
    if args.json:
        print(json.dumps(result, default=float))
        return 0
    print(
        "# Direction on real backward motion (mocap-backward; 1-2 people, acted styles, 6 Hz virtual pelvis)"
    )
    _print_rows("Front known (the file's forward_axis)", known)
    _print_rows("Front from `calibrate` on one forward clip of the same group", calibrated)
    print()
    for group, c in calibrations.items():
        refused = "; ".join(f"{r['clip']}: {r['reason']}" for r in c["refused"]) or "none"
        print(
            f"- {group}: calibrated on {c.get('clip')} (cosine with the anatomical front "
            f"{c.get('cosine_with_anatomical_front')}, {c.get('steps')} steps); refused before it: {refused}"
        )
    _print_rows("Front assumed from the first steps (nothing known; every clip walks one way)", assumed)
    if args.ipol:
        i = result["ipol_loso"]
        print(f"\n## IPOL lower back, forward steps of people never trained on ({i['split']})\n")
        print(f"- called forward: {i['called_forward']}/{i['forward_steps']} ({_pct(i['specificity'])})")
    if args.ablations:
        print(
            "\n## Design variants (trained on IPOL forward steps + a synthetic class; scored on the clips)\n"
        )
        print("| variant | backward, all | forward, all | backward A/B | forward A/B |")
        print("|---|---|---|---|---|")
        for a in result["ablations"]:
            print(
                f"| {a['variant']} | {_pct(a['all/backward'])} | {_pct(a['all/forward'])} | "
                f"{_pct(a['bandai1-grpA/backward'])} / {_pct(a['bandai1-grpB/backward'])} | "
                f"{_pct(a['bandai1-grpA/forward'])} / {_pct(a['bandai1-grpB/forward'])} |"
            )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
