"""A deliberately plain ablation loop, written from iit's causal-effect loop: the equivalence
oracle for the engine's tests and the baseline of the benchmark.

For each batch of pairs: run the sources with a cache; then for each node and setting, run the bases
with one TransformerLens hook that replaces the node's activation by the patched one, and compare the
output with the HL output on the base. Cells are pooled exactly as in ``metrics`` (the reference's
per-batch averaging is replaced by pooled counts).
"""
from __future__ import annotations

from . import metrics, modes
from .modes import Ablation
from .modes import Projection
from .nodes import Node


def make_hook(node: Node, cfg: Ablation, source_act, mean, proj: Projection | None):
    """A TransformerLens hook patching ``node`` by ``cfg`` given the source's activation."""

    def hook(act, hook):  # noqa: ARG001 - TransformerLens passes the HookPoint
        out = act.clone()
        if node.is_mlp:
            out[:] = modes.patched(cfg.mode, cfg.scale, act, source_act, mean, proj)
        else:
            s = None if source_act is None else source_act[:, :, node.head]
            out[:, :, node.head] = modes.patched(cfg.mode, cfg.scale, act[:, :, node.head], s, mean, proj)
        return out

    return hook


def node_act(cache, node: Node):
    act = cache[node.hook]
    return act if node.is_mlp else act[:, :, node.head]


def oracle_counts(model, hl_outputs, tokens, nodes: list[Node], configs: list[Ablation], *, categorical: bool,
                  label_atol: float, projections: dict[Node, Projection] | None = None, batch_size: int = 256,
                  progress: bool = False, kl_sums: dict | None = None):
    """{(node, mode, scale): (flipped, counted)} by brute force over every ordered pair. For a categorical
    task, a dict passed as ``kl_sums`` receives each setting's summed normalised KL (``metrics.kl_effect``)."""
    import torch

    projections = projections or {}
    n = tokens.shape[0]
    dtype = next(model.parameters()).dtype
    hl = hl_outputs.to(dtype)
    with torch.no_grad():
        clean_logits, full_cache = model.run_with_cache(tokens)
        means = {node: node_act(full_cache, node).mean(dim=0) for node in nodes}
        base_idx = torch.arange(n).repeat_interleave(n)
        src_idx = torch.arange(n).repeat(n)
        counts = {(node, c.mode, c.scale): [0, 0] for node in nodes for c in configs}
        batches = range(0, n * n, batch_size)
        if progress:
            from tqdm import tqdm

            batches = tqdm(batches, desc="oracle", unit="batch")
        for start in batches:
            b, s = base_idx[start:start + batch_size], src_idx[start:start + batch_size]
            base_x, src_x = tokens[b], tokens[s]
            _, src_cache = model.run_with_cache(src_x)
            changed = metrics.labels_changed(hl[b][:, 1:], hl[s][:, 1:], categorical, label_atol)
            n_changed = int(changed.sum())
            if kl_sums is not None and categorical:
                labels = hl[b][:, 1:].argmax(-1)
                kl_clean = metrics.label_nll(clean_logits[b][:, 1:], labels)
                kl_corrupt = metrics.label_nll(clean_logits[s][:, 1:], labels)
                denom = kl_corrupt - kl_clean + metrics.KL_EPS
            for node in nodes:
                proj = projections.get(node)
                src = src_cache[node.hook]
                for cfg in configs:
                    hook = make_hook(node, cfg, src, means[node], proj)
                    out = model.run_with_hooks(base_x, fwd_hooks=[(node.hook, hook)])
                    wrong = metrics.disagrees(out[:, 1:], hl[b][:, 1:], categorical)
                    entry = counts[(node, cfg.mode, cfg.scale)]
                    entry[0] += int((wrong & changed).sum())
                    entry[1] += n_changed
                    if kl_sums is not None and categorical:
                        norm = (metrics.label_nll(out[:, 1:], labels) - kl_clean) / denom
                        key = (node, cfg.mode, cfg.scale)
                        kl_sums[key] = kl_sums.get(key, 0.0) + float(norm[changed].double().sum())
    return {k: (v[0], v[1]) for k, v in counts.items()}
