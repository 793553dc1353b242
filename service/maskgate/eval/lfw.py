"""LFW View 2: score the 6,000 pairs with the pipeline and report the standard metrics."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from maskgate.eval.lfw_protocol import Pair, read_pairs
from maskgate.eval.metrics import kfold_accuracy, summarize
from maskgate.eval.report import Figures, case_figures, write_report
from maskgate.eval.routed import RoutedScores, score_routed
from maskgate.pipeline.choose import FacePolicy
from maskgate.pipeline.pipeline import FacePipeline

TITLE = "LFW View 2"


@dataclass(frozen=True)
class PairScores:
    pairs: list[Pair]
    routed: RoutedScores  # per pair, in the same order

    @property
    def labels(self) -> np.ndarray:
        return np.array([p.same for p in self.pairs], dtype=np.bool_)


def score_pairs(
    pipeline: FacePipeline, root: Path, pairs: list[Pair], policy: FacePolicy = FacePolicy.CENTRAL
) -> PairScores:
    """Score every pair as the service would: E_F when both faces are bare, E_P when C calls
    either masked (``routed.score_routed``; each distinct image is embedded once).

    LFW crops are centred on the labelled person, so the face nearest the centre is used.
    """
    paths = [p.paths(root) for p in pairs]
    return PairScores(pairs, score_routed(pipeline, paths, policy=policy, desc="LFW images"))


def report(result: PairScores) -> dict[str, Any]:
    routed, labels = result.routed, result.labels
    folds = np.array([p.fold for p in result.pairs])
    kfold = kfold_accuracy(routed.scores, labels, folds)
    return {
        "protocol": "LFW View 2, 10-fold cross-validation (threshold from 9 folds)",
        **summarize(routed.scores, labels, folds),
        "fold_accuracies": kfold.per_fold,
        "fold_thresholds": kfold.thresholds,
        "failure_to_enrol_images": len(routed.failures),
        "failure_to_enrol_pairs": int(np.isnan(routed.scores).sum()),
        "failures_by_reason": dict(Counter(routed.failures.values())),
        "failed_images": sorted(str(p) for p in routed.failures),
        "cases": routed.case_counts(labels),
        "images": routed.images,
        "seconds": round(routed.seconds, 1),
        "images_per_second": round(routed.images / routed.seconds, 1),
    }


def markdown(summary: dict[str, Any]) -> str:
    cases = summary["cases"]
    return "\n".join(
        [
            "| metric | value |",
            "|---|---|",
            f"| accuracy (10-fold) | {100 * summary['accuracy_mean']:.2f}% "
            f"± {100 * summary['accuracy_std']:.2f} |",
            f"| TAR @ FAR 1e-3 | {100 * summary['tar_at_far_1e-3']:.2f}% |",
            f"| TAR @ FAR 1e-4 | {100 * summary['tar_at_far_1e-4']:.2f}% |",
            f"| EER | {100 * summary['eer']:.2f}% |",
            f"| failure to enrol | {summary['failure_to_enrol_images']} images, "
            f"{summary['failure_to_enrol_pairs']} pairs (counted as non-matches) |",
            f"| pairs | {summary['n_pairs']} ({summary['n_genuine']} genuine) |",
            f"| routed to E_F (both bare) | {cases['full']['n_pairs']} pairs |",
            f"| routed to E_P (a face masked) | {cases['partial']['n_pairs']} pairs |",
            f"| throughput | {summary['images_per_second']} images/s |",
            "",
        ]
    )


def figures(result: PairScores) -> Figures:
    """DET curves of all pairs (as routed, failures included) and of each case."""
    return case_figures(result.routed, result.labels)


def evaluate_lfw(
    pipeline: FacePipeline,
    data_dir: Path,
    out_dir: Path,
    policy: FacePolicy = FacePolicy.CENTRAL,
) -> dict[str, Any]:
    """Score View 2 and write the report folder: lfw.json, lfw.md, det.png, hist-<case>.png."""
    pairs = read_pairs(data_dir / "pairs.txt")
    result = score_pairs(pipeline, data_dir, pairs, policy)
    summary = {**report(result), "face_policy": policy}
    text = f"# {TITLE}\n\n" + markdown(summary)
    write_report(out_dir, "lfw", summary, text, title=TITLE, figures=figures(result))
    return summary
