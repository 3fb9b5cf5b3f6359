"""Direction classifier, training, subject-wise evaluation and safe model loading, on real IPOL data.

IPOL healthy gait (Voisard et al., IPOL 2023, AGPL-3.0) is read by path from ../shared/datasets.
"""

from __future__ import annotations

import json
import subprocess
import sys
import warnings
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from sklearn.base import clone

from gaitdir.errors import ModelError
from gaitdir.features import FEATURE_NAMES, mirror_features, step_features
from gaitdir.model import (
    BOUT_GAP_S,
    MIRRORED_AP,
    MODEL_FORMAT,
    MODEL_FORMAT_VERSION,
    DirectionClassifier,
    DirectionModel,
    LinearDirectionPredictor,
    default_model_path,
    evaluate,
    file_sha256,
    forward_log_odds,
    load_model,
    parse_forward_axis,
    save_model,
    smooth_log_odds,
    step_labels,
    train_model,
    trusted_registry_path,
)
from gaitdir.recordings import Recording, read_kuhar_dataset, read_recording, write_recording_csv
from gaitdir.signal import detect_steps

REPO = Path(__file__).resolve().parents[1]
DATASETS = REPO / ".." / "shared" / "datasets"
IPOL = DATASETS / "ipol-healthy-gait" / "GaitData"
KUHAR_FIXTURE = REPO / "tests" / "fixtures" / "recordings" / "kuhar"


def _ipol(subjects: range, trials: range = range(1, 7)) -> list[Recording]:
    out = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for s in subjects:
            for t in trials:
                path = IPOL / f"{s}-{t}_lb.txt"
                if path.exists():
                    out.append(read_recording(path))
    return out


@pytest.fixture(autouse=True)
def _private_config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Each test gets its own trusted-model registry."""
    monkeypatch.setenv("GAITDIR_CONFIG_DIR", str(tmp_path / "config"))


@pytest.fixture(scope="module")
def small_model() -> DirectionModel:
    return train_model(_ipol(range(5, 9), range(1, 3)))


# -- estimator conventions ------------------------------------------------------------------------


def test_estimator_follows_sklearn_conventions() -> None:
    est = DirectionClassifier(kind="boosting", C=0.5, max_iter=20, max_leaf_nodes=7, random_state=3)
    params = est.get_params()
    assert params == {"kind": "boosting", "C": 0.5, "max_iter": 20, "max_leaf_nodes": 7, "random_state": 3}
    twin = clone(est)
    assert twin is not est and twin.get_params() == params
    assert est.set_params(max_iter=30) is est and est.max_iter == 30
    # __init__ stores, fit validates.
    bad = DirectionClassifier(kind="nonsense")
    rng = np.random.default_rng(0)
    x = rng.normal(size=(40, len(FEATURE_NAMES)))
    y = np.where(x[:, -1] > 0, "forward", "backward")
    with pytest.raises(ValueError, match="kind"):
        bad.fit(x, y)
    for kind in ("logistic", "boosting"):
        fitted = DirectionClassifier(kind=kind, max_iter=20).fit(x, y)
        assert list(fitted.classes_) == ["backward", "forward"]
        assert fitted.n_features_in_ == x.shape[1]
        proba = fitted.predict_proba(x)
        assert proba.shape == (40, 2)
        np.testing.assert_allclose(proba.sum(axis=1), 1.0)
        assert set(fitted.predict(x)) <= {"backward", "forward"}
    with pytest.raises(ValueError, match="both classes"):
        DirectionClassifier().fit(x, np.full(40, "forward"))
    with pytest.raises(ValueError, match="labels must be"):
        DirectionClassifier().fit(x, np.full(40, "sideways"))


# -- labels and axes ------------------------------------------------------------------------------


def test_step_labels_majority_of_samples() -> None:
    t = np.arange(10) / 10.0
    labels = np.array(["other"] * 3 + ["forward"] * 4 + ["backward"] * 3)
    rec = Recording(time_s=t, acc_mps2=np.zeros((10, 3)), labels=labels)
    got = step_labels(rec, np.array([0.0, 0.25, 0.65, 0.85, 2.0]), np.array([0.25, 0.65, 1.0, 1.0, 3.0]))
    assert list(got) == ["other", "forward", "backward", "backward", "other"]
    unlabelled = Recording(time_s=t, acc_mps2=np.zeros((10, 3)))
    assert list(step_labels(unlabelled, np.array([0.0]), np.array([0.5]))) == ["other"]


def test_parse_forward_axis() -> None:
    np.testing.assert_allclose(parse_forward_axis("+x"), [1, 0, 0])
    np.testing.assert_allclose(parse_forward_axis("-z"), [0, 0, -1])
    np.testing.assert_allclose(parse_forward_axis("y"), [0, 1, 0])
    np.testing.assert_allclose(parse_forward_axis("0, 3, 4"), [0, 0.6, 0.8])
    np.testing.assert_allclose(parse_forward_axis([0.0, 0.0, 2.0]), [0, 0, 1])
    assert parse_forward_axis(None) is None and parse_forward_axis("") is None
    for bad in ("up", "1,2", "0,0,0", "nan,1,1"):
        with pytest.raises(ModelError, match="forward axis"):
            parse_forward_axis(bad)


# -- training ------------------------------------------------------------------------------------


def test_training_on_forward_only_adds_the_mirrored_class(small_model: DirectionModel) -> None:
    meta = small_model.metadata
    assert meta["synthetic_backward"] is True
    assert meta["backward_source"] == "mirrored-ap"
    assert meta["synthetic_backward_transform"] == MIRRORED_AP
    assert meta["real_steps"]["backward"] == 0
    assert meta["synthetic_backward_steps"] == meta["real_steps"]["forward"] > 100
    assert meta["subjects"] == ["ipol-5", "ipol-6", "ipol-7", "ipol-8"]
    json.dumps(meta)


def test_training_with_real_backward_labels_of_few_people_keeps_the_mirrored_class(tmp_path: Path) -> None:
    """Recordings labelled backward train on their real labels, with no code change; with backward steps
    of fewer than MIN_BACKWARD_SUBJECTS people the mirrored class is added too (False: real labels only).

    These are IPOL *forward* trials written as gaitdir CSV with the label column set to "backward":
    only the code path is tested here, no accuracy is claimed.
    """
    recs = _ipol(range(5, 7), range(1, 3))
    paths = []
    for i, rec in enumerate(recs):
        if i % 2:
            rec = replace(rec, labels=np.where(rec.labels == "forward", "backward", rec.labels))
        paths.append(write_recording_csv(tmp_path / f"rec{i}.csv", rec))
    read_back = [read_recording(p) for p in paths]
    assert {r.meta["format"] for r in read_back} == {"gaitdir"}
    mixed = train_model(read_back).metadata
    assert mixed["backward_source"] == "real+mirrored-ap" and mixed["synthetic_backward_steps"] > 30
    meta = train_model(read_back, synthetic_backward=False).metadata
    assert meta["synthetic_backward"] is False and meta["backward_source"] == "real"
    assert meta["synthetic_backward_steps"] == 0
    assert meta["real_steps"]["forward"] > 30 and meta["real_steps"]["backward"] > 30
    with pytest.raises(ModelError, match="synthetic_backward"):
        train_model(read_back, synthetic_backward="sometimes")


def test_training_on_kuhar_layout_uses_its_real_labels() -> None:
    """The KU-HAR layout fixture (forward IPOL walking in KU-HAR's folders; see its README) trains on
    the folder labels: the Walk-backwards folder gives backward labels, so no mirrored class."""
    recs = read_kuhar_dataset(KUHAR_FIXTURE)
    model = train_model(recs, synthetic_backward=False)
    assert model.metadata["backward_source"] == "real"
    assert model.metadata["real_steps"]["backward"] > 0
    assert model.metadata["real_steps"]["forward"] > 0


def test_training_without_labels_is_refused() -> None:
    recs = [replace(r, labels=None) for r in _ipol(range(5, 6), range(1, 2))]
    with pytest.raises(ModelError, match="no labelled"):
        train_model(recs)


# -- evaluation ----------------------------------------------------------------------------------


def test_evaluate_is_subject_wise_and_honest() -> None:
    recs = _ipol(range(1, 5), range(1, 3))
    report = evaluate(recs, n_splits=4)
    d = report.to_dict()
    json.dumps(d)
    tested = [s for f in d["folds"] for s in f["test_subjects"]]
    assert sorted(tested) == ["ipol-1", "ipol-2", "ipol-3", "ipol-4"]  # each subject tested once
    assert "GroupKFold(4) by subject" in d["split"]
    sd = d["step_detection"]
    assert sd["recordings"] == len(recs) and sd["reference_steps"] > 200
    assert sd["f1"] > 0.85 and abs(sd["count_error"]) < 0.1
    real = d["direction"]["real"]
    assert real["forward"]["n_steps"] > 200 and real["forward"]["accuracy"] > 0.85
    assert real["backward"] == {"n_steps": 0, "correct": 0, "accuracy": None}
    assert d["direction"]["backward_on_real_backward_walking"] == "unvalidated"
    assert "synthetic" in d["direction"]["mirrored"]["note"]
    assert d["direction"]["mirrored"]["backward"]["n_steps"] == real["forward"]["n_steps"]
    assert d["direction"]["real_first_bout"]["forward"]["accuracy"] > 0.8
    assert d["direction"]["first_bout_sessions"]["sessions"] == len(recs)
    assert d["direction"]["first_bout_sessions"]["swapped"] <= 1
    assert d["direction"]["real_per_step"]["forward"]["n_steps"] == real["forward"]["n_steps"]
    assert d["model"]["synthetic_backward"] is True
    with pytest.raises(ModelError, match="two subjects"):
        evaluate(_ipol(range(1, 2), range(1, 3)))


def test_evaluate_a_given_model_on_unseen_subjects(small_model: DirectionModel) -> None:
    report = evaluate(_ipol(range(1, 3), range(1, 2)), model=small_model)
    assert "given model" in report.split
    assert report.direction["real"]["forward"]["accuracy"] > 0.85


# -- persistence ---------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def boosting_model() -> DirectionModel:
    return train_model(
        _ipol(range(5, 7), range(1, 2)), classifier=DirectionClassifier(kind="boosting", max_iter=10)
    )


def _held_out_features(model: DirectionModel) -> np.ndarray:
    """Features of real steps of IPOL subjects 9–10 (not in ``small_model``'s training set)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        batches = [
            b for rec in _ipol(range(9, 11), range(1, 3)) for b in detect_steps(rec, **model.detector_params)
        ]
    x = np.concatenate([step_features(b) for b in batches])
    return np.concatenate([x, mirror_features(x)])


def test_shipped_model_is_json_and_loads() -> None:
    path = default_model_path()
    assert path.name == "default_model.json"
    doc = json.loads(path.read_text(encoding="utf-8"))
    assert doc["format"] == MODEL_FORMAT and doc["format_version"] == MODEL_FORMAT_VERSION
    model = load_model()
    assert isinstance(model, DirectionModel)
    assert isinstance(model.classifier, LinearDirectionPredictor)
    assert model.feature_names == FEATURE_NAMES
    assert model.metadata["synthetic_backward"] is True
    # models/ holds the same file (a link to the package copy), and the recorded hash is the file's.
    assert file_sha256(REPO / "models" / "default_model.json") == file_sha256(path)
    assert file_sha256(path) in (path.parent / "default_model.sha256").read_text()
    # The shipped model treats an AP mirror as the other direction.
    x = np.random.default_rng(1).normal(size=(5, len(FEATURE_NAMES)))
    np.testing.assert_allclose(
        model.forward_proba(x), 1.0 - model.forward_proba(mirror_features(x)), atol=0.05
    )


def test_json_model_predicts_as_the_sklearn_model(small_model: DirectionModel, tmp_path: Path) -> None:
    path = save_model(small_model, tmp_path / "mine.json", trust=False)
    assert json.loads(path.read_text(encoding="utf-8"))["classifier"]["kind"] == "logistic"
    # Data only: it loads without being in the trusted registry.
    loaded = load_model(path)
    assert isinstance(loaded.classifier, LinearDirectionPredictor)
    assert loaded.metadata == small_model.metadata
    assert loaded.detector_params == small_model.detector_params
    x = _held_out_features(small_model)
    assert x.shape[0] > 100
    expected = small_model.classifier.predict_proba(x)
    got = loaded.classifier.predict_proba(x)
    np.testing.assert_allclose(got, expected, rtol=0, atol=1e-12)
    np.testing.assert_array_equal(loaded.classifier.predict(x), small_model.classifier.predict(x))
    assert loaded.classifier.predict_proba(x[:0]).shape == (0, 2)
    # Saving a loaded JSON model again gives the same bytes.
    again = save_model(loaded, tmp_path / "again.json", trust=False)
    assert again.read_bytes() == path.read_bytes()


def test_linear_forward_probability_is_the_predict_proba_column_bit_for_bit() -> None:
    model = load_model()
    rng = np.random.default_rng(5)
    x = rng.normal(size=(300, len(FEATURE_NAMES))) * rng.choice([0.1, 1.0, 30.0], size=(300, 1))
    x[0, 3] = np.nan
    column = model.classifier.predict_proba(x)[:, 1]
    assert model.forward_proba(x).tobytes() == np.ascontiguousarray(column).tobytes()
    p = np.clip(column, 1e-6, 1 - 1e-6)
    assert forward_log_odds(model, x).tobytes() == np.log(p / (1 - p)).tobytes()
    assert model.forward_proba(x[:0]).shape == (0,)


def _reference_smoothing(
    log_odds: np.ndarray, start_s: np.ndarray, end_s: np.ndarray, decay: float, carry: tuple | None
) -> tuple[np.ndarray, tuple | None]:
    """smooth_log_odds as a plain loop over numpy elements (the reference for its fast loop)."""
    out = np.asarray(log_odds, dtype=float).copy()
    prev_end, prev = carry if carry is not None else (-np.inf, 0.0)
    for i in range(out.shape[0]):
        if decay > 0 and prev_end - 0.05 <= float(start_s[i]) <= prev_end + BOUT_GAP_S:
            out[i] += decay * prev
        prev_end, prev = float(end_s[i]), float(out[i])
    return out, ((prev_end, prev) if out.shape[0] else carry)


def test_smoothing_equals_the_plain_loop_bit_for_bit() -> None:
    rng = np.random.default_rng(11)
    for trial in range(60):
        k = int(rng.integers(0, 120))
        log_odds = rng.normal(scale=5.0, size=k)
        duration = rng.uniform(0.3, 0.8, k)
        # Mostly contiguous steps, some pauses, some gaps right at the bout's gap tolerance, some overlaps.
        gap = np.where(rng.random(k) < 0.8, 0.0, rng.choice([-0.06, -0.04, 0.499, 0.5, 0.501, 1.5], size=k))
        start = np.cumsum(duration + gap) - duration
        end = start + duration
        if trial % 3 == 0:
            start, end = start.astype(np.float32), end.astype(np.float32)
        decay = [0.5, 0.9, 0.0, np.float32(0.7), np.float64(0.5)][trial % 5]
        carry = [None, (float(start[0]) if k else 0.0, 2.5), (np.float32(-1.0), np.float32(3.0))][trial % 3]
        got, got_carry = smooth_log_odds(log_odds, start, end, decay=decay, carry=carry)
        expected, expected_carry = _reference_smoothing(log_odds, start, end, decay, carry)
        assert got.dtype == expected.dtype and got.tobytes() == expected.tobytes(), trial
        assert got_carry == expected_carry, trial
        assert [type(v) for v in got_carry or ()] == [type(v) for v in expected_carry or ()], trial


def test_malformed_json_model_is_a_clear_error(small_model: DirectionModel, tmp_path: Path) -> None:
    good = json.loads(save_model(small_model, tmp_path / "good.json", trust=False).read_text())
    n = len(FEATURE_NAMES)

    def check(doc: object, match: str, *, raw: str | None = None) -> None:
        path = tmp_path / "bad.json"
        path.write_text(raw if raw is not None else json.dumps(doc))
        with pytest.raises(ModelError, match=match):
            load_model(path)

    def edited(**changes: object) -> dict:
        doc = json.loads(json.dumps(good))
        for key, value in changes.items():
            if key in doc["classifier"]:
                doc["classifier"][key] = value
            else:
                doc[key] = value
        return doc

    check(None, "not a valid gaitdir JSON model", raw=json.dumps(good)[:-40])
    check(
        None,
        "not a valid gaitdir JSON model",
        raw=json.dumps(good).replace(str(good["classifier"]["intercept"]), "NaN"),
    )
    check({"models": []}, "not a gaitdir JSON model")
    check(edited(format_version=2), "format version 2")
    check(edited(format_version=True), "format version True")
    check({**good, "code": "import os"}, "fields must be exactly")
    check(edited(kind="boosting"), "logistic classifiers only")
    check(edited(classes=["forward", "backward"]), "classes must be")
    check(edited(coef=good["classifier"]["coef"][:-1]), f"classifier.coef must be a list of {n} numbers")
    check(edited(scaler_mean=[*good["classifier"]["scaler_mean"][:-1], "1.0"]), "scaler_mean must be a list")
    check(edited(scaler_scale=[0.0] * n), "scaler_scale must be positive")
    check(edited(intercept=1e400), "Infinity is not a finite number")
    check(edited(n_features=n + 1), "does not match")
    check(edited(metadata=[]), "metadata must be an object")
    renamed = [*FEATURE_NAMES[:-1], "something_else"]
    check(edited(feature_names=renamed), "different features")


def test_pickled_model_is_trusted_and_tampered_or_unknown_refused(
    boosting_model: DirectionModel, tmp_path: Path
) -> None:
    path = save_model(boosting_model, tmp_path / "mine.joblib")
    assert not path.read_bytes().lstrip().startswith(b"{")  # boosting models stay pickles
    registry = trusted_registry_path()
    assert registry.parent == tmp_path / "config"
    assert file_sha256(path) in registry.read_text()
    loaded = load_model(path)
    assert loaded.metadata == boosting_model.metadata

    tampered = tmp_path / "tampered.joblib"
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    tampered.write_bytes(bytes(data))
    with pytest.raises(ModelError, match="--trust-model"):
        load_model(tampered)

    unknown = tmp_path / "unknown.joblib"
    other = replace(boosting_model, metadata={**boosting_model.metadata, "note": "made elsewhere"})
    save_model(other, unknown, trust=False)
    with pytest.raises(ModelError, match="not trusted"):
        load_model(unknown)
    assert isinstance(load_model(unknown, trust=True), DirectionModel)

    with pytest.raises(ModelError, match="cannot read"):
        load_model(tmp_path / "missing.joblib")
    not_a_model = tmp_path / "text.joblib"
    not_a_model.write_text("hello")
    with pytest.raises(ModelError, match="not a readable"):
        load_model(not_a_model, trust=True)


def test_modified_shipped_model_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import gaitdir.model._persistence as model_module

    shipped = tmp_path / "default_model.json"
    doc = json.loads(default_model_path().read_text(encoding="utf-8"))
    doc["classifier"]["intercept"] += 1.0  # still a valid model, but not the one shipped
    shipped.write_text(json.dumps(doc))
    monkeypatch.setattr(model_module, "default_model_path", lambda: shipped)
    with pytest.raises(ModelError, match="shipped default model was modified"):
        load_model()
    assert isinstance(load_model(trust=True), DirectionModel)


def test_classifying_with_the_default_model_does_not_import_sklearn() -> None:
    code = (
        "import sys\n"
        "from gaitdir.pipeline import classify_recording\n"
        "from gaitdir.model import load_model\n"
        "from gaitdir.recordings import read_recording\n"
        f"table = classify_recording(read_recording({str(REPO / 'datasets' / 'sample_walk.csv')!r}), "
        "model=load_model())\n"
        "assert table.counts()['steps'] > 10, table.counts()\n"
        "loaded = sorted(m for m in sys.modules if m == 'sklearn' or m.startswith(('sklearn.', 'joblib')))\n"
        "assert not loaded, loaded\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr


def test_evaluate_with_real_backward_labels_reports_them() -> None:
    """On the KU-HAR layout fixture (forward IPOL walking filed in KU-HAR's folders, see its README) the
    backward folder's steps are scored as real backward labels; only the code path is tested."""
    report = evaluate(read_kuhar_dataset(KUHAR_FIXTURE), n_splits=2).to_dict()
    assert report["direction"]["real"]["backward"]["n_steps"] > 0
    assert report["direction"]["backward_on_real_backward_walking"] == "see real.backward"
    assert report["model"]["backward_source"] == "real+mirrored-ap"  # backward steps of fewer than 10 people


def test_damaged_registry_is_reported_but_does_not_block_the_shipped_model(
    boosting_model: DirectionModel, small_model: DirectionModel, tmp_path: Path
) -> None:
    registry = trusted_registry_path()
    registry.parent.mkdir(parents=True)
    registry.write_text("{not json")
    assert isinstance(load_model(), DirectionModel)
    path = tmp_path / "mine.joblib"
    save_model(boosting_model, path, trust=False)
    with pytest.raises(ModelError, match="registry"):
        load_model(path)
    # JSON models need no registry.
    assert isinstance(
        load_model(save_model(small_model, tmp_path / "mine.json", trust=False)), DirectionModel
    )
