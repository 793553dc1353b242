"""Figures of an evaluation: DET curves and score histograms, as PNG files.

matplotlib is an optional dependency (the ``eval`` extra) and is imported only when a
figure is drawn. Figures are drawn on ``matplotlib.figure.Figure`` with the Agg canvas, so
nothing touches pyplot's global state or needs a display.

Scores follow ``maskgate.eval.metrics``: cosine similarities, ``True`` labels for genuine
pairs, NaN for a pair that failed (a non-match at every threshold).
"""

from __future__ import annotations

from collections.abc import Mapping
from itertools import cycle
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from numpy.typing import ArrayLike

from maskgate.eval.metrics import det_curve, eer

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

__all__ = ["DPI", "PlottingUnavailable", "det_plot", "histogram_plot", "require_matplotlib"]

DPI = 120
INSTALL_HINT = "pip install 'maskgate[eval]'"
# Cycled by curve; line styles repeat the colours of the curves named in ``dashed``.
COLOURS = ("tab:blue", "tab:orange", "tab:green", "tab:red", "tab:purple", "tab:brown")
DET_HEIGHT = 6.2  # inches, without the legend below the axes
LEGEND_ROW = 0.2  # inches per row of that legend
THRESHOLD_STYLES = (("black", "--"), ("tab:purple", ":"), ("tab:brown", "-."), ("grey", "--"))

Curves = Mapping[str, tuple[ArrayLike, ArrayLike]]


class PlottingUnavailable(RuntimeError):
    """matplotlib is not installed (it comes with the ``eval`` extra)."""


def require_matplotlib() -> None:
    """Raise ``PlottingUnavailable`` naming the install command when matplotlib is missing."""
    try:
        import matplotlib  # noqa: F401
    except ImportError as error:
        raise PlottingUnavailable(
            f"the evaluation figures need matplotlib: {INSTALL_HINT}"
        ) from error


def _figure(width: float, height: float) -> Figure:
    require_matplotlib()
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    figure = Figure(figsize=(width, height), dpi=DPI, layout="constrained")
    FigureCanvasAgg(figure)
    return figure


def _save(figure: Figure, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=DPI, format="png")
    return path


def _classes(scores: ArrayLike, labels: ArrayLike) -> tuple[np.ndarray, np.ndarray]:
    s = np.asarray(scores, dtype=np.float64)
    y = np.asarray(labels, dtype=np.bool_)
    if s.shape != y.shape or s.ndim != 1:
        raise ValueError(f"scores and labels must be 1-D of equal length: {s.shape} vs {y.shape}")
    return s, y


def _drawable(s: np.ndarray, y: np.ndarray) -> str | None:
    """Why a DET curve cannot be drawn from these pairs, or None when it can."""
    if not y.any() or y.all():
        return "needs genuine and impostor pairs"
    if np.isnan(s).all():
        return "every pair failed"
    return None


def det_plot(
    curves: Curves,
    path: Path,
    title: str,
    *,
    dashed: frozenset[str] = frozenset(),
) -> Path:
    """A DET plot: FNMR (y) against FMR (x), both on log axes, one line per curve.

    Each curve is ``label -> (scores, labels)``; its EER is marked with a dot and given in
    the legend. Failed (NaN) pairs count as non-matches (``metrics.det_curve``): a failed
    genuine pair is a false non-match at every threshold. The axes span the rates the pairs
    can resolve: from about ``1/n`` (``n``: the most impostor pairs of any curve for FMR,
    the most genuine pairs for FNMR) up to 1. A rate of 0 cannot be drawn on a log axis, so
    zero rates are drawn at half of ``1/n``, on the edge of the shaded band that marks
    "below the resolution of these pairs". Curves named in ``dashed`` are drawn dashed in
    the colour of the solid curve before them (e.g. "E_F alone" beside "pipeline"). Curves
    that cannot be drawn (one class only, or every pair failed) are listed in a note. The
    legend sits below the axes, out of the curves' way; the figure grows with it.
    Writes a PNG and returns ``path``.
    """
    prepared = {label: _classes(*pair) for label, pair in curves.items()}
    skipped = {label: why for label, (s, y) in prepared.items() if (why := _drawable(s, y))}
    drawn = {label: sy for label, sy in prepared.items() if label not in skipped}
    columns = 1 if len(drawn) <= 3 else 2
    rows = -(-(len(drawn) + 2) // columns)  # the curves, the diagonal and the band
    figure = _figure(7.5, DET_HEIGHT + LEGEND_ROW * rows)
    ax = figure.subplots()
    n_imp = max((int((~y).sum()) for _, y in drawn.values()), default=1)
    n_gen = max((int(y.sum()) for _, y in drawn.values()), default=1)
    floor_x, floor_y = 0.5 / n_imp, 0.5 / n_gen
    colour = -1
    for label, (s, y) in drawn.items():
        if label not in dashed or colour < 0:
            colour += 1
        fmr, fnmr = _trimmed(*det_curve(s, y)[:2])
        rate, _ = eer(s, y)
        style = "--" if label in dashed else "-"
        line_colour = COLOURS[colour % len(COLOURS)]
        ax.plot(
            np.maximum(fmr, floor_x),
            np.maximum(fnmr, floor_y),
            style,
            color=line_colour,
            linewidth=1.6,
            label=f"{label}: EER {100 * rate:.2f}% ({len(s)} pairs)",
        )
        ax.plot(
            max(rate, floor_x), max(rate, floor_y), "o", color=line_colour, markersize=6, zorder=3
        )
    _det_axes(ax, floor_x, floor_y)
    if skipped:
        note = "; ".join(f"{label}: {why}" for label, why in skipped.items())
        ax.text(0.02, 0.02, f"not drawn: {note}", transform=ax.transAxes, fontsize=8)
    ax.set_title(title)
    figure.legend(loc="outside lower center", ncols=columns, fontsize=8, frameon=False)
    return _save(figure, path)


def _trimmed(fmr: np.ndarray, fnmr: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The DET points without the run of FMR = 0 after its first point and the run of
    FNMR = 0 before its last: drawn at the clipped floor they would only trace the edges."""
    start = int(np.flatnonzero(fnmr == 0)[-1]) if fnmr[0] == 0 else 0
    stop = int(np.flatnonzero(fmr == 0)[0]) + 1  # the last point (accept none) has FMR 0
    if start >= stop:  # separable classes: one point has both rates 0
        start = stop - 1
    return fmr[start:stop], fnmr[start:stop]


def _det_axes(ax: Axes, floor_x: float, floor_y: float) -> None:
    low_x, low_y = floor_x / 1.6, floor_y / 1.6
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlim(low_x, 1.0)
    ax.set_ylim(low_y, 1.0)
    ax.axvspan(low_x, 2 * floor_x, color="0.92", zorder=0)
    ax.axhspan(low_y, 2 * floor_y, color="0.92", zorder=0)
    diagonal = np.array([min(low_x, low_y), 1.0])
    ax.plot(diagonal, diagonal, ":", color="0.5", linewidth=1, label="FMR = FNMR (dots: EER)")
    ax.plot([], [], "s", color="0.92", markersize=10, label="below 1/n: zero drawn at 1/(2n)")
    ax.grid(True, which="major", color="0.75", linewidth=0.8)
    ax.grid(True, which="minor", color="0.9", linewidth=0.5)
    ax.set_xlabel("FMR (false match rate)")
    ax.set_ylabel("FNMR (false non-match rate)")


def _bin_edges(values: np.ndarray, marks: Mapping[str, float]) -> np.ndarray:
    """Shared bins over the finite scores and the marked thresholds (10 to 60 bins)."""
    span = np.concatenate([values, [v for v in marks.values() if np.isfinite(v)]])
    if span.size == 0:
        span = np.array([-1.0, 1.0])
    low, high = float(span.min()), float(span.max())
    pad = max(0.02 * (high - low), 0.01)
    count = int(np.clip(2 * np.sqrt(values.size), 10, 60))
    return np.linspace(low - pad, high + pad, count + 1)


def histogram_plot(
    scores: ArrayLike,
    labels: ArrayLike,
    path: Path,
    title: str,
    thresholds: Mapping[str, float] | None = None,
    *,
    log_y: bool = False,
) -> Path:
    """Genuine and impostor score histograms on shared bins, as densities.

    Failed (NaN) pairs are not plotted; their number is given in the title and in the
    legend, per class. ``thresholds`` (``name -> cosine``, e.g. "threshold @ FMR 1e-3") are
    drawn as vertical lines; non-finite ones are left out. ``log_y`` puts the density on a
    log axis (to see the tails). Writes a PNG and returns ``path``.
    """
    s, y = _classes(scores, labels)
    marks = {name: value for name, value in (thresholds or {}).items() if np.isfinite(value)}
    finite = ~np.isnan(s)
    edges = _bin_edges(s[finite], marks)
    figure = _figure(8.0, 5.0)
    ax = figure.subplots()
    for name, chosen, colour in (("genuine", y, "tab:green"), ("impostor", ~y, "tab:red")):
        values = s[chosen & finite]
        failed = int((chosen & ~finite).sum())
        label = f"{name}: {values.size} pairs" + (f", {failed} failed" if failed else "")
        if values.size == 0:
            ax.plot([], [], color=colour, label=f"{label} (none scored)")
            continue
        ax.hist(values, bins=edges.tolist(), density=True, color=colour, alpha=0.35, label=label)
        ax.hist(
            values, bins=edges.tolist(), density=True, color=colour, histtype="step", linewidth=1.2
        )
    for (name, value), (colour, style) in zip(marks.items(), cycle(THRESHOLD_STYLES)):
        ax.axvline(
            value, color=colour, linestyle=style, linewidth=1.4, label=f"{name}: {value:.3f}"
        )
    if log_y and finite.any():
        ax.set_yscale("log")
    failed_total = int((~finite).sum())
    failed_note = f", {failed_total} failed (not plotted)" if failed_total else ", none failed"
    ax.set_title(f"{title}\n{int(finite.sum())} pairs scored{failed_note}")
    ax.set_xlabel("cosine similarity")
    ax.set_ylabel("density (log scale)" if log_y else "density")
    ax.set_xlim(edges[0], edges[-1])
    ax.grid(True, color="0.9", linewidth=0.6)
    ax.legend(loc="best", fontsize=8, framealpha=0.9)
    return _save(figure, path)
