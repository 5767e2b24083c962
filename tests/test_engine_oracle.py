"""The batched engine's counts equal the plain oracle loop's, exactly: for every mode and scale on
every case-3 model, and on a bidirectional, a long causal and a four-layer categorical case (40 distinct inputs = 1,600 pairs here, to fit CI; the benchmark repeats the check
on the full 100 inputs = 10,000 pairs)."""
import pytest
import torch

from pytest_circuit_ablation.core import data, engine, metrics, modes, oracle
from pytest_circuit_ablation.core.cases import load_case
from pytest_circuit_ablation.core.hubfiles import load_hl_model, load_ll_model
from pytest_circuit_ablation.core.nodes import all_nodes
from pytest_circuit_ablation.core.pca import fit_projection
from pytest_circuit_ablation.core.sweep import DEFAULT_SCALES
from tests.helpers import MODEL_NAMES, case3, model_dir

N_INPUTS = 40
CONFIGS = [modes.Ablation(m, s) for m in modes.MODES for s in DEFAULT_SCALES]


@pytest.fixture(scope="module", params=MODEL_NAMES)
def setup(request):
    """One case-3 model on 40 inputs, with its PCA projections (cheap: the oracle runs in the test that
    needs it, so that tests spread over xdist workers never compute it twice)."""
    case = case3()
    hl = load_hl_model(case.dir)
    ll = load_ll_model(model_dir(request.param))
    tokens = data.encode_inputs(case, data.distinct_bodies(case, N_INPUTS, seed=7))
    with torch.no_grad():
        hl_out = hl(tokens)
        _, cache = ll.run_with_cache(tokens)
    nodes = all_nodes(2, 4)
    projections = {n: fit_projection(oracle.node_act(cache, n), 2, centre=(n.layer == 1)) for n in nodes}
    return ll, hl_out, tokens, nodes, projections, case


def test_engine_equals_oracle(setup):
    """Both precisions against one oracle run (float32 with float64 re-checks, and float64 throughout)."""
    ll, hl_out, tokens, nodes, projections, case = setup
    with torch.no_grad():
        expected = oracle.oracle_counts(ll, hl_out, tokens, nodes, CONFIGS, categorical=False,
                                        label_atol=case.label_atol, projections=projections, batch_size=800)
    assert len(expected) == len(nodes) * len(modes.MODES) * len(DEFAULT_SCALES)
    for fast, name in ((True, "float32-verified"), (False, "float64")):
        with torch.no_grad():
            eng = engine.Engine(ll, hl_out, tokens, categorical=False, label_atol=case.label_atol, fast=fast, memory_budget_mb=32)
            got = eng.run(nodes, CONFIGS, projections).counts
        assert eng.shared_batches, "case 3 is causal: its pair rows must have run on shared prefixes"
        mismatched = {k: (got[k], v) for k, v in expected.items() if got[k] != v}
        assert not mismatched, f"{name}: {len(mismatched)} of {len(expected)} differ, e.g. {list(mismatched.items())[:3]}"


def test_counts_do_not_depend_on_batching(setup):
    ll, hl_out, tokens, nodes, projections, case = setup
    runs = []
    for budget in (16, 300):
        with torch.no_grad():
            eng = engine.Engine(ll, hl_out, tokens, categorical=False, label_atol=case.label_atol, memory_budget_mb=budget)
            runs.append(eng.run(nodes, CONFIGS, projections).counts)
    assert runs[0] == runs[1]


CAT_CONFIGS = [modes.Ablation(m, s) for m in modes.MODES for s in (0.0, 1.0, 2.0)]


@pytest.mark.parametrize("case_id", ["18", "34", "21"], ids=["case18-bidirectional", "case34-causal-10", "case21-4-layers"])
def test_categorical_counts_and_kl_equal_oracle(case_id):
    """Categorical cases, counts and the normalised KL, oracle against engine in both precisions: case 18
    (bidirectional), case 34 (causal, 10 positions, narrow heads) and case 21 (four layers, causal heads
    of 12 components, which take ``attend``'s folded path)."""
    case = load_case(case_id)
    hl = load_hl_model(case.dir)
    ll = load_ll_model(case.dir / "models" / "siit")
    tokens = data.encode_inputs(case, data.distinct_bodies(case, 24, seed=3))
    with torch.no_grad():
        hl_out = hl(tokens)
        _, cache = ll.run_with_cache(tokens)
    nodes = all_nodes(ll.cfg.n_layers, ll.cfg.n_heads)
    if ll.cfg.n_layers > 2:  # the oracle loop is slow at four layers: runs resumed early (through three
        # layers), late, and at the head that carries the output (so the effects span the range)
        nodes = [n for n in nodes if n.name in ("L0H0", "L0MLP", "L2H3", "L3H0")]
    projections = {n: fit_projection(oracle.node_act(cache, n), 2, centre=False) for n in nodes}
    kl = {}
    with torch.no_grad():
        counts = oracle.oracle_counts(ll, hl_out, tokens, nodes, CAT_CONFIGS, categorical=True, label_atol=case.label_atol,
                                      projections=projections, batch_size=576, kl_sums=kl)
    for fast, rtol in ((True, 1e-4), (False, 1e-9)):
        with torch.no_grad():
            eng = engine.Engine(ll, hl_out, tokens, categorical=True, label_atol=0.0, fast=fast, memory_budget_mb=32)
            got = eng.run(nodes, CAT_CONFIGS, projections)
        assert bool(eng.shared_batches) == case.causal, "causal pair rows run on shared prefixes"
        assert got.counts == counts, f"fast={fast}"
        off = {k: (got.kl_sums[k], v) for k, v in kl.items() if abs(got.kl_sums[k] - v) > rtol * max(1.0, abs(v))}
        assert not off, f"fast={fast}: {len(off)} of {len(kl)} KL sums differ, e.g. {list(off.items())[:3]}"
    # resample x 1.0 reproduces the source's own output on every in-circuit path, so KL spans the range
    values = [metrics.kl_effect(v, counts[k][1]) for k, v in kl.items() if k[1] == "resample" and k[2] == 1.0]
    assert max(values) > 0.5 and min(values) < 0.1


def test_regression_has_no_kl(setup):
    ll, hl_out, tokens, nodes, projections, case = setup
    with torch.no_grad():
        eng = engine.Engine(ll, hl_out, tokens, categorical=False, label_atol=case.label_atol)
        assert eng.run(nodes[:1], CONFIGS[:2], projections).kl_sums is None


def test_a_model_the_engine_does_not_compute_is_refused_at_start(setup):
    """An output soft cap (a config field the engine does not implement) changes TransformerLens's forward;
    the engine's start-up self-check refuses the model in one line instead of counting wrongly."""
    import copy

    from pytest_circuit_ablation.errors import AblationError

    ll, hl_out, tokens, *_ = setup
    capped = copy.deepcopy(ll)
    capped.cfg.output_logits_soft_cap = 0.5
    with torch.no_grad():
        engine.Engine(ll, hl_out, tokens, categorical=False, label_atol=0.0)  # the real model passes
        with pytest.raises(AblationError, match="differs from TransformerLens"):
            engine.Engine(capped, hl_out, tokens, categorical=False, label_atol=0.0)


def test_a_wrong_resume_point_is_refused_per_node(monkeypatch):
    """The per-node start-up check: an engine that resumed an MLP node's runs before its own MLP (so the
    MLP would see its own ablation) is refused for that node, in one line, before any count."""
    from pytest_circuit_ablation.errors import AblationError

    case = case3()
    ll = load_ll_model(model_dir("siit"))
    tokens = data.encode_inputs(case, data.distinct_bodies(case, 20, seed=4))
    nodes, projections = all_nodes(2, 4), None
    with torch.no_grad():
        hl_out = load_hl_model(case.dir)(tokens)
    real = engine._Precision.start

    def before_the_mlp(self, node):
        if node.is_mlp:
            return self._cache[f"blocks.{node.layer}.hook_resid_mid"], "mlp"
        return real(self, node)

    with torch.no_grad():
        engine.Engine(ll, hl_out, tokens, categorical=False, label_atol=case.label_atol).run(nodes, CONFIGS[:1], projections)
        monkeypatch.setattr(engine._Precision, "start", before_the_mlp)
        eng = engine.Engine(ll, hl_out, tokens, categorical=False, label_atol=case.label_atol)
        with pytest.raises(AblationError, match="run from L0MLP differs from TransformerLens's with a hook"):
            eng.run(nodes, CONFIGS[:1], projections)


def test_iit_mean_and_zero_effects_equal_a_plain_hooked_run():
    """iit's mean/zero effect (P(LL wrong after | LL right before) over every base cell, positions 1..)
    from the engine equals a plain TransformerLens run with a hook that writes the mean (or 0)."""
    from pytest_circuit_ablation.core.nodes import parse_node

    case = case3()
    ll = load_ll_model(model_dir("siit"))
    tokens = data.encode_inputs(case, data.distinct_bodies(case, N_INPUTS, seed=5))
    nodes = [parse_node("blocks.0.mlp.hook_post"), parse_node("blocks.1.attn.hook_result[2]")]
    with torch.no_grad():
        ll.unembed.b_U += 0.045  # some clean cells now fall outside iit's atol: "right before" is not every cell
        hl_out = load_hl_model(case.dir)(tokens)
        clean, cache = ll.run_with_cache(tokens)
        result = engine.Engine(ll, hl_out, tokens, categorical=False, label_atol=case.label_atol).run(
            nodes, [modes.Ablation("mean", 1.0), modes.Ablation("zero", 0.0), modes.Ablation("mean", 0.5)])
        right = ~metrics.disagrees(clean[:, 1:], hl_out[:, 1:], False)
        assert 0 < int(right.sum()) < right.numel()
        for node in nodes:
            act = oracle.node_act(cache, node)
            for mode, scale in (("mean", 1.0), ("zero", 0.0), ("mean", 0.5)):
                value = scale * act.mean(dim=0) if mode == "mean" else torch.zeros_like(act[0])

                def hook(x, hook, value=value):
                    if node.is_mlp:
                        x[:] = value
                    else:
                        x[:, :, node.head] = value
                    return x

                out = ll.run_with_hooks(tokens, fwd_hooks=[(node.hook, hook)])
                wrong = metrics.disagrees(out[:, 1:], hl_out[:, 1:], False)
                assert result.iit_flipped[(node, mode, scale)] == int((wrong & right).sum()), (node, mode, scale)
    assert any(v > 0 for v in result.iit_flipped.values())


def _variant_folder(tmp_path, **changes):
    """Case 3's SIIT config with ``changes``, random weights (seed 0) saved in InterpBench's layout."""
    import pickle

    from transformer_lens import HookedTransformer, HookedTransformerConfig

    from pytest_circuit_ablation.core.hubfiles import save_ll_model

    cfg = pickle.loads((model_dir("siit") / "ll_model_cfg.pkl").read_bytes())
    cfg.update(changes)
    torch.manual_seed(0)
    model = HookedTransformer(HookedTransformerConfig(**{k: v for k, v in cfg.items() if k in HookedTransformerConfig.__dataclass_fields__
                                                         and k not in ("n_params", "device")}))
    save_ll_model(model, tmp_path / "m")
    return tmp_path / "m"


def test_attention_only_model_equals_oracle(tmp_path):
    """An attn_only model (no MLPs: its heads write straight into resid_post) loads, passes the engine's
    self-check, and its counts equal the oracle's."""
    case = case3()
    ll = load_ll_model(_variant_folder(tmp_path, attn_only=True, d_mlp=None))
    assert ll.cfg.attn_only
    tokens = data.encode_inputs(case, data.distinct_bodies(case, 24, seed=1))
    nodes = all_nodes(2, 4, attn_only=True)
    assert not any(n.is_mlp for n in nodes)
    configs = [modes.Ablation(m, s) for m in ("resample", "mean", "zero") for s in (0.0, 0.5, 1.0, 5.0)]
    with torch.no_grad():
        hl_out = load_hl_model(case.dir)(tokens)
        ll.unembed.b_U.copy_(hl_out[:, 1:].mean())  # centre the random model's output near the HL's, so cells flip both ways
        expected = oracle.oracle_counts(ll, hl_out, tokens, nodes, configs, categorical=False, label_atol=case.label_atol,
                                        projections={}, batch_size=576)
        got = engine.Engine(ll, hl_out, tokens, categorical=False, label_atol=case.label_atol).run(nodes, configs).counts
    assert got == expected
    assert 0 < sum(f for f, _ in got.values()) < sum(c for _, c in got.values())


def test_model_without_hook_result_gives_the_same_counts(tmp_path):
    """use_attn_result=False (TransformerLens computes no per-head hook_result): the loader turns it on,
    which changes no output, so the counts are those of the same weights with it on."""
    import pickle
    import shutil

    folder = tmp_path / "no-result"
    shutil.copytree(model_dir("siit"), folder)
    cfg = pickle.loads((folder / "ll_model_cfg.pkl").read_bytes())
    cfg["use_attn_result"] = False
    (folder / "ll_model_cfg.pkl").write_bytes(pickle.dumps(cfg))
    case = case3()
    tokens = data.encode_inputs(case, data.distinct_bodies(case, 24, seed=2))
    configs = [modes.Ablation("resample", 1.0), modes.Ablation("zero", 0.0)]
    with torch.no_grad():
        hl_out = load_hl_model(case.dir)(tokens)
        counts = [engine.Engine(load_ll_model(f), hl_out, tokens, categorical=False, label_atol=case.label_atol).run(
            all_nodes(2, 4), configs).counts for f in (folder, model_dir("siit"))]
    assert counts[0] == counts[1]


def test_exact_zeros_are_pruned_and_counts_still_equal_the_oracle():
    """A tracr-compiled HL model is mostly exact zeros, and the engine leaves out what they make dead
    (``_live_components``, ``_live_units``). Case 3's model with zeros put in: a value component of every
    layer-0 head, a query component of every layer-1 head, all of layer 1's W_O (its attention adds only
    its bias), five layer-0 units that write nothing and four layer-1 units that read nothing. The
    engine must prune each of them and still count what the oracle counts."""
    case = case3()
    ll = load_ll_model(model_dir("siit"))
    with torch.no_grad():
        a0, a1 = ll.blocks[0].attn, ll.blocks[1].attn
        a0.W_V[:, :, 0] = 0
        a0.b_V[:, 0] = 0
        a1.W_Q[:, :, 1] = 0
        a1.b_Q[:, 1] = 0
        a1.W_O.zero_()
        ll.blocks[0].mlp.W_out[:5] = 0
        ll.blocks[1].mlp.W_in[:, :4] = 0
        ll.blocks[1].mlp.b_in[:4] = 0
    tokens = data.encode_inputs(case, data.distinct_bodies(case, 20, seed=11))
    nodes = all_nodes(2, 4)
    configs = [modes.Ablation(m, s) for m in modes.MODES for s in (0.0, 0.5, 1.0, 2.0)]
    with torch.no_grad():
        hl_out = load_hl_model(case.dir)(tokens)
        _, cache = ll.run_with_cache(tokens)
        projections = {n: fit_projection(oracle.node_act(cache, n), 2, centre=False) for n in nodes}
        expected = oracle.oracle_counts(ll, hl_out, tokens, nodes, configs, categorical=False,
                                        label_atol=case.label_atol, projections=projections)
        for fast in (True, False):
            eng = engine.Engine(ll, hl_out, tokens, categorical=False, label_atol=case.label_atol, fast=fast)
            d_head, d_mlp = ll.cfg.d_head, ll.cfg.d_mlp
            pruned = [(layer["d_qk"], layer["d_ov"], layer["W_in"].shape[1]) for layer in eng.w.layers]
            assert pruned == [(d_head, d_head - 1, d_mlp - 5), (d_head - 1, 0, d_mlp - 4)]
            got = eng.run(nodes, configs, projections).counts
            assert got == expected, f"fast={fast}: {sum(got[k] != v for k, v in expected.items())} settings differ"


def test_micro_batches_redone_whole_in_float64_give_the_same_counts(setup, monkeypatch):
    """Regression outputs: with every micro-batch that holds an unsure cell recomputed whole in float64
    (``FULL_REDO_SHARE`` 0) instead of row by row, the counts are the default path's, which equal the
    oracle's (``test_engine_equals_oracle``)."""
    ll, hl_out, tokens, nodes, projections, case = setup
    runs = []
    for share in (engine.Engine.FULL_REDO_SHARE, 0.0):
        monkeypatch.setattr(engine.Engine, "FULL_REDO_SHARE", share)
        with torch.no_grad():
            eng = engine.Engine(ll, hl_out, tokens, categorical=False, label_atol=case.label_atol, memory_budget_mb=32)
            runs.append(eng.run(nodes, CONFIGS, projections).counts)
    assert eng.redone_batches > 0
    assert runs[0] == runs[1]


@pytest.mark.parametrize(("case_id", "n_inputs"), [("3", 30), ("8", 30)], ids=["case3-regression", "case8-categorical"])
def test_float32_errors_inside_the_band_never_change_a_count(case_id, n_inputs, monkeypatch):
    """The float64 re-checks carry the counts, not float32's accuracy: with every float32 output moved by
    up to 4e-4 (inside the verification band, ``VERIFY_ABS`` 1e-3; categorical logits by just under
    half the band, against their top class), the counts of base-only and
    source-dependent settings alike still equal the oracle's. (The inputs are enough for both kinds of
    setting to have cells that the jitter flips without the re-checks.)"""
    case = load_case(case_id)
    ll = load_ll_model(case.dir / "models" / "siit")
    tokens = data.encode_inputs(case, data.distinct_bodies(case, n_inputs, seed=11))
    nodes = all_nodes(ll.cfg.n_layers, ll.cfg.n_heads)
    configs = [modes.Ablation(m, s) for m in modes.MODES for s in (0.0, 0.5, 1.0, 2.0)]
    noise = torch.Generator().manual_seed(5)

    def jittered(method):
        def run(self, *args, class_major=False, **kwargs):
            out = method(self, *args, class_major=class_major, **kwargs)
            if out.dtype != torch.float32:
                return out
            if not case.is_categorical:
                return out + (torch.rand(out.shape, generator=noise) * 8e-4 - 4e-4)
            # the top class lowered and the others raised, by just under half the band each
            # (1e-3 * (1 + |top|)): every top-two gap that close flips
            axis = 0 if class_major else -1
            first = out.amax(dim=axis, keepdim=True)
            shift = 4.9e-4 * (1 + first.abs())
            return out + torch.where(out == first, -shift, shift)
        return run

    with torch.no_grad():
        hl_out = load_hl_model(case.dir)(tokens)
        _, cache = ll.run_with_cache(tokens)
        projections = {n: fit_projection(oracle.node_act(cache, n), 2, centre=False) for n in nodes}
        expected = oracle.oracle_counts(ll, hl_out, tokens, nodes, configs, categorical=case.is_categorical,
                                        label_atol=case.label_atol, projections=projections, batch_size=900)
        for name in ("logits_at", "logits_shared"):
            monkeypatch.setattr(engine._Weights, name, jittered(getattr(engine._Weights, name)))
        base_checked = []  # cells the base-only re-checks saw, apart from the pairs'
        verify_bases = engine.Engine._verify_bases

        def counted(self, node, stage, settings, proj, unsure, wrong):
            base_checked.append(int(unsure.sum()))
            return verify_bases(self, node, stage, settings, proj, unsure, wrong)

        monkeypatch.setattr(engine.Engine, "_verify_bases", counted)
        eng = engine.Engine(ll, hl_out, tokens, categorical=case.is_categorical, label_atol=case.label_atol)
        got = eng.run(nodes, configs, projections).counts
    assert sum(base_checked) > 0 and eng.verified_cells > sum(base_checked)  # both kinds of re-check ran
    off = [k for k, v in expected.items() if got[k] != v]
    assert not off, f"{len(off)} settings differ, e.g. {off[:3]}"


def test_class_major_nll_keeps_every_gap_that_counts():
    """The engine's per-cell KL term equals ``metrics.label_nll`` on logits whose gaps to the top class run
    from 0 to -1e6: clamping the gaps (``engine.EXP_FLOOR``, against exp's slow path on underflow) drops
    only terms that vanish next to the top class's 1, never one such as exp(-30) that does not."""
    gaps = torch.tensor([0.0, -1e-3, -5.0, -30.0, -36.0, -700.5, -800.0, -1e6], dtype=torch.float64)
    rows = torch.stack([torch.roll(gaps, i) + 3.0 * i for i in range(len(gaps))])  # [K, V], top class at i
    labels = torch.tensor([(2 * i + 1) % len(gaps) for i in range(len(gaps))])
    confident = torch.tensor([[0.0, -30.0] + [-1e6] * (len(gaps) - 2)], dtype=torch.float64)  # label 0: nll ~ exp(-30)
    rows, labels = torch.cat([rows, confident]), torch.cat([labels, torch.tensor([0])])
    class_major = rows.t().unsqueeze(1)  # [V, 1, K]
    got = engine._label_nll(class_major, class_major.max(0).values, labels).squeeze(0)
    expected = metrics.label_nll(rows, labels)
    assert torch.allclose(got, expected, rtol=1e-12, atol=0.0), (got - expected).abs().max()
    assert 9e-14 < float(got[-1]) < 1e-13


def test_unsure_cells_of_one_class_and_of_close_top_two():
    """The base-only re-check's band: a one-class output has nothing to decide (only a non-finite one is
    unsure), and with classes the top two within 1e-3 * (1 + |top|) are unsure, further apart not."""
    from types import SimpleNamespace

    judge = SimpleNamespace(categorical=True, VERIFY_ABS=engine.Engine.VERIFY_ABS, VERIFY_REL=engine.Engine.VERIFY_REL)
    judge._too_close = lambda first, second: engine.Engine._too_close(judge, first, second)
    one = torch.tensor([[[2.0]], [[float("nan")]]], dtype=torch.float64)
    assert engine.Engine._unsure_rows(judge, one, None).tolist() == [[False], [True]]
    two = torch.tensor([[10.0, 9.9895], [10.0, 9.9885], [-3.0, -3.0]], dtype=torch.float64)
    assert engine.Engine._unsure_rows(judge, two, None).tolist() == [True, False, True]
