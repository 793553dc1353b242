"""The report folder: numbers, summary and figures, from synthetic scores."""

from __future__ import annotations

import json
import math
import re
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from maskgate.eval.masked_lfw import Evaluation
from maskgate.eval.report import Figures, case_figures, threshold_marks, write_report
from maskgate.eval.routed import PairCase, RoutedScores

NAN = math.nan


def _routed() -> tuple[RoutedScores, np.ndarray]:
    """Eight pairs: four full, three partial, one failed; genuine pairs score high."""
    scores = np.array([0.8, 0.7, 0.1, 0.0, 0.5, 0.2, 0.1, NAN])
    labels = np.array([1, 1, 0, 0, 1, 0, 0, 1], dtype=bool)
    cases: list[PairCase] = ["full", "full", "full", "full", "partial", "partial", "partial"]
    cases.append("failed")
    routed = RoutedScores(scores, cases, {Path("x.jpg"): "no_face"}, images=9, seconds=1.0)
    return routed, labels


def test_routed_scores_split_by_case() -> None:
    routed, labels = _routed()
    by_case = routed.by_case(labels)
    assert list(by_case) == ["full", "partial"]
    np.testing.assert_array_equal(by_case["partial"][0], [0.5, 0.2, 0.1])
    np.testing.assert_array_equal(by_case["partial"][1], [True, False, False])
    assert routed.case_counts(labels) == {
        "full": {"n_pairs": 4, "n_genuine": 2, "n_impostor": 2},
        "partial": {"n_pairs": 3, "n_genuine": 1, "n_impostor": 2},
        "failed": {"n_pairs": 1, "n_genuine": 1, "n_impostor": 0},
    }


def test_write_report_writes_every_file_and_links_the_figures(tmp_path: Path) -> None:
    routed, labels = _routed()
    report = {"n_pairs": 8, "cases": routed.case_counts(labels)}
    out = tmp_path / "report"
    written = write_report(
        out,
        "demo",
        report,
        "# Demo\n\n| a | b |\n",
        title="Demo",
        figures=case_figures(routed, labels),
    )
    names = ["demo.json", "demo.md", "det.png", "hist-full.png", "hist-partial.png"]
    assert written == [out / name for name in names]
    assert sorted(p.name for p in out.iterdir()) == sorted(names)
    assert json.loads((out / "demo.json").read_text()) == report
    summary = (out / "demo.md").read_text()
    assert summary.startswith("# Demo\n\n| a | b |\n\n## Figures")
    links = re.findall(r"!\[[^]]+\]\(([^)]+)\)", summary)
    assert links == ["det.png", "hist-full.png", "hist-partial.png"]
    for name in links:
        with Image.open(out / name) as image:
            assert image.format == "PNG"
            assert image.size[0] >= 800


def test_threshold_marks_only_where_the_pairs_resolve_them() -> None:
    rng = np.random.default_rng(0)
    scores = np.concatenate([rng.normal(0.6, 0.1, 2000), rng.normal(0.1, 0.1, 2000)])
    labels = np.arange(4000) < 2000
    marks = threshold_marks(scores, labels)
    assert list(marks) == ["EER threshold", "threshold @ FMR 1e-3"]  # 1e-4 needs 10,000
    assert 0.2 < marks["EER threshold"] < marks["threshold @ FMR 1e-3"] < 0.6
    assert threshold_marks(scores[:2000], labels[:2000]) == {}  # genuine pairs only


def test_masked_lfw_figures_pair_each_setting_with_e_f_alone(tmp_path: Path) -> None:
    labels = np.array([True, True, False, False])
    evaluation = Evaluation(
        report={"settings": {}},
        labels=labels,
        scores={
            ("no_mask", "pipeline"): (np.array([0.8, 0.7, 0.1, 0.0]), ["full"] * 4),
            ("no_mask", "e_f"): (np.array([0.8, 0.7, 0.1, 0.0]), ["full"] * 4),
            ("one_side", "pipeline"): (
                np.array([0.6, NAN, 0.2, 0.1]),
                ["partial", "failed", "partial", "full"],
            ),
            ("one_side", "e_f"): (
                np.array([0.3, NAN, 0.2, 0.1]),
                ["full", "failed"] + ["full"] * 2,
            ),
        },
    )
    figures = evaluation.figures()
    assert list(figures.det) == [
        "no_mask · pipeline",
        "no_mask · E_F alone",
        "one_side · pipeline",
        "one_side · E_F alone",
    ]
    assert figures.dashed == {"no_mask · E_F alone", "one_side · E_F alone"}
    # The pipeline's pairs, pooled over the settings, by the case they were routed to.
    full_scores, full_labels = figures.cases["full"]
    np.testing.assert_array_equal(full_scores, [0.8, 0.7, 0.1, 0.0, 0.1])
    np.testing.assert_array_equal(full_labels, [True, True, False, False, False])
    np.testing.assert_array_equal(figures.cases["partial"][0], [0.6, 0.2])
    written = write_report(tmp_path, "masked-lfw", {}, "# M\n", title="M", figures=figures)
    assert [p.name for p in written][2:] == ["det.png", "hist-full.png", "hist-partial.png"]


@pytest.mark.parametrize("cases", [{}, {"full": (np.array([]), np.array([], dtype=bool))}])
def test_a_report_without_drawable_pairs_still_has_its_figures(
    tmp_path: Path, cases: dict[str, tuple[np.ndarray, np.ndarray]]
) -> None:
    figures = Figures(det=dict(cases), cases=cases)
    written = write_report(tmp_path, "empty", {}, "# Empty\n", title="Empty", figures=figures)
    assert all(p.is_file() for p in written)
    assert (tmp_path / "det.png").is_file()
