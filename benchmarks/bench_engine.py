"""Benchmark: a case's full sweep with the plain oracle loop and with the engine, in one process.

    .venv/bin/python benchmarks/bench_engine.py                 # case 3 siit, CPU, every mode x 12 scales
    .venv/bin/python benchmarks/bench_engine.py --case all --oracle-share 0.05 --repeat 1   # every case, one line each
    .venv/bin/python benchmarks/bench_engine.py --case 18 --oracle-share 0.1   # a categorical case (+ KL)
    .venv/bin/python benchmarks/bench_engine.py --device cuda   # on a GPU machine
    .venv/bin/python benchmarks/bench_engine.py --oracle-share 0.1   # time the oracle on 10% of the settings

Prints both times, their ratio, peak memory, and whether the two produced identical counts (and, for a
categorical case, how far apart their normalised-KL sums are). The oracle
is the reference-style loop (one hooked forward pass per node, setting and batch of 256 pairs); with
``--oracle-share`` below 1 it runs an evenly spread subset of the settings and its full time is
extrapolated (and only that subset's counts are compared).
"""
from __future__ import annotations

import argparse
import resource
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--case", default="3", help="a built-in case id, or 'all' (every case with the model)")
    parser.add_argument("--model", default="siit", help="a model under cases/<case>/models/")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--inputs", type=int, default=100)
    parser.add_argument("--oracle-batch", type=int, default=256)
    parser.add_argument("--oracle-share", type=float, default=1.0, help="fraction of (mode, scale) settings the oracle runs")
    parser.add_argument("--repeat", type=int, default=3, help="engine runs; the best is reported")
    parser.add_argument("--threads", type=int, default=1, help="torch threads (the suite runs one per xdist worker)")
    args = parser.parse_args()
    if args.case == "all":
        return bench_all(args)
    return bench_case(args)[0]


def bench_all(args) -> int:
    """Every built-in case that has the model: one summary line each, then the lines again as a table."""
    from pytest_circuit_ablation.core.cases import available_case_ids, load_case

    lines, status = [], 0
    for case_id in available_case_ids():
        case = load_case(case_id)
        if args.model not in {r.name for r in case.builtin_models}:
            continue
        declared = case.spec["models"][args.model]
        if declared.get("status") == "not-trained":  # case.json says why; there are no weights to time
            lines.append(f"case {case_id:>3}: skipped, {args.model} is declared not-trained in case.json")
            print(lines[-1])
            continue
        args.case = case_id
        code, line = bench_case(args)
        status |= code
        lines.append(line)
    print("\nsummary (engine = the whole sweep on the threads above; oracle extrapolated where --oracle-share < 1):")
    print("\n".join(lines))
    return status


def bench_case(args) -> tuple[int, str]:
    import torch

    from pytest_circuit_ablation.core import data, engine, metrics, modes, oracle
    from pytest_circuit_ablation.core.cases import load_case
    from pytest_circuit_ablation.core.hubfiles import load_hl_model, load_ll_model
    from pytest_circuit_ablation.core.nodes import all_nodes
    from pytest_circuit_ablation.core.pca import fit_projection
    from pytest_circuit_ablation.core.sweep import DEFAULT_SCALES

    torch.set_grad_enabled(False)
    torch.set_num_threads(args.threads)
    case = load_case(args.case)
    hl = load_hl_model(case.dir, args.device)
    ll = load_ll_model(case.dir / "models" / args.model, args.device)
    tokens = data.encode_inputs(case, data.distinct_bodies(case, args.inputs, seed=0)).to(args.device)
    hl_out = metrics.hl_labels_output(hl(tokens), case.is_categorical)
    nodes = all_nodes(ll.cfg.n_layers, ll.cfg.n_heads)
    configs = [modes.Ablation(m, s) for m in modes.MODES for s in DEFAULT_SCALES]
    print(f"case {case.id} / {args.model}: {len(nodes)} nodes x {len(modes.MODES)} modes x {len(DEFAULT_SCALES)} scales "
          f"x {args.inputs ** 2} pairs, device {args.device}, torch threads {torch.get_num_threads()}")

    def sync() -> None:
        if args.device.startswith("cuda"):
            torch.cuda.synchronize()

    best, result = float("inf"), None
    for _ in range(args.repeat):
        sync()
        t0 = time.perf_counter()
        eng = engine.Engine(ll, hl_out, tokens, categorical=case.is_categorical, label_atol=case.label_atol,
                            device=args.device)
        t1 = time.perf_counter()
        projections = {n: fit_projection(eng.activation(n), 2, centre=False) for n in nodes}
        t2 = time.perf_counter()
        result = eng.run(nodes, configs, projections)
        sync()
        t3 = time.perf_counter()
        if t3 - t0 < best:
            best, parts = t3 - t0, (t1 - t0, t2 - t1, t3 - t2)
    peak_engine = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    gpu_peak = torch.cuda.max_memory_allocated() / 2**20 if args.device.startswith("cuda") else None
    print(f"engine: {best:.2f} s for the whole sweep (setup {parts[0]:.2f} s, PCA fit {parts[1]:.2f} s, "
          f"ablations {parts[2]:.2f} s; {eng.verified_cells} cells re-checked in float64)")

    step = max(1, round(1 / args.oracle_share)) if args.oracle_share < 1 else 1
    subset = configs[::step]
    t0 = time.perf_counter()
    kl: dict | None = {} if case.is_categorical else None
    expected = oracle.oracle_counts(ll, hl_out, tokens, nodes, subset, categorical=case.is_categorical,
                                    label_atol=case.label_atol, projections=projections, batch_size=args.oracle_batch,
                                    progress=True, kl_sums=kl)
    sync()
    oracle_time = (time.perf_counter() - t0) * len(configs) / len(subset)
    same = sum(result.counts[k] == v for k, v in expected.items())
    label = "" if step == 1 else f" (extrapolated from {len(subset)} of {len(configs)} settings)"
    print(f"oracle: {oracle_time:.1f} s{label}, batch {args.oracle_batch}")
    print(f"speed-up: {oracle_time / best:.0f}x")
    print(f"counts identical: {same} of {len(expected)} settings")
    if kl:
        worst = max(abs(result.kl_sums[k] - v) / max(1.0, abs(v)) for k, v in kl.items())
        print(f"normalised-KL sums: largest relative difference {worst:.1e} over {len(kl)} settings")
    print(f"peak RSS after the engine: {peak_engine:.0f} MiB; after both: "
          f"{resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MiB"
          + (f"; engine peak GPU memory {gpu_peak:.0f} MiB" if gpu_peak is not None else ""))
    line = (f"case {case.id:>3} ({tokens.shape[1]} positions, {'causal' if eng.w.causal else 'bidirectional'}, "
            f"{len(nodes)} nodes): engine {best:6.2f} s, oracle {oracle_time:7.1f} s, ratio {oracle_time / best:4.0f}x, "
            f"counts identical {same}/{len(expected)}")
    print(line)
    return (0 if same == len(expected) else 1), line


if __name__ == "__main__":
    sys.exit(main())
