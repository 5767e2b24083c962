"""Shared-prefix classes of causal pair rows (``core/prefixes.py``): the classes are exactly the distinct
(base prefix, source prefix) pairs, and a run over the classes gives every read cell the logits the
plain per-row run gives it (the oracle tests check the counts end to end)."""
import pytest
import torch

from pytest_circuit_ablation.core import data, engine
from pytest_circuit_ablation.core.cases import load_case
from pytest_circuit_ablation.core.hubfiles import load_hl_model, load_ll_model
from pytest_circuit_ablation.core.nodes import all_nodes
from pytest_circuit_ablation.core.prefixes import LiveRows, SharedPrefixes, by_last_read, prefix_ids


def test_classes_are_the_distinct_prefix_pairs_of_the_rows_still_read():
    """Brute force with Python tuples on 30 inputs of case 21 (vocabulary of 3) and 200 scattered rows:
    at each position the classes are the distinct prefix pairs of the rows with a read cell there or
    later; a row past its last read cell points at class 0."""
    case = load_case("21")
    tokens = data.encode_inputs(case, data.distinct_bodies(case, 30, seed=1))
    gen = torch.Generator().manual_seed(0)
    b, s = torch.randint(0, 30, (200,), generator=gen), torch.randint(0, 30, (200,), generator=gen)
    cells = torch.rand(tokens.shape[1], 200, generator=gen) < 0.15
    shared = SharedPrefixes.of(prefix_ids(tokens), b, s, cells)
    rows = [(tokens[i].tolist(), tokens[j].tolist()) for i, j in zip(b.tolist(), s.tolist())]
    last = [max([t for t in range(tokens.shape[1]) if cells[t, r]], default=0) for r in range(200)]
    assert any(x < tokens.shape[1] - 1 for x in last)  # some rows end early
    for t in range(tokens.shape[1]):
        prefix = lambda r: (tuple(rows[r][0][:t + 1]), tuple(rows[r][1][:t + 1]))  # noqa: E731
        live = [r for r in range(200) if last[r] >= t]
        classes = shared.row_class[t].tolist()
        in_block = [c for c in range(shared.size) if int(shared.position[c]) == t]
        assert len(in_block) == len({prefix(r) for r in live}), f"position {t}"
        for r in range(200):
            if r not in live:
                assert classes[r] == 0
                continue
            # same class <=> same prefix pair; the class's representative row has that prefix pair too
            rep = int(shared.rep_row[classes[r]])
            assert prefix(rep) == prefix(r) and int(shared.position[classes[r]]) == t
        read_classes = {classes[r] for r in range(200) if cells[t, r]}
        assert {c for c in shared.needed.nonzero().squeeze(1).tolist() if int(shared.position[c]) == t} == read_classes
    assert shared.size < tokens.shape[1] * 200  # early positions do share


def test_live_rows_are_the_leading_rows_once_sorted_by_last_read():
    """``LiveRows`` names, per position, the leading rows with a read cell there or later, and only
    exists once rows are sorted by ``by_last_read``."""
    gen = torch.Generator().manual_seed(3)
    cells = torch.rand(10, 50, generator=gen) < 0.1
    cells[0] = False
    assert LiveRows.of(cells) is None  # scattered rows: no leading block
    order = by_last_read(cells)
    sorted_cells = cells[:, order]
    live = LiveRows.of(sorted_cells)
    assert live is not None and live.R == 50
    for t in range(10):
        wanted = {r for r in range(50) if sorted_cells[t:, r].any()} | ({*range(50)} if t == 0 else set())
        assert set(range(live.counts[t])) == wanted, f"position {t}"
    assert LiveRows.of(torch.ones(10, 50, dtype=torch.bool)) is None  # nothing to cut


@pytest.mark.parametrize("case_id,node_name", [("21", "L0H0"), ("21", "L2MLP"), ("21", "L3H1"), ("3", "L1H0")])
def test_shared_run_gives_each_cell_its_rows_logits(case_id, node_name):
    """float64, three stacked scales: ``logits_shared`` against ``logits_at`` on the same pair rows,
    for runs resumed early (three layers on), at an MLP, in the last layer, and on a 2-layer model."""
    case = load_case(case_id)
    ll = load_ll_model(case.dir / "models" / "siit")
    hl = load_hl_model(case.dir)
    tokens = data.encode_inputs(case, data.distinct_bodies(case, 24, seed=5))
    with torch.no_grad():
        eng = engine.Engine(ll, hl(tokens), tokens, categorical=case.is_categorical, label_atol=case.label_atol, fast=False)
        node = next(n for n in all_nodes(ll.cfg.n_layers, ll.cfg.n_heads) if n.name == node_name)
        prec = eng.f64
        _, stage = prec.start(node)
        terms = engine._SourceTerms.of(prec, node, "resample", None)
        b, s = eng.pairs[:300, 0], eng.pairs[:300, 1]
        row_cells = torch.zeros(eng.P, len(b), dtype=torch.bool)
        row_cells[1:] = eng.changed[b, s].t()
        order = by_last_read(row_cells)  # as the engine does: the rows still read lead at each position
        b, s, row_cells = b[order], s[order], row_cells[:, order]
        assert LiveRows.of(row_cells) is not None
        lams = torch.tensor([0.5, 1.0, 2.0], dtype=torch.float64)
        cells = row_cells.unsqueeze(1).expand(eng.P, 3, len(b)).reshape(eng.P, -1)
        shared = SharedPrefixes.of(eng.prefix_ids, b, s, row_cells)
        for class_major in (False, True):
            plain = prec.w.logits_at(terms.rows(b, s).starts(lams), node.layer, stage, cells, class_major=class_major)
            cut = prec.w.logits_at(terms.rows(b, s).starts(lams), node.layer, stage, cells, class_major=class_major,
                                   live=LiveRows.of(row_cells))
            assert torch.allclose(cut, plain, rtol=1e-10, atol=1e-10), float((cut - plain).abs().max())
            ours = prec.w.logits_shared(engine._SharedStarts(terms, shared)(lams), node.layer, stage, shared, 3, class_major=class_major)
            assert ours.shape == plain.shape
            assert torch.allclose(ours, plain, rtol=1e-10, atol=1e-10), float((ours - plain).abs().max())
    assert shared.size < eng.P * len(b)

