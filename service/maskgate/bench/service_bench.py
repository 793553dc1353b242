"""`maskgate bench service`: accuracy and latency of a running maskgate, through its API.

1. Enrol, into a fresh gallery, one LFW image of every identity with at least two images
   (1,680 subjects): the first image that passes the enrolment checks, as an operator would
   retake a rejected photo; then identify another image of each: rank-1 rate. An identity
   none of whose images enrols counts as a miss.
2. Latency and throughput of /v1/verify (probe vs subject) and /v1/identify at 1, 4 and
   16 concurrent clients: p50/p95/p99 in ms and requests/s.
The subjects are erased at the end unless --keep is given.
"""

from __future__ import annotations

import asyncio
import json
import statistics
import sys
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

import httpx


@dataclass(frozen=True)
class Identity:
    name: str
    images: list[Path]


@dataclass(frozen=True)
class Enrolled:
    identity: Identity
    subject_id: str
    enrolled_index: int  # which of the person's images was enrolled
    probe: bytes  # an image of the person other than the enrolled one


def identities(lfw: Path, limit: int | None) -> list[Identity]:
    found = []
    for folder in sorted((lfw / "images").iterdir()):
        images = sorted(folder.glob("*.jpg"))
        if len(images) >= 2:
            found.append(Identity(folder.name, images))
    return found[:limit] if limit else found


def progress(label: str, done: int, total: int) -> None:
    if done == total or done % 100 == 0:
        print(f"{label}: {done}/{total}", file=sys.stderr, flush=True)  # noqa: T201


async def bounded(
    jobs: Sequence[Callable[[], Awaitable[Any]]], concurrency: int, label: str = ""
) -> list[Any]:
    """Run the jobs with at most ``concurrency`` in flight; results in order."""
    results: list[Any] = [None] * len(jobs)
    queue = list(enumerate(jobs))[::-1]
    done = 0

    async def worker() -> None:
        nonlocal done
        while queue:
            index, job = queue.pop()
            results[index] = await job()
            done += 1
            if label:
                progress(label, done, len(jobs))

    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return results


def percentile(values: Sequence[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q / 100 * (len(ordered) - 1))))]


class Bench:
    def __init__(self, client: httpx.AsyncClient, gallery: str) -> None:
        self.client = client
        self.gallery = gallery

    async def call(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        response = await self.client.request(method, path, **kwargs)
        if response.status_code >= 500:
            raise RuntimeError(f"{method} {path}: {response.status_code} {response.text[:200]}")
        return response

    async def enrol(self, person: Identity, attempts: int = 3) -> Enrolled | str:
        """Enrol the first of the person's images that passes; the subject id if none."""
        created = await self.call(
            "POST", "/v1/subjects", json={"external_id": person.name, "gallery": self.gallery}
        )
        created.raise_for_status()
        subject_id: str = created.json()["id"]
        for index, image in enumerate(person.images[:attempts]):
            enrolled = await self.call(
                "POST",
                f"/v1/subjects/{subject_id}/faces",
                files={"images": (image.name, image.read_bytes(), "image/jpeg")},
                data={"multiple_faces": "largest"},
            )
            if enrolled.status_code == 201:
                probe = person.images[1 if index == 0 else 0]
                return Enrolled(person, subject_id, index, probe.read_bytes())
        return subject_id

    async def identify(self, probe: bytes) -> httpx.Response:
        return await self.call(
            "POST",
            "/v1/identify",
            files={"probe": ("probe.jpg", probe, "image/jpeg")},
            data={"gallery": self.gallery, "top_k": "5"},
        )

    async def verify(self, probe: bytes, subject_id: str) -> httpx.Response:
        return await self.call(
            "POST",
            "/v1/verify",
            files={"probe": ("probe.jpg", probe, "image/jpeg")},
            data={"subject_id": subject_id},
        )


async def timed(job: Callable[[], Awaitable[httpx.Response]]) -> float:
    start = time.perf_counter()
    response = await job()
    elapsed = (time.perf_counter() - start) * 1000
    if response.status_code != 200:
        raise RuntimeError(f"unexpected {response.status_code}: {response.text[:200]}")
    return elapsed


async def load(
    make_job: Callable[[int], Callable[[], Awaitable[httpx.Response]]],
    concurrency: int,
    requests: int,
) -> dict[str, float]:
    jobs = [partial(timed, make_job(i)) for i in range(requests)]
    start = time.perf_counter()
    latencies = await bounded(jobs, concurrency)
    seconds = time.perf_counter() - start
    return {
        "p50_ms": round(percentile(latencies, 50), 1),
        "p95_ms": round(percentile(latencies, 95), 1),
        "p99_ms": round(percentile(latencies, 99), 1),
        "mean_ms": round(statistics.fmean(latencies), 1),
        "requests_per_s": round(requests / seconds, 1),
        "requests": requests,
    }


async def run_bench(
    url: str, api_key: str, lfw: Path, *, limit: int | None, requests: int, keep: bool
) -> dict[str, Any]:
    people = identities(lfw, limit)
    gallery = f"bench-{int(time.time())}"
    headers = {"Authorization": f"Bearer {api_key}"}
    timeout = httpx.Timeout(120.0)
    limits = httpx.Limits(max_connections=32)
    async with httpx.AsyncClient(
        base_url=url, headers=headers, timeout=timeout, limits=limits
    ) as client:
        bench = Bench(client, gallery)
        start = time.perf_counter()
        outcomes = await bounded([partial(bench.enrol, p) for p in people], 8, "enrol")
        enrol_seconds = time.perf_counter() - start
        enrolled = [o for o in outcomes if isinstance(o, Enrolled)]
        subject_ids = [o.subject_id if isinstance(o, Enrolled) else o for o in outcomes]

        async def rank1(person: Enrolled) -> bool:
            response = await bench.identify(person.probe)
            if response.status_code != 200:
                return False
            candidates = response.json()["candidates"]
            return bool(candidates) and candidates[0]["subject_id"] == person.subject_id

        hits = await bounded([partial(rank1, e) for e in enrolled], 8, "identify")
        result: dict[str, Any] = {
            "gallery": gallery,
            "subjects": len(people),
            "enrolled": len(enrolled),
            "failure_to_enrol": len(people) - len(enrolled),
            "enrolled_on_first_image": sum(1 for e in enrolled if e.enrolled_index == 0),
            # A failed enrolment counts as a miss: the person could not be found.
            "rank1": round(sum(hits) / len(people), 4),
            "enrol_seconds": round(enrol_seconds, 1),
        }
        for operation in ("verify", "identify"):
            for concurrency in (1, 4, 16):

                def make(i: int, op: str = operation) -> Callable[[], Awaitable[httpx.Response]]:
                    person = enrolled[i % len(enrolled)]
                    if op == "verify":
                        return partial(bench.verify, person.probe, person.subject_id)
                    return partial(bench.identify, person.probe)

                stats = await load(make, concurrency, max(requests, 4 * concurrency))
                result[f"{operation}_c{concurrency}"] = stats
                print(f"{operation} c={concurrency}: {json.dumps(stats)}", file=sys.stderr)  # noqa: T201
        if not keep:
            erase = [partial(bench.call, "DELETE", f"/v1/subjects/{s}") for s in subject_ids]
            await bounded(erase, 8, "erase")
    return result
