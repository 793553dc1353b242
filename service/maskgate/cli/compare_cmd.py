"""`maskgate compare A B` and `maskgate compare --pairs PAIRS.csv --out SCORES.csv`.

Decisions are taken at an operating point: ``--fmr`` (default: the settings'), whose
threshold each case's calibration gives, or a fixed cosine ``--threshold`` instead.
"""

from __future__ import annotations

import argparse
import csv
import sys
from pathlib import Path
from typing import Any

from maskgate.cli.analyze_cmd import describe
from maskgate.cli.common import emit, load_pipeline
from maskgate.config import Settings
from maskgate.errors import MaskgateError
from maskgate.matching import Comparison, Matcher, Templates
from maskgate.pipeline.choose import FacePolicy
from maskgate.pipeline.files import run_paths
from maskgate.pipeline.pairs import faces_for_pairs, usable_face
from maskgate.pipeline.pipeline import FacePipeline, Outcome

PAIR_COLUMNS = ("path_a", "path_b")
# ``score`` and ``failure`` come first, in this order: tools read them by position too;
# later columns are only ever appended.
ADDED_COLUMNS = (
    "score",
    "failure",
    "case",
    "masked_a",
    "masked_b",
    "match",
    "estimated_fmr",
    "threshold",
)


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("compare", help="verify two images, or every pair of a CSV file")
    p.add_argument("images", nargs="*", type=Path, help="two images: A B")
    p.add_argument("--pairs", type=Path, help="CSV with columns path_a,path_b (others kept)")
    p.add_argument("--out", type=Path, help="where --pairs writes its scores (CSV)")
    p.add_argument("--root", type=Path, help="base of relative paths (default: the CSV's dir)")
    point = p.add_mutually_exclusive_group()
    point.add_argument(
        "--fmr",
        type=_fmr,
        help="operating point: the false match rate a match may carry, 0 < F <= 1; each case "
        "decides at the threshold its calibration gives (default: the settings', 1e-4)",
    )
    point.add_argument(
        "--threshold",
        type=float,
        help="a fixed cosine threshold for whichever case is used, instead of --fmr",
    )
    p.add_argument("--batch", type=int, default=32, help="images per pipeline batch")
    p.add_argument(
        "--policy",
        choices=[x.value for x in FacePolicy if x is not FacePolicy.ALL],
        help="which face of an image to use (default: the settings', largest)",
    )
    p.set_defaults(func=run)


def templates_of(outcome: Outcome) -> Templates | MaskgateError:
    """The templates of the chosen, usable face, or the error that prevents them."""
    face = usable_face(outcome)
    return face if isinstance(face, MaskgateError) else Templates.of(face)


def _fmr(text: str) -> float:
    value = float(text)
    if not 0.0 < value <= 1.0:
        raise argparse.ArgumentTypeError(f"an FMR lies in (0, 1], got {text}")
    return value


def run(args: argparse.Namespace) -> int:
    settings = Settings()
    try:
        matcher = Matcher.from_settings(settings).at(fmr=args.fmr, threshold=args.threshold)
    except MaskgateError as error:
        print(f"error: calibration: {error.detail}", file=sys.stderr)  # noqa: T201
        return 1
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


def _mask_probability(outcome: Outcome) -> float | None:
    """C's p(masked) of the chosen face; None when no face was chosen."""
    if isinstance(outcome, MaskgateError) or not outcome.faces:
        return None
    p = outcome.faces[0].mask_probability
    return None if p is None else round(p, 4)


def run_two(
    pipeline: FacePipeline, matcher: Matcher, a: Path, b: Path, policy: FacePolicy | None
) -> int:
    outcomes = dict(run_paths(pipeline, [a, b], policy=policy))
    templates = [templates_of(outcomes[a]), templates_of(outcomes[b])]
    result: dict[str, Any] = {
        "score": None,
        "match": False,
        "threshold": matcher.threshold_for("full"),  # the full case's, until a case is decided
        "estimated_fmr": None,
        "fmr": matcher.operating_fmr,
        "case": None,
        "mask_probability": {
            "a": _mask_probability(outcomes[a]),
            "b": _mask_probability(outcomes[b]),
        },
    }
    failures = [t for t in templates if isinstance(t, MaskgateError)]
    if failures:
        result["failure"] = failures[0].code
    else:
        ta, tb = templates
        assert isinstance(ta, Templates)
        assert isinstance(tb, Templates)
        comparison = matcher.compare(ta, tb)
        result.update(
            score=round(comparison.score, 6),
            match=comparison.match,
            threshold=comparison.threshold,
            estimated_fmr=comparison.estimated_fmr,
            case=comparison.case,
        )
    result["a"] = describe(a, outcomes[a])
    result["b"] = describe(b, outcomes[b])
    emit(result)
    return 0 if not failures else 1


def _masked_cell(templates: Templates | MaskgateError) -> str:
    return "" if isinstance(templates, MaskgateError) else str(int(templates.masked))


def _decision_cells(comparison: Comparison | None) -> dict[str, str]:
    """``score``, ``case``, ``match``, ``estimated_fmr`` and ``threshold``; empty on failure."""
    if comparison is None:
        return dict.fromkeys(("score", "case", "match", "estimated_fmr", "threshold"), "")
    return {
        "score": f"{comparison.score:.6f}",
        "case": comparison.case,
        "match": str(int(comparison.match)),
        "estimated_fmr": f"{comparison.estimated_fmr:.3e}",
        "threshold": f"{comparison.threshold:.6f}",
    }


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

    pairs = [(resolve(row["path_a"]), resolve(row["path_b"])) for row in rows]
    faces = faces_for_pairs(
        pipeline, pairs, policy=_policy(args), batch=args.batch, desc="embedding"
    )
    templates = {
        path: face if isinstance(face, MaskgateError) else Templates.of(face)
        for path, face in faces.items()
    }
    out_fields = fields + [c for c in ADDED_COLUMNS if c not in fields]
    with args.out.open("w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=out_fields)
        writer.writeheader()
        for row in rows:
            ta, tb = templates[resolve(row["path_a"])], templates[resolve(row["path_b"])]
            failure = next((t.code for t in (ta, tb) if isinstance(t, MaskgateError)), "")
            comparison = None
            if not failure:
                assert isinstance(ta, Templates)
                assert isinstance(tb, Templates)
                comparison = matcher.compare(ta, tb)
            writer.writerow(
                {
                    **row,
                    **_decision_cells(comparison),
                    "failure": failure,
                    "masked_a": _masked_cell(ta),
                    "masked_b": _masked_cell(tb),
                }
            )
    return 0
