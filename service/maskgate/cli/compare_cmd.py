"""`maskgate compare A B` and `maskgate compare --pairs PAIRS.csv --out SCORES.csv`."""

from __future__ import annotations

import argparse
import csv
import sys
from pathlib import Path
from typing import Any

import numpy as np

from maskgate.cli.analyze_cmd import describe
from maskgate.cli.common import emit, load_pipeline
from maskgate.config import Settings
from maskgate.errors import MaskgateError
from maskgate.matching import Matcher
from maskgate.pipeline.choose import FacePolicy
from maskgate.pipeline.files import run_paths
from maskgate.pipeline.pipeline import FacePipeline, Outcome

PAIR_COLUMNS = ("path_a", "path_b")
ADDED_COLUMNS = ("score", "failure")


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("compare", help="verify two images, or every pair of a CSV file")
    p.add_argument("images", nargs="*", type=Path, help="two images: A B")
    p.add_argument("--pairs", type=Path, help="CSV with columns path_a,path_b (others kept)")
    p.add_argument("--out", type=Path, help="where --pairs writes its scores (CSV)")
    p.add_argument("--root", type=Path, help="base of relative paths (default: the CSV's dir)")
    p.add_argument("--threshold", type=float, help="cosine threshold (default: calibrated)")
    p.add_argument("--batch", type=int, default=32, help="images per pipeline batch")
    p.add_argument(
        "--policy",
        choices=[x.value for x in FacePolicy if x is not FacePolicy.ALL],
        help="which face of an image to use (default: the settings', largest)",
    )
    p.set_defaults(func=run)


def embedding_of(outcome: Outcome) -> np.ndarray | MaskgateError:
    """The usable embedding of the chosen face, or the error that prevents one."""
    if isinstance(outcome, MaskgateError):
        return outcome
    try:
        face = outcome.usable_face()
    except MaskgateError as error:
        return error
    assert face.embedding is not None
    return face.embedding


def run(args: argparse.Namespace) -> int:
    settings = Settings()
    matcher = Matcher(args.threshold if args.threshold is not None else settings.match.threshold)
    if args.pairs is not None:
        if args.images or args.out is None:
            print("error: --pairs takes --out and no image arguments", file=sys.stderr)  # noqa: T201
            return 2
        return run_pairs(load_pipeline(settings), matcher, args)
    if len(args.images) != 2:
        print("error: compare takes two images, or --pairs", file=sys.stderr)  # noqa: T201
        return 2
    return run_two(load_pipeline(settings), matcher, args.images[0], args.images[1], _policy(args))


def _policy(args: argparse.Namespace) -> FacePolicy | None:
    return FacePolicy(args.policy) if args.policy else None


def run_two(
    pipeline: FacePipeline, matcher: Matcher, a: Path, b: Path, policy: FacePolicy | None
) -> int:
    outcomes = dict(run_paths(pipeline, [a, b], policy=policy))
    vectors = [embedding_of(outcomes[a]), embedding_of(outcomes[b])]
    result: dict[str, Any] = {"score": None, "match": False, "threshold": matcher.threshold}
    failures = [v for v in vectors if isinstance(v, MaskgateError)]
    if failures:
        result["failure"] = failures[0].code
    else:
        va, vb = vectors
        assert isinstance(va, np.ndarray)
        assert isinstance(vb, np.ndarray)
        comparison = matcher.compare(va, vb)
        result.update(score=round(comparison.score, 6), match=comparison.match)
    result["a"] = describe(a, outcomes[a])
    result["b"] = describe(b, outcomes[b])
    emit(result)
    return 0 if not failures else 1


def run_pairs(pipeline: FacePipeline, matcher: Matcher, args: argparse.Namespace) -> int:
    root = args.root or args.pairs.resolve().parent
    with args.pairs.open(newline="") as f:
        reader = csv.DictReader(f)
        fields = list(reader.fieldnames or [])
        rows = list(reader)
    missing = [c for c in PAIR_COLUMNS if c not in fields]
    if missing:
        print(f"error: {args.pairs} lacks columns {missing}", file=sys.stderr)  # noqa: T201
        return 2

    def resolve(p: str) -> Path:
        return Path(p) if Path(p).is_absolute() else root / p

    unique = list(dict.fromkeys(resolve(r[c]) for r in rows for c in PAIR_COLUMNS))
    vectors = {
        path: embedding_of(outcome)
        for path, outcome in run_paths(
            pipeline, unique, batch=args.batch, desc="embedding", policy=_policy(args)
        )
    }
    out_fields = fields + [c for c in ADDED_COLUMNS if c not in fields]
    with args.out.open("w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=out_fields)
        writer.writeheader()
        for row in rows:
            va, vb = vectors[resolve(row["path_a"])], vectors[resolve(row["path_b"])]
            failure = next((v.code for v in (va, vb) if isinstance(v, MaskgateError)), "")
            score = ""
            if not failure:
                assert isinstance(va, np.ndarray)
                assert isinstance(vb, np.ndarray)
                score = f"{matcher.compare(va, vb).score:.6f}"
            writer.writerow({**row, "score": score, "failure": failure})
    return 0
