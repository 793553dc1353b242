"""The report folder of an evaluation: JSON, a markdown summary and the figures.

``<name>.json`` holds the numbers, ``<name>.md`` the summary followed by the figures it
links: ``det.png`` (the DET curves) and one ``hist-<case>.png`` per matching case (genuine
and impostor score histograms of the pairs routed to that case).
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from maskgate.eval.metrics import eer, tar_at_far
from maskgate.eval.plots import Curves, det_plot, histogram_plot
from maskgate.eval.routed import RoutedScores

CASE_TITLES = {
    "full": "full case (both faces bare, E_F)",
    "partial": "partial case (a face masked, E_P)",
}
CASE_LABELS = {"full": "full (E_F)", "partial": "partial (E_P)"}
MARKED_FMRS = (1e-3, 1e-4)


@dataclass(frozen=True)
class Figures:
    """What the figures show: the DET curves, and the pairs of each case for histograms."""

    det: Curves  # label -> (scores, labels)
    cases: Curves  # case -> (scores, labels)
    dashed: frozenset[str] = frozenset()  # DET curves drawn dashed (see ``plots.det_plot``)


def case_figures(routed: RoutedScores, labels: NDArray[np.bool_]) -> Figures:
    """DET curves of all pairs as routed (failed pairs included, as non-matches) and of the
    pairs of each case; a histogram per case."""
    by_case = routed.by_case(labels)
    det = {"all pairs (as routed)": (routed.scores, labels)}
    det.update({CASE_LABELS[case]: pair for case, pair in by_case.items()})
    return Figures(det=det, cases=by_case)


def threshold_marks(scores: ArrayLike, labels: ArrayLike) -> dict[str, float]:
    """Thresholds these pairs put at their EER and at FMR 1e-3 and 1e-4.

    A mark is left out where the pairs cannot give it: without both classes, or at an FMR
    below what the impostor pairs resolve (``1/n``, where every impostor is rejected and the
    threshold is only "above the highest impostor score").
    """
    s = np.asarray(scores, dtype=np.float64)
    y = np.asarray(labels, dtype=np.bool_)
    if not y.any() or y.all() or np.isnan(s).all():
        return {}
    marks = {"EER threshold": eer(s, y)[1]}
    n_impostor = int((~y).sum())
    for fmr in MARKED_FMRS:
        if fmr * n_impostor >= 1:
            marks[f"threshold @ FMR 1e{round(math.log10(fmr))}"] = tar_at_far(s, y, fmr)[1]
    return {name: value for name, value in marks.items() if math.isfinite(value)}


def _figures_markdown(title: str, cases: Mapping[str, object]) -> str:
    lines = ["## Figures", "", f"![DET curves of {title}](det.png)", ""]
    for case in cases:
        lines += [f"![scores of the {CASE_TITLES.get(case, case)}](hist-{case}.png)", ""]
    return "\n".join(lines)


def write_report(
    out_dir: Path,
    name: str,
    report: Mapping[str, Any],
    markdown: str,
    *,
    title: str,
    figures: Figures,
) -> list[Path]:
    """Write ``<name>.json``, ``<name>.md`` (``markdown`` then the figures), ``det.png`` and
    ``hist-<case>.png`` per case into ``out_dir``; returns the files written.

    The numbers are written first, so that they are kept if a figure fails. Each histogram
    marks the thresholds of its own pairs (``threshold_marks``).
    """
    out_dir.mkdir(parents=True, exist_ok=True)
    json_path, md_path = out_dir / f"{name}.json", out_dir / f"{name}.md"
    json_path.write_text(json.dumps(report, indent=2) + "\n")
    summary = markdown.rstrip("\n") + "\n\n" + _figures_markdown(title, figures.cases)
    md_path.write_text(summary)
    written = [json_path, md_path]
    written.append(det_plot(figures.det, out_dir / "det.png", title, dashed=figures.dashed))
    for case, (scores, labels) in figures.cases.items():
        case_title = f"{title}: {CASE_TITLES.get(case, case)}"
        path = out_dir / f"hist-{case}.png"
        written.append(
            histogram_plot(scores, labels, path, case_title, threshold_marks(scores, labels))
        )
    return written
