"""Print the README's table of built-in cases from case.json, each model's meta.json and a report.

    python scripts/cases_table.py reports/

Each row: InterpBench's description (and a note where its description and program differ), the LL
shape, and per model its role, the trainer's held-out accuracy / IIA / strict accuracy, training
seconds, and the gate's verdict and margin at the first checkpoint of the report.
"""
from __future__ import annotations

import csv
import json
import sys
from pathlib import Path

from pytest_circuit_ablation.core.cases import available_case_ids, load_case
from pytest_circuit_ablation.suite.gate import verdict_text


def _rows(path: Path) -> list[dict[str, str]]:
    with path.open(newline="") as fh:
        return list(csv.DictReader(fh))


def main(report: Path) -> None:
    gates = {(r["task"], r["model"]): r for r in _rows(report / "separation.csv") if r["gate_role"] in ("gate", "control")}
    print("| case | InterpBench's task | max_seq_len, masking | LL shape | model (role) | acc / IIA / strict (%) | train s | gate at resample x 1.0 |")
    print("|---|---|---|---|---|---|---|---|")
    for case_id in available_case_ids():
        case = load_case(case_id)
        ib = case.spec["interpbench"]
        task = ib["description"] + (f" *Note: {ib['note']}.*" if ib.get("note") else "")
        ll = case.spec["ll_config"]
        shape = "/".join(str(ll[k]) for k in ("n_layers", "n_heads", "d_head", "d_model", "d_mlp"))
        if "departure" in ll:
            shape += " (departure: see case.json)"
        first = True
        for name, spec in sorted(case.spec.get("models", {}).items(), key=lambda kv: (kv[1].get("role") != "gated", kv[0])):
            role = spec.get("role", "gated")
            head = (f"| {case_id} | {task} | {case.max_seq_len}, {'causal' if case.causal else 'bidirectional'} | {shape} "
                    if first else "| | | | ")
            first = False
            if spec.get("status") == "not-trained":
                print(f"{head}| `{name}` ({role}) | not trained: {spec['why']} | | |")
                continue
            meta = json.loads((case.dir / "models" / name / "meta.json").read_text())["final_metrics"]
            train = f"{meta['accuracy']:.2f} / {meta['iia']:.2f} / {meta['strict_accuracy']:.2f}"
            gate = gates.get((case_id, name))
            judged = (f"{verdict_text(role, gate['verdict'])}, margin {float(gate['margin']):+.3f}"
                      + (f" (e.g. {gate['offenders'].split()[0]})" if role != "gated" and gate["offenders"] else "")) if gate else "not run"
            print(f"{head}| `{name}` ({role}) | {train} | {meta['seconds']:.0f} | {judged} |")
        if first:
            print(f"| {case_id} | {task} | {case.max_seq_len}, {'causal' if case.causal else 'bidirectional'} | {shape} | none | | | |")


if __name__ == "__main__":
    main(Path(sys.argv[1] if len(sys.argv) > 1 else "reports"))
