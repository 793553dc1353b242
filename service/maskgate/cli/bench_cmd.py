"""`maskgate bench service --url URL --api-key KEY --lfw DIR`."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from pathlib import Path

from maskgate.bench.service_bench import run_bench


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("bench", help="benchmarks")
    kinds = p.add_subparsers(dest="kind", required=True)
    service = kinds.add_parser("service", help="rank-1 and latency of a running service (LFW)")
    service.add_argument("--url", required=True, help="e.g. http://127.0.0.1:8000")
    service.add_argument("--api-key", required=True, help="scopes enrol, verify, identify")
    service.add_argument("--lfw", type=Path, required=True, help="LFW dir with images/")
    service.add_argument("--limit", type=int, help="only the first N identities")
    service.add_argument("--requests", type=int, default=200, help="requests per load level")
    service.add_argument("--keep", action="store_true", help="keep the bench subjects")
    service.set_defaults(func=run_service)


def run_service(args: argparse.Namespace) -> int:
    if not (args.lfw / "images").is_dir():
        print(f"error: {args.lfw}/images not found", file=sys.stderr)  # noqa: T201
        return 2
    result = asyncio.run(
        run_bench(
            args.url.rstrip("/"),
            args.api_key,
            args.lfw,
            limit=args.limit,
            requests=args.requests,
            keep=args.keep,
        )
    )
    print(json.dumps(result, separators=(",", ":")))  # noqa: T201
    return 0
