"""Benchmark: what the plugin, merely installed, costs another project's pytest runs.

    .venv/bin/python benchmarks/bench_overhead.py                 # 1 test, and 4,000 tiny tests under -n 2
    .venv/bin/python benchmarks/bench_overhead.py --repeat 5

Runs a generated project (outside this checkout, no ``--ablation-*`` option) with the plugin loaded and with
``-p no:circuit_ablation`` in turn, best of ``--repeat`` wall times each, and prints their ratio. The
plugin reads no case file and keeps xdist's own scheduling for such a run, so the ratios should be
close to 1: 1.00 and 1.05 (2026-11-29; at 236d6eb, before, 1.63 and 1.54: every case planned at
configure, and each test its own scheduling unit under -n).
"""
from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def _project(root: Path, files: int, tests: int) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    for f in range(files):
        body = "".join(f"def test_{i}():\n    assert {i} >= 0\n" for i in range(tests))
        (root / f"test_m{f}.py").write_text(body)
    return root


def _seconds(cmd: list[str], cwd: Path) -> float:
    """Wall seconds of one run of ``cmd`` in ``cwd``, which must pass."""
    start = time.perf_counter()
    proc = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True)
    elapsed = time.perf_counter() - start
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed in {cwd}:\n{proc.stdout[-2000:]}{proc.stderr[-2000:]}")
    return elapsed


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3, help="runs of each command; the best counts (default 3)")
    args = parser.parse_args(argv)
    pytest = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider"]
    with tempfile.TemporaryDirectory(prefix="overhead-") as tmp:
        cases = [("one test, serial", _project(Path(tmp) / "one", 1, 1), []),
                 ("4,000 tests, -n 2", _project(Path(tmp) / "many", 20, 200), ["-n", "2"])]
        for name, folder, extra in cases:
            # alternate the two commands, so that a drifting host affects both alike
            with_plugin, without = float("inf"), float("inf")
            for _ in range(args.repeat):
                with_plugin = min(with_plugin, _seconds([*pytest, *extra], folder))
                without = min(without, _seconds([*pytest, "-p", "no:circuit_ablation", *extra], folder))
            print(f"{name:<18} plugin {with_plugin:6.2f} s, without {without:6.2f} s, ratio {with_plugin / without:.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
