"""Benchmark: the report's PNGs drawn by kaleido (one figure at a time, the page reloaded after each) and
by ``report.images.render_png`` (every figure in one page per core), in one process, on the same figures.

    .venv/bin/python benchmarks/bench_images.py                  # 28 figures of 10 nodes x 12 scales
    .venv/bin/python benchmarks/bench_images.py --figures 140    # as many as the default run draws

Prints wall seconds and the machine's busy CPU seconds (Chromium included; run it on an idle machine) of
each, their ratios, and whether the two gave the same bytes.
"""
from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


def _figure(i: int):
    import plotly.graph_objects as go

    scales = [0, 0.1, 0.2, 0.5, 0.7, 0.8, 1, 1.2, 1.4, 2, 5, 10]
    fig = go.Figure()
    for node in range(10):
        fig.add_scatter(x=[str(s) for s in scales], y=[((i + 1) * (node + 1) * (j + 1)) % 11 / 10 for j in range(12)],
                        name=f"node {node}", line={"dash": "dash" if node % 2 else "solid"})
    fig.update_layout(title=f"figure {i}")
    return fig


def _cpu() -> float:
    """Busy CPU seconds of the whole machine (Linux): kaleido's Chromium is not this process's waited child,
    so its time would not show in os.times(). Run on an otherwise idle machine."""
    fields = Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]
    user, nice, system, _idle, _iowait, irq, softirq = (int(f) for f in fields[:7])
    return (user + nice + system + irq + softirq) / os.sysconf("SC_CLK_TCK")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--figures", type=int, default=28)
    args = parser.parse_args()
    import kaleido

    from pytest_circuit_ablation.report import images

    browser = images.find_browser()
    if browser is None:
        print("no Chrome/Chromium: nothing to measure")
        return 1
    os.environ.setdefault("BROWSER_PATH", browser)
    figs = [_figure(i) for i in range(args.figures)]
    with tempfile.TemporaryDirectory() as tmp:
        jobs = [{"fig": f, "path": f"{tmp}/{i}.png", "opts": {"format": "png", "width": 1000, "height": 400}}
                for i, f in enumerate(figs)]
        c0, t0 = _cpu(), time.perf_counter()
        kaleido.write_fig_from_object_sync(jobs, kopts={"n": images._tabs(len(jobs))})
        k_wall, k_cpu = time.perf_counter() - t0, _cpu() - c0
        theirs = [Path(j["path"]).read_bytes() for j in jobs]
    c0, t0 = _cpu(), time.perf_counter()
    ours = images.render_png(browser, figs)
    o_wall, o_cpu = time.perf_counter() - t0, _cpu() - c0
    print(f"{args.figures} figures, {images._tabs(len(figs))} browser tabs/processes")
    print(f"kaleido:  {k_wall:6.1f} s wall, {k_cpu:6.1f} s CPU")
    print(f"one page: {o_wall:6.1f} s wall, {o_cpu:6.1f} s CPU")
    print(f"ratio: {k_wall / o_wall:.1f}x wall, {k_cpu / o_cpu:.1f}x CPU; identical bytes: {sum(a == b for a, b in zip(ours, theirs))} of {len(figs)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
