"""One definition of a step's reference: ``gaitdir evaluate`` and the step benchmark score alike."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

from gaitdir.model import evaluate, load_model
from gaitdir.signal import score_recording

BENCHMARK = Path(__file__).resolve().parents[2] / "benchmarks" / "step_detection.py"


def _benchmark():
    spec = importlib.util.spec_from_file_location("step_detection_benchmark", BENCHMARK)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def test_evaluate_and_benchmark_give_the_same_step_figures(ipol) -> None:
    recs = [ipol(f"9-3_{site}.txt") for site in ("lb", "lf", "rf")]
    report = evaluate(recs, model=load_model()).step_detection
    bench = _benchmark()
    pooled = None
    for rec in recs:
        starts = bench.step_starts(rec)
        m = bench.score(starts, rec).match
        assert m == score_recording(starts, rec)
        pooled = m if pooled is None else pooled + m
    assert pooled is not None
    assert report["true_positives"] == pooled.tp
    assert report["detected_steps"] == pooled.n_detected
    assert report["reference_steps"] == pooled.n_reference
    assert report["f1"] == pytest.approx(pooled.f1) and report["count_error"] == pytest.approx(
        pooled.count_error
    )
    # a foot sensor's steps are both feet's, scored against both feet's contacts
    assert report["f1"] > 0.9 and abs(report["count_error"]) < 0.08
