"""LFW View 2: score the 6,000 pairs with the pipeline and report the standard metrics."""

from __future__ import annotations

import json
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from maskgate.errors import MaskgateError
from maskgate.eval.lfw_protocol import Pair, read_pairs
from maskgate.eval.metrics import kfold_accuracy, summarize
from maskgate.matching import cosine
from maskgate.pipeline.choose import FacePolicy
from maskgate.pipeline.files import run_paths
from maskgate.pipeline.pipeline import FacePipeline


@dataclass(frozen=True)
class PairScores:
    pairs: list[Pair]
    scores: np.ndarray  # NaN where an image failed
    failures: dict[Path, str]  # image -> error code
    images: int
    seconds: float


def score_pairs(
    pipeline: FacePipeline, root: Path, pairs: list[Pair], policy: FacePolicy = FacePolicy.CENTRAL
) -> PairScores:
    """Embed every distinct image once (in batches), then score every pair.

    LFW crops are centred on the labelled person, so the face nearest the centre is used.
    """
    paths = [p.paths(root) for p in pairs]
    unique = list(dict.fromkeys(x for ab in paths for x in ab))
    start = time.perf_counter()
    vectors: dict[Path, np.ndarray] = {}
    failures: dict[Path, str] = {}
    for path, outcome in run_paths(pipeline, unique, desc="LFW images", policy=policy):
        try:
            if isinstance(outcome, MaskgateError):
                raise outcome
            embedding = outcome.usable_face().embedding
            assert embedding is not None
            vectors[path] = embedding
        except MaskgateError as error:
            failures[path] = error.code
    seconds = time.perf_counter() - start
    scores = np.array(
        [
            cosine(vectors[a], vectors[b]) if a in vectors and b in vectors else np.nan
            for a, b in paths
        ]
    )
    return PairScores(pairs, scores, failures, len(unique), seconds)


def report(result: PairScores) -> dict[str, Any]:
    labels = np.array([p.same for p in result.pairs])
    folds = np.array([p.fold for p in result.pairs])
    kfold = kfold_accuracy(result.scores, labels, folds)
    return {
        "protocol": "LFW View 2, 10-fold cross-validation (threshold from 9 folds)",
        **summarize(result.scores, labels, folds),
        "fold_accuracies": kfold.per_fold,
        "fold_thresholds": kfold.thresholds,
        "failure_to_enrol_images": len(result.failures),
        "failure_to_enrol_pairs": int(np.isnan(result.scores).sum()),
        "failures_by_reason": dict(Counter(result.failures.values())),
        "failed_images": sorted(str(p) for p in result.failures),
        "images": result.images,
        "seconds": round(result.seconds, 1),
        "images_per_second": round(result.images / result.seconds, 1),
    }


def markdown(summary: dict[str, Any]) -> str:
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
            f"| throughput | {summary['images_per_second']} images/s |",
            "",
        ]
    )


def evaluate_lfw(
    pipeline: FacePipeline,
    data_dir: Path,
    out_dir: Path,
    policy: FacePolicy = FacePolicy.CENTRAL,
) -> dict[str, Any]:
    pairs = read_pairs(data_dir / "pairs.txt")
    summary = {**report(score_pairs(pipeline, data_dir, pairs, policy)), "face_policy": policy}
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "lfw.json").write_text(json.dumps(summary, indent=2) + "\n")
    (out_dir / "lfw.md").write_text("# LFW View 2\n\n" + markdown(summary))
    return summary
