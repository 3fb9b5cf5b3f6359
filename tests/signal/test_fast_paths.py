"""The detector's shortcuts for day-long files give exactly what the general code gives."""

from __future__ import annotations

import numpy as np
import pytest

from gaitdir.signal import StepBatch, StepDetector, detect_steps
from gaitdir.signal._orientation import BodyFrameEstimator

_FIELDS = ("start_s", "end_s", "start_idx", "end_idx", "inferred_ic", "ap_axis_sensor")


def _assert_same(a: list[StepBatch], b: list[StepBatch]) -> None:
    assert len(a) == len(b)
    for x, y in zip(a, b, strict=True):
        for field in _FIELDS:
            np.testing.assert_array_equal(getattr(x, field), getattr(y, field))
        assert x.emitted_s == y.emitted_s
        for field in ("vertical_mps2", "ap_mps2", "ml_mps2"):
            np.testing.assert_array_equal(getattr(x.body, field), getattr(y.body, field))


@pytest.mark.parametrize(
    ("source", "name", "params", "at_least"),
    [
        ("ipol", "8-3_lb.txt", {}, 20),
        # late contacts (early_emit) and filled gaps leave the shortcut for the general code
        ("ipol", "10-2_lb.txt", {"early_emit": 2.5}, 20),
        ("oxford", "neckpouch", {}, 20),
        # two peaks per step (a 12.8 s clip): second bumps passed over, the bout's steps doubled
        ("mocap", "bandai1_walk-back_proud_001", {}, 10),
    ],
)
def test_in_stride_shortcut_equals_general_path(
    ipol,
    oxford,
    mocap,
    monkeypatch: pytest.MonkeyPatch,
    source: str,
    name: str,
    params: dict,
    at_least: int,
) -> None:
    rec = {"ipol": ipol, "oxford": oxford, "mocap": lambda n: mocap(n)[0]}[source](name)
    taken = []
    shortcut = StepDetector._in_stride_run

    def counting(self: StepDetector, *args: object) -> int:
        stop = shortcut(self, *args)
        taken.append(stop - args[-2])
        return stop

    monkeypatch.setattr(StepDetector, "_in_stride_run", counting)
    fast = detect_steps(rec, chunk_s=7.3, **params)
    assert sum(taken) > at_least  # the shortcut really ran
    monkeypatch.setattr(StepDetector, "_in_stride_run", lambda self, *args: args[-2])
    general = detect_steps(rec, chunk_s=7.3, **params)
    assert sum(len(b) for b in general) > at_least
    _assert_same(fast, general)


def test_expand_equals_repeat() -> None:
    rng = np.random.default_rng(3)
    est = BodyFrameEstimator(100.0)
    for k0, m in ((0, 1000), (13, 997), (24, 30), (5, 3)):
        pts = est._update_points(k0, m)
        axes = rng.normal(size=(pts.size, 3))
        previous = rng.normal(size=3)
        got = BodyFrameEstimator._expand(axes, pts, m, previous)
        first = int(pts[0]) if pts.size else m
        want = np.vstack([np.tile(previous, (first, 1)), np.repeat(axes, np.diff(np.append(pts, m)), axis=0)])
        np.testing.assert_array_equal(got, want)


def _assert_dot_close(got: np.ndarray, want: np.ndarray, bound: np.ndarray) -> None:
    """Equal up to the rounding of a three-term sum of products (``bound`` = row sums of |products|).

    The fast code adds in the order this numpy's einsum does, so here they agree bit for bit; the
    tolerance keeps the test about the values, not about another numpy's order of addition.
    """
    assert got.shape == want.shape
    np.testing.assert_array_less(np.abs(got - want), 4 * np.finfo(float).eps * bound + 1e-300)


def _layout(x: np.ndarray, layout: str) -> np.ndarray:
    """``x`` (m, 3) C-ordered, column-major (as sosfilt returns it) or as columns of an (m, 6) array."""
    if layout == "columns":
        return np.ascontiguousarray(x.T).T
    if layout == "slice":
        wide = np.zeros((x.shape[0], 6))
        wide[:, 3:] = x
        return wide[:, 3:]
    return np.ascontiguousarray(x)


def _awkward(rng: np.random.Generator, m: int) -> np.ndarray:
    """Values whose order of addition shows in the last bit, and rows of signed zeros."""
    x = rng.normal(size=(m, 3)) * rng.choice([1e-3, 1.0, 1e3], size=(m, 3))
    x[::7] = -0.0
    x[::11] = 0.0
    return x


@pytest.mark.parametrize("a_layout", ["rows", "columns", "slice"])
@pytest.mark.parametrize("b_layout", ["rows", "columns", "slice"])
def test_row_dot_equals_einsum(a_layout: str, b_layout: str) -> None:
    # _row_dot mirrors the order in which numpy's einsum adds a row's three products (which depends on
    # the operands' layouts); a numpy whose einsum adds in another order fails here first.
    from gaitdir.signal._orientation import _row_dot

    rng = np.random.default_rng(7)
    for m in (0, 1, 2, 3, 5, 24, 25, 1000, 60_001):
        a = _layout(_awkward(rng, m), a_layout)
        b = _layout(-np.abs(_awkward(rng, m)), b_layout)  # negative factors: -0.0 products
        for x, y in ((a, b), (a, a)):
            want = np.einsum("ij,ij->i", x, y)
            bound = np.einsum("ij,ij->i", np.abs(x), np.abs(y))
            _assert_dot_close(_row_dot(x, y), want, bound)
            _assert_dot_close(_row_dot(x, y, np.ascontiguousarray(x.T)), want, bound)


@pytest.mark.parametrize("layout", ["rows", "columns", "slice"])
def test_held_axes_dot_equals_einsum_on_per_sample_axes(layout: str) -> None:
    from gaitdir.signal._orientation import _HeldAxes

    rng = np.random.default_rng(11)
    est = BodyFrameEstimator(100.0)
    for k0, m in ((0, 1000), (13, 997), (24, 30), (5, 3), (7, 2), (3, 20), (0, 60_000)):
        pts = est._update_points(k0, m)
        axes = _awkward(rng, pts.size)
        previous = rng.normal(size=3)
        x = _layout(_awkward(rng, m), layout)
        held = _HeldAxes(pts, axes, -axes, previous, -previous, m)
        for which, a, p in (("ap", axes, previous), ("ml", -axes, -previous)):
            per_sample = BodyFrameEstimator._expand(a, pts, m, p)
            want = np.einsum("ij,ij->i", x, per_sample)
            got = held.dot(x, np.ascontiguousarray(x.T), which)
            _assert_dot_close(got, want, np.einsum("ij,ij->i", np.abs(x), np.abs(per_sample)))


def test_horizontal_principal_equals_numpy_reference() -> None:
    from gaitdir.signal._orientation import _horizontal_principal

    def reference(c: np.ndarray, up: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        # the plain-numpy formulation the fast one replaces
        n = up.shape[0]
        helper = np.zeros((n, 3))
        helper[np.arange(n), np.argmin(np.abs(up), axis=1)] = 1.0
        e1 = np.cross(up, helper)
        e1 /= np.linalg.norm(e1, axis=1)[:, np.newaxis]
        e2 = np.cross(up, e1)
        ce1 = np.einsum("nij,nj->ni", c, e1)
        ce2 = np.einsum("nij,nj->ni", c, e2)
        p = np.einsum("ni,ni->n", e1, ce1)
        q = np.einsum("ni,ni->n", e1, ce2)
        r = np.einsum("ni,ni->n", e2, ce2)
        theta = 0.5 * np.arctan2(2.0 * q, p - r)
        lam = 0.5 * (p + r) + np.sqrt(0.25 * (p - r) ** 2 + q * q)
        return lam, np.cos(theta)[:, np.newaxis] * e1 + np.sin(theta)[:, np.newaxis] * e2

    rng = np.random.default_rng(5)
    for n in (1, 2, 3, 17, 2400):
        c = rng.normal(size=(n, 3, 3)) * rng.choice([1e-3, 1.0, 1e3], size=(n, 3, 3))
        c = np.ascontiguousarray(c + c.transpose(0, 2, 1))
        c[::5] = 0.0  # standing still: zero covariance
        up = rng.normal(size=(n, 3))
        up /= np.linalg.norm(up, axis=1)[:, np.newaxis]
        with np.errstate(invalid="ignore"):
            got, want = _horizontal_principal(c, up), reference(c, up)
        for g, w in zip(got, want, strict=True):
            np.testing.assert_allclose(g, w, rtol=1e-9, atol=1e-9 * float(np.abs(c).max()), equal_nan=True)
        assert got[1].flags.c_contiguous  # callers' einsums add in an order that depends on it
