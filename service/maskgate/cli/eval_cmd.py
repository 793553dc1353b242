"""`maskgate eval lfw --data DIR`: the standard benchmarks."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from maskgate.cli.common import load_pipeline
from maskgate.eval.lfw import evaluate_lfw, markdown
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


def run_lfw(args: argparse.Namespace) -> int:
    if not (args.data / "pairs.txt").is_file():
        print(f"error: {args.data}/pairs.txt not found", file=sys.stderr)  # noqa: T201
        return 2
    summary = evaluate_lfw(load_pipeline(), args.data, args.out, FacePolicy(args.policy))
    sys.stdout.write(markdown(summary))
    print(f"report: {args.out}/lfw.json, {args.out}/lfw.md", file=sys.stderr)  # noqa: T201
    return 0
