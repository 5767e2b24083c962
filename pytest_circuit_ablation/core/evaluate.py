"""One model, end to end: model pair -> inputs and pairs -> PCA directions -> engine -> counts.

This is the only place that imports torch on behalf of the plugin; fixtures call it lazily, once per
model per worker.
"""
from __future__ import annotations

import hashlib
import time
from dataclasses import dataclass, field
from pathlib import Path

from . import data, diagnosis, metrics, modes
from .cases import Case, ModelRef, check_case_matches_hl, check_model_fits_case, load_case, model_circuit, model_nodes
from ..errors import AblationError, SettingError
from .engine import MIN_MEMORY_MB, Engine, ModelResult, estimate_bytes
from .metrics import effect, kl_effect
from .modes import Ablation, Projection
from .hubfiles import load_hl_model, load_ll_model, model_hash
from .nodes import Node
from .pca import get_projection
from .sweep import Sweep, check_device


@dataclass
class ModelPair:
    """An HL model, an LL model and the case that relates them."""

    case: Case
    ref: ModelRef
    hl: object
    ll: object


@dataclass
class Inputs:
    """The distinct inputs of a run; every ordered pair of them is evaluated (``pairs``)."""

    bodies: list[tuple[str, ...]]
    tokens: object  # LongTensor [N, seq]
    hl_outputs: object  # [N, seq, d_vocab_out]

    @property
    def pairs(self):
        """(base, source) index pairs [N*N, 2], base-major."""
        return data.all_pairs(len(self.bodies))

    @property
    def digest(self) -> str:
        return hashlib.sha256(self.tokens.cpu().numpy().tobytes()).hexdigest()[:16]


@dataclass
class Evaluation:
    """Everything the pytest items look up for one model."""

    pair: ModelPair
    inputs: Inputs
    nodes: list[Node]
    circuit: set[Node]
    result: ModelResult
    identity_flipped: int  # flipped cells of the unablated model: what an exact no-op must give
    model_hash: str
    inputs_digest: str
    seconds: float
    projections: dict[Node, Projection] = field(default_factory=dict, repr=False)
    #: (LL node, mode, scale) -> what interchanging its HL node(s) does inside the HL model itself, on the
    #: same pairs and cells: the effect a perfect LL model has. In-circuit nodes, resample settings only.
    hl_effects: dict[tuple[Node, str, float], float] = field(default_factory=dict, repr=False)
    #: per node: activation spread across inputs, PCA explained variance, PCA degeneracy (core/diagnosis.py)
    node_stats: dict[Node, diagnosis.NodeStats] = field(default_factory=dict, repr=False)

    def hl_effect(self, node: Node, mode: str, scale: float) -> float | None:
        return self.hl_effects.get((node, mode, scale))

    def effect_table(self) -> list[dict]:
        """One dict per (node, mode, scale): counts and effect, in node, mode, scale order."""
        order = {n: i for i, n in enumerate(self.nodes)}
        keys = sorted(self.result.counts, key=lambda k: (order[k[0]], modes.MODES.index(k[1]), k[2]))
        return [{"node": node.name, "in_circuit": node in self.circuit, "mode": mode, "scale": scale,
                 "cells_flipped": self.result.counts[(node, mode, scale)][0],
                 "cells_counted": self.result.counts[(node, mode, scale)][1],
                 "effect": effect(*self.result.counts[(node, mode, scale)]),
                 "kl_effect": self.kl_effect(node, mode, scale)} for node, mode, scale in keys]

    def node_effects(self, node: Node) -> dict[tuple[str, float], float]:
        """(mode, scale) -> effect of one node, in sweep order."""
        return {(mode, scale): effect(*counts) for (n, mode, scale), counts in self.result.counts.items() if n == node}

    def effects(self, mode: str, scale: float) -> dict[str, float]:
        """node name -> effect at one setting, in node order."""
        if not any(k[1:] == (mode, scale) for k in self.result.counts):
            ran = sorted({k[1:] for k in self.result.counts}, key=lambda k: (modes.MODES.index(k[0]), k[1]))
            raise AblationError(f"{mode} x {scale} is not in this evaluation's sweep "
                                f"(it ran {', '.join(f'{m} x {s}' for m, s in ran[:6])}{', ...' if len(ran) > 6 else ''})")
        return {node.name: effect(*self.result.counts[(node, mode, scale)]) for node in self.nodes}

    def iit_effect(self, node: Node, mode: str, scale: float) -> float | None:
        """iit's definition of a mean/zero ablation effect (its ``ablate_nodes``), pooled over every base
        cell (positions 1..): P(LL wrong after | LL right before). Settings that depend on the base alone
        (mean, zero, pca-self-*, resample x 0); None for the others."""
        res = self.result
        flipped = (res.iit_flipped or {}).get((node, mode, scale))
        right = res.clean_cells - res.clean_wrong
        return None if flipped is None else (flipped / right if right else float("nan"))

    def kl_effect(self, node: Node, mode: str, scale: float) -> float | None:
        """The normalised-KL effect of a setting (``metrics.kl_effect``); None for regression tasks."""
        sums = self.result.kl_sums
        return None if sums is None else kl_effect(sums[(node, mode, scale)], self.result.counts[(node, mode, scale)][1])


def load_pair(ref: ModelRef, device: str, dtype: str = "float64") -> ModelPair:
    case = load_case(ref.case_id)
    hl = load_hl_model(case.dir, device, dtype)
    check_case_matches_hl(case, hl)  # first: a case.json that is wrong is not the model's fault
    check_model_fits_case(ref, case)
    ll = load_ll_model(ref.path, device, dtype)
    return ModelPair(case, ref, hl, ll)


def make_inputs(case: Case, hl, count: int, seed: int, device: str) -> Inputs:
    import torch

    bodies = data.distinct_bodies(case, count, seed)
    tokens = data.encode_inputs(case, bodies, device)
    with torch.no_grad():
        hl_out = metrics.hl_labels_output(hl(tokens), case.is_categorical)
    return Inputs(bodies, tokens, hl_out)


def projections_for(engine: Engine, nodes: list[Node], sweep: Sweep, model_id: str, inputs: Inputs,
                    cache_dir: Path | None) -> dict[Node, Projection]:
    return {
        node: get_projection(engine.activation(node), node, sweep.pca_components, sweep.pca_centre,
                             cache_dir=cache_dir, model_hash=model_id, inputs_hash=inputs.digest)
        for node in nodes
    }


def available_bytes(device: str = "cpu") -> int:
    """Memory available now where the sweep runs: a CUDA device's free memory, else the physical memory
    (Linux), or a large number where it cannot be read."""
    import os

    if device.startswith("cuda"):
        import torch

        dev = torch.device(device)  # free on the device, plus what torch holds cached there for reuse
        return int(torch.cuda.mem_get_info(dev)[0] + torch.cuda.memory_reserved(dev) - torch.cuda.memory_allocated(dev))
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        return 1 << 62


def check_memory(sweep: Sweep, pair: ModelPair) -> None:
    """Refuse up front a sweep that cannot fit, saying how much it would need."""
    need = estimate_bytes(sweep.inputs, pair.case.max_seq_len, pair.ll.cfg.d_model, sweep.memory_mb)
    have = available_bytes(sweep.device)
    if need > have:
        budget = sweep.memory_mb * 2**20
        # name the option to change: the micro-batch budget where it is the larger part and its smallest value
        # (MIN_MEMORY_MB) would fit; else the inputs, whose pair grid no budget can make room for
        fits_smaller = need - budget + MIN_MEMORY_MB * 2**20 <= have
        option, value = ("memory_mb", sweep.memory_mb) if budget >= need - budget and fits_smaller else ("inputs", sweep.inputs)
        raise SettingError(option, value, f"the sweep of {pair.ref.key} needs about {need / 2**30:.1f} GiB "
                           f"({(need - budget) / 2**30:.1f} GiB for {sweep.inputs} inputs' pairs, "
                           f"{budget / 2**30:.1f} GiB micro-batch budget), only {have / 2**30:.1f} GiB is available"
                           f"{' on ' + sweep.device if sweep.device != 'cpu' else ''}")


def evaluate_model(ref: ModelRef, nodes: list[Node], circuit: set[Node], sweep: Sweep,
                   cache_dir: Path | None = None) -> Evaluation:
    """Load, run every ablation of the sweep on every node, and return the counts. ``cache_dir`` keeps
    fitted PCA directions between runs (None: fit them every time)."""
    import torch
    import transformer_lens  # noqa: F401  (imported before the clock: ~3.4 s that the first model of each worker was charged)

    if sweep.uses_pca:
        import sklearn.decomposition  # noqa: F401  (likewise, ~0.5 s)

    check_device(sweep.device)
    start = time.perf_counter()
    with torch.no_grad():
        pair = load_pair(ref, sweep.device)
        check_memory(sweep, pair)
        inputs = make_inputs(pair.case, pair.hl, sweep.inputs, sweep.seed, sweep.device)
        engine = Engine(pair.ll, inputs.hl_outputs, inputs.tokens, categorical=pair.case.is_categorical,
                        label_atol=pair.case.label_atol, device=sweep.device, memory_budget_mb=sweep.memory_mb)
        ablations = sweep.ablations()
        digest = model_hash(ref.path)
        projections = {}
        if sweep.uses_pca:
            projections = projections_for(engine, nodes, sweep, digest, inputs, cache_dir)
        result = engine.run(nodes, ablations, projections)
        identity = int((engine.clean_wrong * engine.counted_per_base).sum())
        hl_effects = hl_reference_effects(pair, inputs, circuit, ablations, sweep) if ref.uses_case_circuit else {}
        stats = {node: diagnosis.node_stats(engine.activation(node), projections.get(node), sweep.pca_components)
                 for node in nodes}
    return Evaluation(pair, inputs, nodes, circuit, result, identity, digest, inputs.digest,
                      time.perf_counter() - start, projections, hl_effects, stats)


def evaluate_case(case_id: str, model: str, sweep: Sweep = Sweep(), cache_dir: Path | None = None) -> Evaluation:
    """One built-in model (``cases/<case_id>/models/<model>/``) against its case's circuit: the shortest
    way in from a notebook."""
    case = load_case(case_id)
    refs = {r.name: r for r in case.builtin_models}
    if model not in refs:
        raise AblationError(f"case {case_id} has no model {model!r} (it has: {', '.join(refs) or 'none'})")
    nodes = sorted(model_nodes(refs[model]), key=Node.sort_key)
    return evaluate_model(refs[model], nodes, model_circuit(refs[model], case, nodes), sweep, cache_dir)


def hl_reference_effects(pair: ModelPair, inputs: Inputs, circuit: set[Node], ablations: list[Ablation],
                         sweep: Sweep) -> dict[tuple[Node, str, float], float]:
    """For every in-circuit LL node, the effect of interchanging its HL node(s) in the HL model at each
    resample configuration: the same engine, run with the HL model as the model under test. An LL node
    that several HL nodes map to takes the largest of their effects."""
    from .nodes import parse_node

    wanted = [a for a in ablations if a.mode == "resample"]
    mapping: dict[Node, set[Node]] = {}
    for hl_hook, ll_nodes in pair.case.correspondence().values():
        for ll_node in ll_nodes:
            if ll_node in circuit:
                mapping.setdefault(ll_node, set()).add(parse_node(hl_hook))
    hl_nodes = sorted({n for ns in mapping.values() for n in ns}, key=Node.sort_key)
    if not wanted or not hl_nodes:
        return {}
    engine = Engine(pair.hl, inputs.hl_outputs, inputs.tokens, categorical=pair.case.is_categorical,
                    label_atol=pair.case.label_atol, device=sweep.device, memory_budget_mb=sweep.memory_mb,
                    is_hl=True)
    counts = engine.run(hl_nodes, wanted).counts
    return {(ll_node, c.mode, c.scale): max(effect(*counts[(h, c.mode, c.scale)]) for h in hls)
            for ll_node, hls in mapping.items() for c in wanted}
