"""Benchmark: listing returns through ReturnlyClient vs a raw httpx loop, same sandbox pages.

Starts the Returnly sandbox in a thread, seeds it, then times listing every return with all
includes, N times each way, and prints the medians and the client/raw ratio (target <= 1.2).
The raw loop does only what any client must: GET each page, follow ``links.next``, parse JSON
(stdlib ``json``, as ``response.json()`` does). A second raw loop parses with pydantic-core's
``from_json``, as the client does, to show what the typed models alone cost.

    .venv/bin/python -P bench/returnly_listing.py --returns 10000 --runs 5 --page-size 100
"""

from __future__ import annotations

import argparse
import contextlib
import cProfile
import gc
import json
import pstats
import statistics
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

# Run as ``python bench/returnly_listing.py`` (the Makefile does), this file's directory comes
# first on sys.path, where a bench module could shadow a package of the project: drop it.
if sys.path and Path(sys.path[0]).resolve() == Path(__file__).resolve().parent:
    sys.path.pop(0)

import httpx
from pydantic import BaseModel, ConfigDict, TypeAdapter, create_model
from pydantic_core import from_json

from clients.returnly import DEFAULT_INCLUDE, ReturnlyClient, jsonapi
from clients.returnly.models import Return
from core.settings import SANDBOX_RETURNLY_TOKEN
from sandbox.returnly.app import create_app
from sandbox.server import serve_in_thread

HEADERS = {
    "X-Api-Token": SANDBOX_RETURNLY_TOKEN,
    "X-Api-Version": "2020-08",
    "Content-Type": "application/json",
}


def raw_listing(base_url: str, page_size: int, loads: Callable[[bytes], Any] = json.loads) -> int:
    """Follow ``links.next`` with plain httpx and parse each page; returns the count."""
    count = 0
    params: dict[str, str | int] | None = {
        "page": 1,
        "page_size": page_size,
        "include": ",".join(DEFAULT_INCLUDE),
    }
    url: str | None = f"{base_url}/returns.json"
    with httpx.Client(headers=HEADERS, timeout=30) as http:
        while url:
            document = loads(http.get(url, params=params).content)
            count += len(document["data"])
            url = document["links"]["next"]
            params = None
    return count


def client_listing(base_url: str, page_size: int) -> int:
    """The same listing through ReturnlyClient (typed models, included resolved)."""
    with ReturnlyClient(
        base_url=base_url, api_token=SANDBOX_RETURNLY_TOKEN, page_size=page_size, timeout=30
    ) as client:
        return sum(1 for _ in client.iter_returns())


def _plain_twin(model: type[BaseModel], nested: dict[str, Any]) -> type[BaseModel]:
    """The model with amounts and timestamps as plain strings and unknown fields dropped."""
    fields: dict[str, Any] = {}
    for name, info in model.model_fields.items():
        shown = repr(info)
        if name in nested:
            annotation: Any = nested[name]
        elif "Decimal" in shown or "datetime" in shown:
            annotation = str | None
        else:
            annotation = info.annotation
        default = ... if info.is_required() else info.get_default(call_default_factory=True)
        fields[name] = (annotation, default)
    config = ConfigDict(extra="ignore", coerce_numbers_to_str=True)
    return create_model(f"Plain{model.__name__}", __config__=config, **fields)


def _list_of(item: Any) -> Any:
    return list[item]


@contextlib.contextmanager
def pydantic_floor() -> Iterator[None]:
    """Swap in plain twins of every model: what validation costs without our field types.

    Shows how much of the client's overhead is pydantic building models at all (the floor
    with these models) versus our Decimal/timestamp validators and kept unknown fields.
    """
    twins: dict[type[BaseModel], Any] = {
        m: _plain_twin(m, {}) for m in set(jsonapi._INCLUDED_MODELS.values())
    }
    relations: dict[str, Any] = {
        field: _list_of(twins[jsonapi._INCLUDED_MODELS[name]])
        for name, field in jsonapi._LIST_RELATIONSHIPS.items()
        if name in jsonapi._INCLUDED_MODELS
    }
    for name, field in jsonapi._SINGLE_RELATIONSHIPS.items():
        relations[field] = twins[jsonapi._INCLUDED_MODELS[name]] | None
    saved = jsonapi._ADAPTERS, jsonapi._RETURNS
    adapters: Any = {m: TypeAdapter(_list_of(t)) for m, t in twins.items()}
    returns: Any = TypeAdapter(_list_of(_plain_twin(Return, relations)))
    jsonapi._ADAPTERS, jsonapi._RETURNS = adapters, returns
    try:
        yield
    finally:
        jsonapi._ADAPTERS, jsonapi._RETURNS = saved


def timed(fn: Callable[[], int], expected: int) -> tuple[float, float]:
    """(wall, process CPU) seconds for one run; fails loudly if the count is wrong.

    CPU time covers the in-process sandbox too, for both sides alike; it is the steadier
    figure on a shared machine, where wall time swings with other processes.
    """
    wall, cpu = time.perf_counter(), time.process_time()
    got = fn()
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    if got != expected:
        raise SystemExit(f"listed {got} returns, expected {expected}")
    return wall, cpu


def _line(label: str, runs: list[tuple[float, float]]) -> tuple[float, float]:
    wall = statistics.median(r[0] for r in runs)
    cpu = statistics.median(r[1] for r in runs)
    each = ", ".join(f"{r[0]:.3f}" for r in runs)
    print(f"{label:<17}: median wall {wall:.3f}s  cpu {cpu:.3f}s  (wall runs {each})")
    return wall, cpu


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark and print the figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--returns", type=int, default=10_000)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--page-size", type=int, default=100)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--profile", action="store_true", help="profile one client run")
    parser.add_argument(
        "--floor",
        action="store_true",
        help="also time the client with plain-string amounts/timestamps and no kept extras",
    )
    args = parser.parse_args(argv)

    start = time.perf_counter()
    app = create_app(seed_count=args.returns, seed=args.seed)
    print(f"seeded {args.returns} returns in {time.perf_counter() - start:.2f}s")
    with serve_in_thread(app) as server:
        url = server.url
        raw_listing(url, args.page_size)  # warm up both paths (imports, connections, caches)
        client_listing(url, args.page_size)
        # The sandbox's 10k returns live in this process. Freeze them out of the cyclic GC,
        # or each full collection (~0.3 s here) walks the sandbox's heap and is billed to
        # whichever loop happened to allocate at that moment. Both loops benefit alike.
        gc.collect()
        gc.freeze()
        raw: list[tuple[float, float]] = []
        fast: list[tuple[float, float]] = []
        typed: list[tuple[float, float]] = []
        floor: list[tuple[float, float]] = []
        for _ in range(args.runs):  # interleaved, so drift on a busy machine hits all alike
            raw.append(timed(lambda: raw_listing(url, args.page_size), args.returns))
            fast.append(timed(lambda: raw_listing(url, args.page_size, from_json), args.returns))
            typed.append(timed(lambda: client_listing(url, args.page_size), args.returns))
            if args.floor:
                with pydantic_floor():
                    floor.append(timed(lambda: client_listing(url, args.page_size), args.returns))
        if args.profile:
            profiler = cProfile.Profile()
            profiler.runcall(client_listing, url, args.page_size)
            pstats.Stats(profiler).sort_stats("tottime").print_stats(20)

    print(f"{args.returns} returns, pages of {args.page_size}, {args.runs} runs, all includes")
    raw_wall, raw_cpu = _line("raw httpx + json", raw)
    fast_wall, fast_cpu = _line("raw + from_json", fast)
    typed_wall, typed_cpu = _line("ReturnlyClient", typed)
    print(
        f"ratio client/raw : wall {typed_wall / raw_wall:.2f}  cpu {typed_cpu / raw_cpu:.2f}"
        "  (target <= 1.20)"
    )
    print(
        f"ratio client/raw+from_json (models + include resolution alone): "
        f"wall {typed_wall / fast_wall:.2f}  cpu {typed_cpu / fast_cpu:.2f}"
    )
    if floor:
        floor_wall, floor_cpu = _line("plain-model floor", floor)
        print(
            f"ratio floor/raw  : wall {floor_wall / raw_wall:.2f}  cpu {floor_cpu / raw_cpu:.2f}"
            "  (same client, models without Decimal/timestamp validators or kept extras)"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
