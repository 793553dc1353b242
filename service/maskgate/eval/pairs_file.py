"""Any labelled pairs file: score its pairs as the service would and report the metrics.

The CSV has the columns of ``maskgate compare --pairs`` (``path_a``, ``path_b``; relative
paths are resolved against a root, by default the CSV's folder), a label ``same`` (1/0 or
true/false) and optionally ``fold`` (integers). With folds, accuracy is cross-validated:
each fold is scored at the threshold of best accuracy on the other folds. Without them,
accuracy is that of the best threshold on all the pairs, fitted and scored on the same
pairs, so optimistic; the report says which. Metrics are given for all pairs (failed pairs
counted as non-matches) and for the pairs of each matching case (a failed pair has none).
"""

from __future__ import annotations

import csv
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from maskgate.cli.compare_cmd import PAIR_COLUMNS
from maskgate.eval.metrics import accuracy_at, best_threshold, eer, kfold_accuracy, tar_at_far
from maskgate.eval.report import CASE_LABELS, case_figures, write_report
from maskgate.eval.routed import RoutedScores, score_routed
from maskgate.pipeline.choose import FacePolicy
from maskgate.pipeline.pipeline import FacePipeline

LABEL_COLUMN = "same"
FOLD_COLUMN = "fold"
LABEL_VALUES = {"1": True, "true": True, "0": False, "false": False}
CROSS_VALIDATED = "k-fold cross-validated (threshold fitted on the other folds)"
NOT_CROSS_VALIDATED = "best threshold on these pairs (not cross-validated: optimistic)"


class PairsFileError(ValueError):
    """The pairs file cannot be used: missing columns, bad labels or folds, no rows."""


@dataclass(frozen=True)
class LabelledPairs:
    paths: list[tuple[Path, Path]]
    labels: NDArray[np.bool_]
    folds: NDArray[np.int64] | None  # None: the file has no fold column


def read_pairs_file(path: Path, root: Path | None = None) -> LabelledPairs:
    """Read and check a labelled pairs CSV; raises ``PairsFileError`` naming the problem."""
    base = root or path.resolve().parent
    with path.open(newline="") as f:
        reader = csv.DictReader(f)
        columns = list(reader.fieldnames or [])
        rows = list(reader)
    missing = [c for c in (*PAIR_COLUMNS, LABEL_COLUMN) if c not in columns]
    if missing:
        raise PairsFileError(f"{path} lacks columns {missing} (has {columns})")
    if not rows:
        raise PairsFileError(f"{path} has no pairs")
    labels = [_label(path, n, row[LABEL_COLUMN]) for n, row in enumerate(rows, start=2)]
    folds = None
    if FOLD_COLUMN in columns:
        folds = np.array([_fold(path, n, row[FOLD_COLUMN]) for n, row in enumerate(rows, 2)])
    paths = [(_resolve(base, row["path_a"]), _resolve(base, row["path_b"])) for row in rows]
    return LabelledPairs(paths, np.array(labels, dtype=np.bool_), folds)


def _resolve(base: Path, value: str) -> Path:
    return Path(value) if Path(value).is_absolute() else base / value


def _label(path: Path, line: int, value: str | None) -> bool:
    label = LABEL_VALUES.get((value or "").strip().lower())
    if label is None:
        raise PairsFileError(f"{path}:{line}: {LABEL_COLUMN} must be 1/0 or true/false: {value!r}")
    return label


def _fold(path: Path, line: int, value: str | None) -> int:
    try:
        return int((value or "").strip())
    except ValueError:
        raise PairsFileError(
            f"{path}:{line}: {FOLD_COLUMN} must be an integer: {value!r}"
        ) from None


def group_summary(
    scores: NDArray[np.float64], labels: NDArray[np.bool_], folds: NDArray[np.int64] | None
) -> dict[str, Any]:
    """Counts, and where the pairs allow (genuine and impostor pairs, a score): accuracy,
    TAR at FMR 1e-3, EER and its threshold. Metrics the pairs cannot give are None."""
    counts = {
        "n_pairs": len(scores),
        "n_genuine": int(labels.sum()),
        "n_impostor": int((~labels).sum()),
        "n_failed": int(np.isnan(scores).sum()),
    }
    empty: dict[str, Any] = dict.fromkeys(
        ("accuracy", "accuracy_std", "accuracy_protocol", "threshold"), None
    )
    empty.update({"tar_at_far_1e-3": None, "eer": None, "eer_threshold": None})
    if not counts["n_genuine"] or not counts["n_impostor"] or np.isnan(scores).all():
        return {**counts, **empty}
    rate, eer_threshold = eer(scores, labels)
    return {
        **counts,
        **_accuracy(scores, labels, folds),
        "tar_at_far_1e-3": tar_at_far(scores, labels, 1e-3)[0],
        "eer": rate,
        "eer_threshold": eer_threshold,
    }


def _accuracy(
    scores: NDArray[np.float64], labels: NDArray[np.bool_], folds: NDArray[np.int64] | None
) -> dict[str, Any]:
    if folds is not None and len(np.unique(folds)) >= 2:
        kfold = kfold_accuracy(scores, labels, folds)
        return {
            "accuracy": kfold.mean,
            "accuracy_std": kfold.std,
            "accuracy_protocol": CROSS_VALIDATED,
            "threshold": float(np.mean(kfold.thresholds)),
        }
    threshold = best_threshold(scores, labels)
    return {
        "accuracy": accuracy_at(scores, labels, threshold),
        "accuracy_std": None,
        "accuracy_protocol": NOT_CROSS_VALIDATED,
        "threshold": threshold,
    }


def report(pairs: LabelledPairs, routed: RoutedScores) -> dict[str, Any]:
    """The numbers of a pairs file: all pairs, each case, and the failures."""
    cases = np.array(routed.cases)
    groups = {"all": np.ones(len(cases), dtype=np.bool_)}
    groups.update({case: cases == case for case in CASE_LABELS})
    return {
        "groups": {
            name: group_summary(
                routed.scores[chosen],
                pairs.labels[chosen],
                None if pairs.folds is None else pairs.folds[chosen],
            )
            for name, chosen in groups.items()
        },
        "failure_to_enrol_images": len(routed.failures),
        "failures_by_reason": dict(Counter(routed.failures.values())),
        "failed_images": sorted(str(p) for p in routed.failures),
        "images": routed.images,
        "seconds": round(routed.seconds, 1),
    }


def _percent(value: float | None) -> str:
    return "–" if value is None else f"{100 * value:.2f}%"


def _cosine(value: float | None) -> str:
    return "–" if value is None else f"{value:.3f}"


ROWS: tuple[tuple[str, str, Callable[[Any], str]], ...] = (
    ("pairs", "n_pairs", str),
    ("genuine", "n_genuine", str),
    ("impostor", "n_impostor", str),
    ("failed (non-matches)", "n_failed", str),
    ("accuracy", "accuracy", _percent),
    ("TAR @ FMR 1e-3", "tar_at_far_1e-3", _percent),
    ("EER", "eer", _percent),
    ("accuracy threshold", "threshold", _cosine),
    ("EER threshold", "eer_threshold", _cosine),
)


def markdown(summary: dict[str, Any]) -> str:
    """A table with a column per group (all pairs, then each case) and a row per metric."""
    groups: dict[str, dict[str, Any]] = summary["groups"]
    names = {"all": "all pairs", **CASE_LABELS}
    lines = [
        "| | " + " | ".join(names[g] for g in groups) + " |",
        "|---|" + "---|" * len(groups),
    ]
    for title, key, show in ROWS:
        lines.append(f"| {title} | " + " | ".join(show(g[key]) for g in groups.values()) + " |")
    protocol = groups["all"]["accuracy_protocol"] or "not computed (needs both classes)"
    reasons = ", ".join(f"{k}: {v}" for k, v in summary["failures_by_reason"].items())
    lines += [
        "",
        f"Accuracy: {protocol}. A failed pair (an image without a usable face) counts as a "
        "non-match in *all pairs* and belongs to no case. Cases: full = both faces bare, "
        "compared on E_F; partial = at least one masked, compared on E_P.",
        "",
        f"Failure to enrol: {summary['failure_to_enrol_images']} of {summary['images']} "
        f"images ({reasons or 'none'}).",
        "",
    ]
    return "\n".join(lines)


def evaluate(
    pipeline: FacePipeline,
    source: Path,
    pairs: LabelledPairs,
    out_dir: Path,
    *,
    policy: FacePolicy | None = None,
    batch: int = 32,
) -> dict[str, Any]:
    """Score the pairs read from ``source`` and write the report folder: pairs.json,
    pairs.md, det.png and hist-<case>.png."""
    routed = score_routed(pipeline, pairs.paths, policy=policy, batch=batch, desc="pair images")
    summary = {
        "pairs_file": str(source),
        "face_policy": policy or pipeline.policy,
        **report(pairs, routed),
    }
    title = f"Pairs of {source.name}"
    text = f"# {title}\n\n" + markdown(summary)
    figures = case_figures(routed, pairs.labels)
    write_report(out_dir, "pairs", summary, text, title=title, figures=figures)
    return summary
