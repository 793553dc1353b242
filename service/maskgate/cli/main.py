"""The `maskgate` command."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from maskgate import __version__
from maskgate.cli import (
    analyze_cmd,
    bench_cmd,
    calibrate_cmd,
    compare_cmd,
    db_cmd,
    eval_cmd,
    keys_cmd,
    masks_cmd,
    models_cmd,
    serve_cmd,
    train_cmd,
    worker_cmd,
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="maskgate", description=__doc__)
    parser.add_argument("--version", action="version", version=f"maskgate {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)
    for module in (
        models_cmd,
        analyze_cmd,
        compare_cmd,
        masks_cmd,
        eval_cmd,
        train_cmd,
        calibrate_cmd,
        db_cmd,
        keys_cmd,
        serve_cmd,
        bench_cmd,
        worker_cmd,
    ):
        module.add_parser(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    code: int = args.func(args)
    return code


if __name__ == "__main__":
    sys.exit(main())
