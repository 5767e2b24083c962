"""The engine's numbers do not depend on torch's thread count, bit for bit.

A serial run uses every core and each ``-n`` worker one thread, so this is what makes a serial report
byte-identical to a parallel one. The plugin-level tests (``tests/plugin/test_xdist.py``) cannot see
it when they themselves run under xdist (both inner runs then get one thread); this test sets the
thread count itself. Cases 11 and 34 are where MKL's narrow logit products rounded differently on
one and two threads; case 21 runs four layers on shared prefixes."""
import pytest
import torch

from pytest_circuit_ablation.core import data, engine, modes
from pytest_circuit_ablation.core.cases import load_case
from pytest_circuit_ablation.core.hubfiles import load_hl_model, load_ll_model
from pytest_circuit_ablation.core.nodes import all_nodes

CONFIGS = [modes.Ablation("resample", s) for s in (0.7, 1.0, 5.0)] + [modes.Ablation("mean", 1.0)]


@pytest.mark.parametrize("case_id", ["11", "34", "21"])
def test_counts_and_kl_sums_are_the_same_on_one_and_two_threads(case_id):
    case = load_case(case_id)
    ll = load_ll_model(case.dir / "models" / "siit")
    tokens = data.encode_inputs(case, data.distinct_bodies(case, 100, seed=0))
    with torch.no_grad():
        hl_out = load_hl_model(case.dir)(tokens)
    nodes = [n for n in all_nodes(ll.cfg.n_layers, ll.cfg.n_heads) if n.name in ("L0H0", "L1H1", "L2MLP")]
    threads = torch.get_num_threads()
    results = []
    try:
        for n in (1, 2):
            torch.set_num_threads(n)
            with torch.no_grad():
                eng = engine.Engine(ll, hl_out, tokens, categorical=True, label_atol=0.0)
                results.append(eng.run(nodes, CONFIGS))
    finally:
        torch.set_num_threads(threads)
    one, two = results
    assert one.counts == two.counts
    differ = {k: (v, two.kl_sums[k]) for k, v in one.kl_sums.items() if v != two.kl_sums[k]}
    assert not differ, f"{len(differ)} of {len(one.kl_sums)} KL sums differ, e.g. {list(differ.items())[:2]}"
