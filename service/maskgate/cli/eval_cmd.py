"""`maskgate eval lfw|masked-lfw|real-masks --data DIR` and `maskgate eval pairs --pairs CSV`.

Every report but real-masks has figures (a DET plot, score histograms per case), drawn
with matplotlib: the ``eval`` extra. Its absence is reported before any work starts.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from maskgate.calibration.store import Calibration
from maskgate.cli.common import load_pipeline
from maskgate.cli.masks_cmd import default_masks_dir
from maskgate.config import Settings
from maskgate.eval import masked_lfw, pairs_file, real_masks
from maskgate.eval.lfw import evaluate_lfw, markdown
from maskgate.eval.plots import PlottingUnavailable, require_matplotlib
from maskgate.eval.report import write_report
from maskgate.masks.synth import MaskSynthesizer
from maskgate.pipeline.choose import FacePolicy

POLICIES = [p.value for p in FacePolicy if p is not FacePolicy.ALL]
FIGURES = ("det.png", "hist-full.png", "hist-partial.png")  # beside the JSON and markdown


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("eval", help="evaluate on a benchmark")
    benches = p.add_subparsers(dest="bench", required=True)
    lfw = benches.add_parser("lfw", help="LFW View 2 (pairs.txt), 10-fold protocol")
    lfw.add_argument("--data", type=Path, required=True, help="LFW dir with pairs.txt, images/")
    lfw.add_argument("--out", type=Path, default=Path("reports/lfw"), help="report folder")
    lfw.add_argument(
        "--policy",
        choices=POLICIES,
        default="central",
        help="which face of an image to use (LFW crops are centred on the person)",
    )
    lfw.set_defaults(func=run_lfw)
    masked = benches.add_parser(
        "masked-lfw", help="LFW folds 6-10 with synthetic masks: no mask, one side, both"
    )
    masked.add_argument("--data", type=Path, required=True, help="LFW dir with pairs.txt, images/")
    masked.add_argument(
        "--masks", type=Path, help="MaskTheFace masks folder (default: beside --data)"
    )
    masked.add_argument("--seed", type=int, default=0, help="mask choice and placement")
    masked.add_argument(
        "--out", type=Path, default=Path("reports/masked-lfw"), help="report folder"
    )
    masked.set_defaults(func=run_masked_lfw)
    real = benches.add_parser(
        "real-masks", help="share of photos of real masked faces that C classifies masked"
    )
    real.add_argument("--data", type=Path, required=True, help="folder of photos (recursive)")
    real.add_argument("--out", type=Path, default=Path("reports/real-masks"), help="report folder")
    real.set_defaults(func=run_real_masks)
    pairs = benches.add_parser(
        "pairs", help="any labelled pairs CSV (path_a, path_b, same[, fold]), routed as served"
    )
    pairs.add_argument(
        "--pairs", type=Path, required=True, help="CSV with path_a, path_b, same (1/0), [fold]"
    )
    pairs.add_argument("--root", type=Path, help="base of relative paths (default: the CSV's dir)")
    pairs.add_argument("--out", type=Path, default=Path("reports/pairs"), help="report folder")
    pairs.add_argument("--batch", type=int, default=32, help="images per pipeline batch")
    pairs.add_argument(
        "--policy",
        choices=POLICIES,
        help="which face of an image to use (default: the settings', largest)",
    )
    pairs.set_defaults(func=run_pairs)


def _fail(message: str) -> int:
    print(f"error: {message}", file=sys.stderr)  # noqa: T201
    return 2


def _plotting_missing() -> str | None:
    """Why the figures cannot be drawn, or None when they can."""
    try:
        require_matplotlib()
    except PlottingUnavailable as error:
        return str(error)
    return None


def _written(out: Path, *names: str) -> None:
    print(f"report: {', '.join(str(out / n) for n in names)}", file=sys.stderr)  # noqa: T201


def run_lfw(args: argparse.Namespace) -> int:
    if not (args.data / "pairs.txt").is_file():
        return _fail(f"{args.data}/pairs.txt not found")
    if missing := _plotting_missing():
        return _fail(missing)
    summary = evaluate_lfw(load_pipeline(), args.data, args.out, FacePolicy(args.policy))
    sys.stdout.write(markdown(summary))
    _written(args.out, "lfw.json", "lfw.md", *FIGURES)
    return 0


def run_masked_lfw(args: argparse.Namespace) -> int:
    if not (args.data / "pairs.txt").is_file():
        return _fail(f"{args.data}/pairs.txt not found")
    masks_dir = args.masks or default_masks_dir(args.data)
    if masks_dir is None:
        return _fail("no MaskTheFace masks folder: pass --masks")
    if missing := _plotting_missing():
        return _fail(missing)
    settings = Settings()
    evaluation = masked_lfw.score(
        load_pipeline(settings),
        MaskSynthesizer.from_dir(masks_dir),
        args.data,
        seed=args.seed,
        progress=lambda line: print(line, file=sys.stderr, flush=True),  # noqa: T201
        calibration=Calibration.load(settings.models.dir, settings.pipeline.mask_threshold),
    )
    table = masked_lfw.markdown(evaluation.report)
    write_report(
        args.out,
        "masked-lfw",
        evaluation.report,
        f"# {masked_lfw.TITLE}\n\n" + table,
        title=masked_lfw.TITLE,
        figures=evaluation.figures(),
    )
    sys.stdout.write(table)
    _written(args.out, "masked-lfw.json", "masked-lfw.md", *FIGURES)
    return 0


def run_pairs(args: argparse.Namespace) -> int:
    if not args.pairs.is_file():
        return _fail(f"{args.pairs} not found")
    try:
        pairs = pairs_file.read_pairs_file(args.pairs, args.root)
    except pairs_file.PairsFileError as error:
        return _fail(str(error))
    if missing := _plotting_missing():
        return _fail(missing)
    policy = FacePolicy(args.policy) if args.policy else None
    summary = pairs_file.evaluate(
        load_pipeline(), args.pairs, pairs, args.out, policy=policy, batch=args.batch
    )
    sys.stdout.write(pairs_file.markdown(summary))
    _written(args.out, "pairs.json", "pairs.md", *FIGURES)
    return 0


def run_real_masks(args: argparse.Namespace) -> int:
    if not args.data.is_dir():
        print(f"error: {args.data} is not a folder", file=sys.stderr)  # noqa: T201
        return 2
    report = real_masks.evaluate(load_pipeline(), args.data)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "real-masks.json").write_text(json.dumps(report, indent=2) + "\n")
    sys.stdout.write(real_masks.markdown(report))
    return 0
