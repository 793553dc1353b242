"""`maskgate analyze IMAGE...`: one JSON line per image with every face the pipeline saw."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from maskgate.cli.common import emit, load_pipeline
from maskgate.errors import MaskgateError
from maskgate.pipeline.choose import FacePolicy
from maskgate.pipeline.files import read_bytes
from maskgate.pipeline.pipeline import Outcome
from maskgate.pipeline.quality import ENROL, PROBE


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("analyze", help="detect faces and report landmarks and quality")
    p.add_argument("images", nargs="+", type=Path)
    p.add_argument("--policy", choices=[x.value for x in FacePolicy], default="all")
    p.add_argument("--enrol", action="store_true", help="apply enrolment quality thresholds")
    p.set_defaults(func=run)


def describe(path: Path, outcome: Outcome) -> dict[str, Any]:
    if isinstance(outcome, MaskgateError):
        return {"path": str(path), "ok": False, "error": outcome.to_dict()}
    return {"path": str(path), "ok": True, **outcome.to_dict()}


def run(args: argparse.Namespace) -> int:
    pipeline = load_pipeline()
    failed = 0
    for path in args.images:
        data = read_bytes(path)
        outcome: Outcome = (
            data
            if isinstance(data, MaskgateError)
            else pipeline.run(
                [data],
                quality=ENROL if args.enrol else PROBE,
                policy=FacePolicy(args.policy),
                embed=False,
            )[0]
        )
        failed += isinstance(outcome, MaskgateError)
        emit(describe(path, outcome))
    return 1 if failed else 0
