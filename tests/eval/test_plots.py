"""The figures of an evaluation, drawn from synthetic scores: valid PNGs of the right size."""

from __future__ import annotations

import math
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from maskgate.eval.plots import (
    DPI,
    PlottingUnavailable,
    det_plot,
    histogram_plot,
    require_matplotlib,
)

NAN = math.nan


def _pairs(n: int, genuine: float, impostor: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """``n`` genuine and ``n`` impostor scores around the given means; genuine first."""
    rng = np.random.default_rng(seed)
    scores = np.concatenate([rng.normal(genuine, 0.1, n), rng.normal(impostor, 0.1, n)])
    return np.clip(scores, -1, 1), np.arange(2 * n) < n


def _png_size(path: Path) -> tuple[int, int]:
    with Image.open(path) as image:
        assert image.format == "PNG"
        image.load()  # decodes the whole file: a truncated PNG fails here
        return image.size


def test_det_plot_writes_a_png_of_the_figure_size(tmp_path: Path) -> None:
    full = _pairs(300, 0.6, 0.1, seed=0)
    partial = _pairs(100, 0.45, 0.15, seed=1)
    path = det_plot({"full": full, "partial": partial}, tmp_path / "det.png", "DET")
    assert path == tmp_path / "det.png"
    # 6.2 inches of axes, and a legend of two curves, the diagonal and the band below them
    assert _png_size(path) == (round(7.5 * DPI), round((6.2 + 4 * 0.2) * DPI))
    assert path.stat().st_size > 20_000  # axes, grid, lines and legend, not a blank canvas


def test_det_plot_draws_zero_rates_and_failed_pairs(tmp_path: Path) -> None:
    """Separable classes (FMR and FNMR both reach 0) and NaN scores draw without warnings
    (the suite turns warnings into errors); a curve with one class is noted, not drawn."""
    separable = (np.array([0.9, 0.8, 0.7, 0.1, 0.0, -0.1]), np.array([1, 1, 1, 0, 0, 0], bool))
    failed = (np.array([0.9, NAN, 0.7, NAN, 0.0, -0.1]), np.array([1, 1, 1, 0, 0, 0], bool))
    one_class = (np.array([0.5, 0.6]), np.array([True, True]))
    path = det_plot(
        {"separable": separable, "with failures": failed, "genuine only": one_class},
        tmp_path / "det.png",
        "edge cases",
        dashed=frozenset({"with failures"}),
    )
    assert _png_size(path) == (round(7.5 * DPI), round((6.2 + 4 * 0.2) * DPI))


def test_histogram_plot_leaves_failed_pairs_out_and_marks_thresholds(tmp_path: Path) -> None:
    scores, labels = _pairs(200, 0.6, 0.1, seed=2)
    scores[:5] = NAN  # five failed genuine pairs
    thresholds = {"EER threshold": 0.35, "threshold @ FMR 1e-3": 0.42, "never drawn": -math.inf}
    for name, log_y in (("linear.png", False), ("log.png", True)):
        path = histogram_plot(scores, labels, tmp_path / name, "scores", thresholds, log_y=log_y)
        assert _png_size(path) == (8 * DPI, 5 * DPI)
        assert path.stat().st_size > 15_000


def test_histogram_plot_of_a_class_without_scores(tmp_path: Path) -> None:
    """Every impostor failed, or the case has no pair at all: still a figure, no warning."""
    scores = np.array([0.7, 0.8, NAN, NAN])
    labels = np.array([True, True, False, False])
    assert _png_size(histogram_plot(scores, labels, tmp_path / "a.png", "t", log_y=True))
    empty = np.array([], dtype=np.float64)
    path = histogram_plot(empty, np.array([], dtype=bool), tmp_path / "b.png", "no pairs")
    assert _png_size(path) == (8 * DPI, 5 * DPI)


def test_a_missing_matplotlib_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # makes `import matplotlib` fail
    with pytest.raises(PlottingUnavailable, match=r"pip install 'maskgate\[eval\]'"):
        require_matplotlib()
