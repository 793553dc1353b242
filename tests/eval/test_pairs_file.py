"""Labelled pairs files: reading and checking the CSV, and the metrics of each group."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

from maskgate.eval.pairs_file import (
    CROSS_VALIDATED,
    NOT_CROSS_VALIDATED,
    LabelledPairs,
    PairsFileError,
    group_summary,
    markdown,
    read_pairs_file,
    report,
)
from maskgate.eval.routed import PairCase, RoutedScores

NAN = math.nan


def _csv(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "pairs.csv"
    path.write_text(text)
    return path


def test_reads_labels_folds_and_resolves_relative_paths(tmp_path: Path) -> None:
    path = _csv(
        tmp_path,
        "path_a,path_b,same,fold,note\n"
        "a.jpg,b.jpg,1,0,x\n"
        "/abs/c.jpg,sub/d.jpg, False ,1,y\n"
        "a.jpg,c.jpg,TRUE,1,z\n",
    )
    pairs = read_pairs_file(path)
    assert pairs.paths == [
        (tmp_path / "a.jpg", tmp_path / "b.jpg"),
        (Path("/abs/c.jpg"), tmp_path / "sub" / "d.jpg"),
        (tmp_path / "a.jpg", tmp_path / "c.jpg"),
    ]
    assert pairs.labels.tolist() == [True, False, True]
    assert pairs.folds is not None
    assert pairs.folds.tolist() == [0, 1, 1]
    other = read_pairs_file(path, root=Path("/data"))
    assert other.paths[0] == (Path("/data/a.jpg"), Path("/data/b.jpg"))


def test_folds_are_optional(tmp_path: Path) -> None:
    assert read_pairs_file(_csv(tmp_path, "same,path_b,path_a\n0,b,a\n")).folds is None


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("path_a,path_b\na,b\n", r"lacks columns \['same'\]"),
        ("a,b,same\nx,y,1\n", r"lacks columns \['path_a', 'path_b'\]"),
        ("path_a,path_b,same\n", "has no pairs"),
        ("path_a,path_b,same\na,b,1\na,c,yes\n", r"pairs.csv:3: same must be 1/0 or true/false"),
        ("path_a,path_b,same\na,b,\n", "same must be"),
        ("path_a,path_b,same,fold\na,b,1,one\n", r"pairs.csv:2: fold must be an integer"),
    ],
)
def test_refuses_a_file_it_cannot_use(tmp_path: Path, text: str, message: str) -> None:
    with pytest.raises(PairsFileError, match=message):
        read_pairs_file(_csv(tmp_path, text))


def _scores() -> tuple[np.ndarray, np.ndarray]:
    """Twenty pairs, two folds; one genuine pair (0.15) is below two impostors."""
    genuine = [0.9, 0.8, 0.85, 0.7, 0.75, 0.6, 0.65, 0.9, 0.15, 0.8]
    impostor = [0.1, 0.2, 0.0, -0.1, 0.3, 0.2, 0.1, 0.25, 0.05, 0.0]
    return np.array(genuine + impostor), np.arange(20) < 10


def test_group_summary_cross_validates_with_folds_only() -> None:
    scores, labels = _scores()
    folds = np.arange(20) % 2
    with_folds = group_summary(scores, labels, folds)
    assert with_folds["accuracy_protocol"] == CROSS_VALIDATED
    assert with_folds["accuracy_std"] is not None
    without = group_summary(scores, labels, None)
    assert without["accuracy_protocol"] == NOT_CROSS_VALIDATED
    assert without["accuracy"] == 0.95  # the best threshold misses the 0.15 genuine pair
    assert without["accuracy_std"] is None
    assert without["eer"] == pytest.approx(0.1)
    assert without["n_pairs"] == 20
    # one fold in a group: not enough to cross-validate
    assert group_summary(scores, labels, np.zeros(20, dtype=np.int64))["accuracy_protocol"] == (
        NOT_CROSS_VALIDATED
    )


def test_group_summary_of_one_class_has_counts_only() -> None:
    summary = group_summary(np.array([0.5, NAN]), np.array([True, True]), None)
    assert summary["n_pairs"] == 2
    assert summary["n_failed"] == 1
    assert summary["accuracy"] is None
    assert summary["eer"] is None


def test_report_and_markdown_have_a_column_per_group(tmp_path: Path) -> None:
    scores, labels = _scores()
    scores = np.append(scores, NAN)
    labels = np.append(labels, True)
    cases: list[PairCase] = [
        "full" if i < 14 else "partial" if i < 20 else "failed" for i in range(21)
    ]
    routed = RoutedScores(scores, cases, {tmp_path / "x.jpg": "no_face"}, images=30, seconds=2.0)
    paths = [(tmp_path / "a.jpg", tmp_path / "b.jpg")] * 21
    summary = report(LabelledPairs(paths, labels, None), routed)
    groups = summary["groups"]
    assert list(groups) == ["all", "full", "partial"]
    assert (groups["all"]["n_pairs"], groups["all"]["n_failed"]) == (21, 1)
    assert groups["full"]["n_pairs"] + groups["partial"]["n_pairs"] == 20
    assert summary["failures_by_reason"] == {"no_face": 1}
    text = markdown(summary)
    assert text.splitlines()[0] == "| | all pairs | full (E_F) | partial (E_P) |"
    assert "| failed (non-matches) | 1 | 0 | 0 |" in text
    assert NOT_CROSS_VALIDATED in text
    assert "1 of 30 images (no_face: 1)" in text
