"""Run every benchmark module of this package: `python -m bench` (`make bench`).

A module named bench_<topic>.py with a `main()` is picked up by itself; `python -m bench reports`
runs only the modules whose topic is given.
"""
from __future__ import annotations

import importlib
import pkgutil
import sys
import time

import bench


def main(argv: list[str]) -> None:
    wanted = set(argv)
    names = sorted(m.name for m in pkgutil.iter_modules(bench.__path__) if m.name.startswith("bench_"))
    for name in names:
        if wanted and name.removeprefix("bench_") not in wanted:
            continue
        print(f"== {name}", flush=True)
        started = time.perf_counter()
        importlib.import_module(f"bench.{name}").main()
        print(f"== {name} done in {time.perf_counter() - started:.0f} s\n", flush=True)


if __name__ == "__main__":
    main(sys.argv[1:])
