"""What serving from the registry costs: a challenger in shadow at 1M rows, and the alias check per request.

    python -m benchmarks.challenger                 # 1M rows, CSV in and out
    python -m benchmarks.challenger --rows 100000

Budgets (issue 24): champion + challenger at most 1.6× the champion alone; the alias check at most
0.1 ms per request. The challenger is the shipped artifact loaded a second time (another object of
the same size and cost); the alias check is `ModelProvider.served()` over a registry on SQLite, both
as most requests see it (the generation cached for GENERATION_TTL) and when the cache has expired.
"""
from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

from tests.factories import applications
from webapp.model.loading import load_model
from webapp.service import ModelProvider, ScoringOptions, score_input

SHIPPED = Path(__file__).resolve().parent.parent / "models" / "loan_pipeline.joblib"


def _timed(source: bytes, champion, challenger=None) -> tuple[float, dict]:
    started = time.perf_counter()
    answer = score_input(source, champion, ScoringOptions(format="csv"), challenger=challenger)
    answer.file.close()
    return time.perf_counter() - started, answer.report


def challenger_cost(rows: int) -> None:
    source = applications(rows, seed=1).to_csv(index=False).encode()
    champion, challenger = load_model(SHIPPED), load_model(SHIPPED)
    _timed(source[: 20_000], champion, challenger)  # warm-up
    alone, _ = _timed(source, champion)
    shadowed, report = _timed(source, champion, challenger)
    print(f"{rows:,} rows: champion alone {alone:.2f} s, with a challenger {shadowed:.2f} s = "
          f"{shadowed / alone:.2f}× (budget 1.6×); agreement {report['challenger']['agreement']}")


def alias_check(requests: int = 200_000) -> None:
    from webapp.db import Database, ensure_schema
    from webapp.registry import ModelRegistry, ModelStore
    from webapp.registry import services

    with tempfile.TemporaryDirectory() as folder:
        database = Database(f"sqlite:///{os.path.join(folder, 'registry.db')}")
        ensure_schema(database.engine)
        registry = ModelRegistry(database, ModelStore(os.path.join(folder, "store")), lambda _: None)
        registry.ensure_shipped(SHIPPED)
        provider = ModelProvider(load_model(SHIPPED), registry=registry)
        provider.current()  # the first read loads the champion
        started = time.perf_counter()
        for _ in range(requests):
            provider.current()
        cached = (time.perf_counter() - started) / requests
        ttl, services.GENERATION_TTL = services.GENERATION_TTL, 0.0
        try:
            started = time.perf_counter()
            for _ in range(2000):
                provider.current()
            uncached = (time.perf_counter() - started) / 2000
        finally:
            services.GENERATION_TTL = ttl
        database.dispose()
    print(f"alias check per request: {cached * 1e6:.2f} µs cached (budget 100 µs); "
          f"{uncached * 1e6:.0f} µs when the generation is read from SQLite (once per TTL per worker)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    args = parser.parse_args()
    alias_check()
    challenger_cost(args.rows)


if __name__ == "__main__":
    main()
