"""`maskgate eval lfw --data DIR` and `maskgate eval masked-lfw --data DIR`."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from maskgate.cli.common import load_pipeline
from maskgate.cli.masks_cmd import default_masks_dir
from maskgate.eval import masked_lfw, real_masks
from maskgate.eval.lfw import evaluate_lfw, markdown
from maskgate.masks.synth import MaskSynthesizer
from maskgate.pipeline.choose import FacePolicy


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("eval", help="evaluate on a benchmark")
    benches = p.add_subparsers(dest="bench", required=True)
    lfw = benches.add_parser("lfw", help="LFW View 2 (pairs.txt), 10-fold protocol")
    lfw.add_argument("--data", type=Path, required=True, help="LFW dir with pairs.txt, images/")
    lfw.add_argument("--out", type=Path, default=Path("reports/lfw"), help="report folder")
    lfw.add_argument(
        "--policy",
        choices=[p.value for p in FacePolicy if p is not FacePolicy.ALL],
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


def run_lfw(args: argparse.Namespace) -> int:
    if not (args.data / "pairs.txt").is_file():
        print(f"error: {args.data}/pairs.txt not found", file=sys.stderr)  # noqa: T201
        return 2
    summary = evaluate_lfw(load_pipeline(), args.data, args.out, FacePolicy(args.policy))
    sys.stdout.write(markdown(summary))
    print(f"report: {args.out}/lfw.json, {args.out}/lfw.md", file=sys.stderr)  # noqa: T201
    return 0


def run_masked_lfw(args: argparse.Namespace) -> int:
    if not (args.data / "pairs.txt").is_file():
        print(f"error: {args.data}/pairs.txt not found", file=sys.stderr)  # noqa: T201
        return 2
    masks_dir = args.masks or default_masks_dir(args.data)
    if masks_dir is None:
        print("error: no MaskTheFace masks folder: pass --masks", file=sys.stderr)  # noqa: T201
        return 2
    report = masked_lfw.evaluate(
        load_pipeline(),
        MaskSynthesizer.from_dir(masks_dir),
        args.data,
        seed=args.seed,
        progress=lambda line: print(line, file=sys.stderr, flush=True),  # noqa: T201
    )
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "masked-lfw.json").write_text(json.dumps(report, indent=2) + "\n")
    table = masked_lfw.markdown(report)
    (args.out / "masked-lfw.md").write_text("# Masked LFW (folds 6-10)\n\n" + table)
    sys.stdout.write(table)
    print(f"report: {args.out}/masked-lfw.json, {args.out}/masked-lfw.md", file=sys.stderr)  # noqa: T201
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
