"""Batched ablation: every (node, mode, scale) of one model into (flipped, counted) cells and, for
categorical tasks, the summed normalised KL (``metrics.kl_effect``).

Why it is fast, and why it still equals the plain loop in ``oracle.py``:

* The clean activations of the N distinct inputs are computed once (TransformerLens ``run_with_cache``).
  A pair's source activation is a row of that cache; nothing is re-run for the source.
* An ablation is a *delta* added to the node's activation; with no LayerNorm, a node's contribution to
  the residual stream is additive, so the patched run starts from the cached residual at the node's
  layer plus ``delta @ W_out`` (MLP) or ``delta`` (head) and recomputes only what comes after it.
* Modes that depend on the base alone (mean, zero, pca-self-*) run on N inputs, not N^2 pairs: a base's
  flipped cells are then weighted by how many sources change its label at that position.
* Source-dependent modes run only on pairs where some position's label changes.
* In a causal model, pair rows that share their base's and source's first t + 1 tokens compute the
  same numbers up to position t: the per-position products run once per such prefix class
  (``prefixes``), about half the rows of case 21 and a third of case 34.
* A causal pair row is computed only up to its last read cell (nothing earlier reads a later
  position): its later positions get no prefix classes, and with each micro-batch's rows sorted by
  that cell the attention at a position runs on the leading rows still needed (case 21: 113 -> 100 s).
* Weights that are exactly zero (a tracr-compiled HL model is mostly zeros) are left out of the products
  (``_live_components``, ``_live_units``).
* Many configurations are stacked along the batch, in micro-batches sized to a memory budget; counts
  stay on the device until the end.
* On a CPU the MLPs and the final logits run in tiles of rows whose hidden layer stays in cache.

Evaluation runs in float64 by default: the 0.05 agreement threshold and label equality are then
decided far from rounding noise, so stacking and summation order cannot change a count, and the
engine's counts equal the oracle's exactly (tests/test_engine_oracle.py).
"""
from __future__ import annotations

from contextlib import contextmanager
from dataclasses import dataclass

from . import metrics, modes
from ..errors import AblationError
from .modes import Ablation, Projection
from .nodes import Node
from .prefixes import LiveRows, SharedPrefixes, by_last_read, prefix_ids

_ACTS = {
    "relu": lambda F, x: F.relu(x),
    "gelu": lambda F, x: F.gelu(x),
    "gelu_new": lambda F, x: F.gelu(x, approximate="tanh"),
    "gelu_pytorch_tanh": lambda F, x: F.gelu(x, approximate="tanh"),
    "silu": lambda F, x: F.silu(x),
}
ACTIVATIONS = tuple(sorted(_ACTS))  # the MLP activations a model may use (checked when its config is read)


#: Default micro-batch budget: 128 MiB was as fast as 512 and holds a quarter of the memory (case 24's
#: sweep, one thread: 79 s at 512 MiB and 41-45 s at 128 before ``_reuse_freed_memory``).
MICRO_BATCH_MB = 128
MIN_MEMORY_MB = 16  # the smallest budget --ablation-memory-mb accepts

_MALLOC_TUNED = False


def _reuse_freed_memory() -> None:
    """Keep freed tensors' memory in the process (glibc only; once per process). By default glibc gives
    every large allocation fresh pages from the kernel and returns them on free, so each new
    intermediate tensor pays a page fault per 4 KiB before its arithmetic: on this engine's micro-batches
    an elementwise pass cost 2-4x its work (GELU on 2M floats: 7 ms fresh, 2 ms on reused memory; case 3's
    whole sweep 7.6 s -> 4.9 s, case 19's about 90 -> 54 s). Raising the mmap and trim thresholds makes
    malloc reuse them. Numbers are unchanged: only where the memory comes from."""
    global _MALLOC_TUNED
    if _MALLOC_TUNED:
        return
    _MALLOC_TUNED = True
    import ctypes
    import sys

    if not sys.platform.startswith("linux"):
        return
    try:
        mallopt = ctypes.CDLL(None).mallopt  # the running process's C library; absent outside glibc
    except (OSError, AttributeError):
        return
    m_trim_threshold, m_mmap_threshold = -1, -3
    if not mallopt(m_mmap_threshold, 1 << 30):
        mallopt(m_mmap_threshold, 32 << 20)  # older glibc caps the threshold at 32 MiB
    mallopt(m_trim_threshold, 1 << 30)


@dataclass
class ModelResult:
    """Everything measured on one model: counts per (node, mode, scale) and clean accuracy."""

    counts: dict[tuple[Node, str, float], tuple[int, int]]  # -> (flipped, counted)
    clean_wrong: int
    clean_cells: int
    counted_cells: int
    kl_sums: dict[tuple[Node, str, float], float] | None = None  # categorical: summed normalised KL
    #: base-only settings: cells right before the ablation and wrong after it, over every base cell (iit's
    #: ``ablate_nodes`` definition of mean/zero effects, pooled), out of ``clean_cells - clean_wrong``
    iit_flipped: dict[tuple[Node, str, float], int] | None = None

    @property
    def accuracy(self) -> float:
        return 1.0 - self.clean_wrong / self.clean_cells if self.clean_cells else float("nan")


class _Weights:
    """The LL model's parameters as plain tensors, laid out for batched matmuls."""

    def __init__(self, model, device, dtype, snap: bool = False) -> None:
        import torch

        cfg = model.cfg
        self.snap = snap  # the model is an HL model: its logits are read as labels are
        if cfg.normalization_type is not None:
            raise AblationError(f"the ablation engine supports models without LayerNorm only (normalization_type={cfg.normalization_type!r})")
        if cfg.positional_embedding_type != "standard":
            raise AblationError(f"unsupported positional_embedding_type {cfg.positional_embedding_type!r}")
        if not cfg.attn_only and cfg.act_fn not in _ACTS:
            raise AblationError(f"unsupported act_fn {cfg.act_fn!r} (supported: {', '.join(ACTIVATIONS)})")
        t = lambda x: x.detach().to(device, dtype)  # noqa: E731
        self.n_layers, self.n_heads, self.d_head = cfg.n_layers, cfg.n_heads, cfg.d_head
        self.d_model = cfg.d_model
        self.causal = cfg.attention_dir == "causal"
        scale = cfg.attn_scale if cfg.use_attn_scale else 1.0
        self.attn_scale = [scale * ((l + 1) if cfg.scale_attn_by_inverse_layer_idx else 1) for l in range(cfg.n_layers)]
        self.act_name = cfg.act_fn
        self.attn_only = bool(cfg.attn_only)
        H, dh, d = cfg.n_heads, cfg.d_head, cfg.d_model
        self.layers = []
        for l, block in enumerate(model.blocks):
            a = block.attn
            W_Q, W_K, W_V, W_O = t(a.W_Q), t(a.W_K), t(a.W_V), t(a.W_O)
            b_Q, b_K, b_V = t(a.b_Q), t(a.b_K), t(a.b_V)
            qk, ov = _live_components(W_Q, b_Q, W_K, b_K, W_V, b_V, W_O)
            # features in (component, head) order, Q pre-divided by the attention scale (see ``attend``)
            rows = [(W_Q, b_Q, qk, self.attn_scale[l]), (W_K, b_K, qk, 1.0), (W_V, b_V, ov, 1.0)]
            w_qkv = torch.cat([w[:, :, i].permute(2, 0, 1).reshape(len(i) * H, d) / c for w, _, i, c in rows])
            b_qkv = torch.cat([b[:, i].t().reshape(len(i) * H) / c for _, b, i, c in rows])
            layer = {"w_qkv_t": w_qkv, "b_qkv_col": b_qkv.unsqueeze(1), "W_O": W_O, "b_O": t(a.b_O),
                     "W_O_eh": W_O[:, ov].permute(1, 0, 2).reshape(len(ov) * H, d), "d_qk": len(qk), "d_ov": len(ov)}
            if not self.attn_only:
                W_in, b_in, W_out = t(block.mlp.W_in), t(block.mlp.b_in), t(block.mlp.W_out)
                units = _live_units(W_in, b_in, W_out, self.act)
                # W_out whole for ``to_resid`` (an MLP node's activation has every unit); the rest pruned
                layer.update(W_in=W_in[:, units], b_in=b_in[units], W_out=W_out, W_out_live=W_out[units],
                             b_out=t(block.mlp.b_out))
            self.layers.append(layer)
        self.W_U, self.b_U = t(model.unembed.W_U), t(model.unembed.b_U)
        # multiply-adds per row-position of the per-position products, over the elements the shared-prefix
        # gathers move (queries, keys and values out to the rows, z back), summed over the layers
        macs = sum(self.d_model * (l["w_qkv_t"].shape[0] + l["W_O_eh"].shape[0]) + 2 * self.d_model * (0 if self.attn_only else l["W_in"].shape[1])
                   for l in self.layers)
        moved = sum(l["w_qkv_t"].shape[0] + l["W_O_eh"].shape[0] for l in self.layers)
        self.share_gain = macs / max(1, moved)
        last = self.layers[-1]
        if not self.attn_only:  # the final MLP reaches the logits linearly: fold W_out @ W_U
            self.W_outU = last["W_out_live"] @ self.W_U
            self.b_outU = last["b_out"] @ self.W_U + self.b_U

    def act(self, x):
        import torch.nn.functional as F

        return _ACTS[self.act_name](F, x)

    def attn_out(self, x, layer: int, live: LiveRows | None = None):
        """Attention block output (heads summed, bias added) for x [P, B, d], position-major."""
        import torch

        w = self.layers[layer]
        P, B, d = x.shape
        if not w["d_ov"]:  # no head writes anything: the block adds its bias
            return w["b_O"].expand(P, B, d)
        return torch.addmm(w["b_O"], self.attend(x, layer, live).t(), w["W_O_eh"]).view(P, B, d)

    def attn_out_at(self, x, layer: int, cells, live: LiveRows | None = None):
        """The attention block's output at the selected cells only, [K, d]: every position is still a key,
        but the output projection runs on the cells that are read."""
        import torch

        w = self.layers[layer]
        if not w["d_ov"]:
            return w["b_O"]
        flat = cells.reshape(-1).nonzero().squeeze(1)
        if not self.causal and not bool(cells[0].any()):  # position 0 (BOS) is never read: skip its queries
            z = self.attend(x, layer, live, first_query=1)
            return torch.addmm(w["b_O"], z.index_select(1, flat - x.shape[1]).t(), w["W_O_eh"])
        return torch.addmm(w["b_O"], self.attend(x, layer, live).index_select(1, flat).t(), w["W_O_eh"])

    WIDE_HEAD = 6  # d_head from which causal heads fold the component loop (see ``attend``)

    def attend(self, x, layer: int, live: LiveRows | None = None, first_query: int = 0):
        """The heads' outputs z before W_O, feature-major: [d_head * H, P * B], feature (e, h) of cell
        (p, b) at [e * H + h, p * B + b], for x [P, B, d].

        Why feature-major: these heads are tiny (2-10 positions, d_head 1-9), so the usual layout, a
        batch of [P, d_head] matrices per (row, head), spends its time in per-matrix overheads, in
        softmaxes over rows of 10 and in the permutes around them. With rows innermost every step is an
        elementwise operation or a reduction over an outer axis on long contiguous vectors: the scores
        accumulate one d_head component at a time, the softmax runs over the key axis, and z one
        component at a time; causal heads go query by query over their own keys only. Measured on one
        thread against the best per shape of batched matmuls, a fused ``scaled_dot_product_attention``
        and a loop over queries in the row-major layout: 1.5x (10 positions x d_head 9, causal),
        1.6-1.7x (10 x 4 and 10 x 6, bidirectional), 2.1x (15 x 8), 2.5x (5 x 3), 3.3x (10 x 3, causal).

        Causal heads of ``WIDE_HEAD`` or more components take each query's scores as one product over all
        components and one reduction (and z likewise): two passes per query instead of 2 * d_head
        small ones. One thread: 1.4-2.0x at d_head 6-12 with 4 heads (case 21's 12: 11.4 -> 5.8 ms a
        call), 4.9x at 29 with one head (case 21's HL model); slower below 6 and on bidirectional heads,
        which keep the component loop.

        ``live`` (causal only): at each query position only the leading rows it names are computed (each
        config's alike); the others' z is 0, and no read cell depends on it. ``first_query`` (bidirectional
        only): z of the queries from that position on, [d_head * H, (P - first_query) * B] (the last layer
        reads no cell at position 0: a tenth of its attention at 10 positions)."""
        import torch

        w = self.layers[layer]
        P, B, d = x.shape
        qkv = torch.addmm(w["b_qkv_col"], w["w_qkv_t"], x.reshape(P * B, d).t())
        return self.attend_qkv(qkv, layer, P, B, live, first_query)

    def attend_qkv(self, qkv, layer: int, P: int, B: int, live: LiveRows | None = None, first_query: int = 0):
        """``attend`` from the heads' queries, keys and values, feature-major [features, P * B]."""
        import torch

        w = self.layers[layer]
        H, dh, dv = self.n_heads, w["d_qk"], w["d_ov"]
        if self.causal:
            # rows as [configs, rows per config], so that a query position's leading rows are a slice
            R, counts = (live.R, live.counts) if live is not None else (B, (B,) * P)
            C = B // R
            q, k, v = qkv.split([dh * H, dh * H, dv * H])
            q, k, v = q.view(dh, H, P, C, R), k.view(dh, H, P, C, R), v.view(dv, H, P, C, R)  # q pre-divided by the scale
            z = (torch.empty if live is None else torch.zeros)(dv, H, P, C, R, dtype=qkv.dtype, device=qkv.device)
            for i, n in enumerate(counts):
                if not n:
                    continue
                if max(dh, dv) >= self.WIDE_HEAD:  # every component in one product and one reduction
                    pattern = (q[:, :, i:i + 1, :, :n] * k[:, :, :i + 1, :, :n]).sum(0).softmax(1)  # [H, key, C, n]
                    torch.sum(pattern * v[:, :, :i + 1, :, :n], dim=2, out=z[:, :, i, :, :n])
                    continue
                # query by query over its own keys: half the work of masking a square
                scores = q[0, :, i:i + 1, :, :n] * k[0, :, :i + 1, :, :n]  # [H, key, C, n]
                for e in range(1, dh):
                    scores.addcmul_(q[e, :, i:i + 1, :, :n], k[e, :, :i + 1, :, :n])
                pattern = scores.softmax(1)
                for e in range(dv):
                    torch.sum(pattern * v[e, :, :i + 1, :, :n], dim=1, out=z[e, :, i, :, :n])
            return z.view(dv * H, P * B)
        q, k, v = qkv.split([dh * H, dh * H, dv * H])
        q, k, v = q.view(dh, H, P, B)[:, :, first_query:], k.view(dh, H, P, B), v.view(dv, H, P, B)  # q pre-divided by the scale
        z = torch.empty(dv, H, P - first_query, B, dtype=qkv.dtype, device=qkv.device)
        scores = q[0].unsqueeze(2) * k[0].unsqueeze(1)  # [H, query, key, B]
        for e in range(1, dh):
            scores.addcmul_(q[e].unsqueeze(2), k[e].unsqueeze(1))
        pattern = scores.softmax(2)
        for e in range(dv):
            torch.sum(pattern * v[e].unsqueeze(1), dim=2, out=z[e])
        return z.view(dv * H, (P - first_query) * B)

    def attn_out_shared(self, x, layer: int, shared: SharedPrefixes, C: int, needed: bool = False):
        """``attn_out`` for shared-prefix classes (``prefixes``): x [C * S, d] -> [C * S, d], or with
        ``needed`` the needed class rows' outputs only. The products run on the classes, the attention
        itself on every row (each reads its own ancestors' keys): queries, keys and values are gathered
        out to the rows, z back to the class rows."""
        import torch

        w = self.layers[layer]
        if not w["d_ov"]:
            return w["b_O"]
        index = shared.for_configs(C)
        # fresh gathers (writing into a slice of a wider tensor cost 2.4x)
        qkv = torch.addmm(w["b_qkv_col"], w["w_qkv_t"], x.t()).index_select(1, index.expand)
        z = self.attend_qkv(qkv, layer, shared.P, C * shared.R, shared.live)
        z = z.index_select(1, index.gather_needed if needed else index.gather)
        return torch.addmm(w["b_O"], z.t(), w["W_O_eh"])

    def logits_shared(self, x, layer: int, stage: str, shared: SharedPrefixes, C: int, class_major: bool = False):
        """``logits_at`` for causal pair rows run as shared-prefix classes (``prefixes``): x [C * S, d]
        holds each class's resumed residual; the result is each read cell's logits, in ``logits_at``'s
        order, copied from its class."""
        out = self._logits_shared(x, layer, stage, shared, C, class_major)
        out = out.index_select(1 if class_major else 0, shared.for_configs(C).cells)
        return metrics.hl_labels_output(out, True) if self.snap else out

    def _logits_shared(self, x, layer: int, stage: str, shared: SharedPrefixes, C: int, class_major: bool):
        last = self.n_layers - 1
        needed = lambda x: x.index_select(0, shared.for_configs(C).needed)  # noqa: E731
        if stage == "mlp":
            if self.attn_only:
                stage = "next"
            elif layer == last:
                return self._final_logits(needed(x), class_major)
            else:
                x = x + self.mlp_out(x.unsqueeze(0), layer).squeeze(0)
        for l in range(layer + 1, self.n_layers):
            if l == last:
                x = needed(x) + self.attn_out_shared(x, l, shared, C, needed=True)
                return self._unembed(x, class_major) if self.attn_only else self._final_logits(x, class_major)
            x = x + self.attn_out_shared(x, l, shared, C)
            if not self.attn_only:
                x = x + self.mlp_out(x.unsqueeze(0), l).squeeze(0)
        return self._unembed(needed(x), class_major)

    #: rows per MLP tile on a CPU (see ``mlp_out``)
    MLP_TILE = 4096

    def mlp_out(self, x, layer: int):
        """The MLP block's output for x [P, B, d], in tiles of rows on a CPU: a whole micro-batch's hidden
        layer ([rows, d_mlp], tens of MB) leaves the cache between the two products and the activation,
        while a tile's stays in it. One thread: case 21's d_model 50, d_mlp 200 on 100,000 rows took
        133 ms whole and 54 ms in tiles of 4,096; 1.1-1.5x on the other shapes. Each row's numbers are
        the same either way."""
        import torch

        w = self.layers[layer]
        P, B, d = x.shape
        flat = x.reshape(P * B, d)
        out = torch.empty_like(flat)
        for i in _tiles(P * B, self.MLP_TILE, x.device):
            post = self.act(torch.addmm(w["b_in"], flat[i], w["W_in"]))
            torch.addmm(w["b_out"], post, w["W_out_live"], out=out[i])
        return out.view(P, B, d)

    def logits_at(self, x, layer: int, stage: str, cells, class_major: bool = False, live: LiveRows | None = None):
        out = self._logits_at(x, layer, stage, cells, class_major, live)
        return metrics.hl_labels_output(out, True) if self.snap else out

    def _logits_at(self, x, layer: int, stage: str, cells, class_major: bool = False, live: LiveRows | None = None):
        """Logits [K, V] at the K cells selected by the bool mask ``cells`` [P, B] (in its nonzero
        order), for runs resumed at ``layer`` with x [P, B, d]: ``stage`` 'mlp' means x is that layer's
        resid_mid, 'next' its resid_post. The last layer's MLP and the unembedding act per position,
        so they run on the selected cells only. ``class_major``: [V, K] instead (see ``_unembed``).
        ``live``: causal attention on the rows still needed only (``attend``)."""
        if stage == "mlp":
            if self.attn_only:
                stage = "next"
            elif layer == self.n_layers - 1:
                return self._final_logits(_select(x, cells), class_major)
            else:
                x = x + self.mlp_out(x, layer)
        for l in range(layer + 1, self.n_layers):
            if l == self.n_layers - 1:  # the last block acts per position: only the read cells go on
                x = _select(x, cells) + self.attn_out_at(x, l, cells, live)
                return self._unembed(x, class_major) if self.attn_only else self._final_logits(x, class_major)
            x = x + self.attn_out(x, l, live)
            if not self.attn_only:
                x = x + self.mlp_out(x, l)
        return self._unembed(_select(x, cells), class_major)

    def _unembed(self, resid, class_major: bool):
        """resid [K, d] -> logits [K, V], or [V, K] when ``class_major``: with 2-11 classes a row-major
        product has rows too narrow for the matmul kernel, and the transposed one ran 2-4x faster.
        One thread (``one_thread``): MKL rounds these narrow products differently on 1 and 2 threads."""
        import torch

        with one_thread():
            if class_major:
                return torch.addmm(self.b_U.unsqueeze(1), self.W_U.t(), resid.t())
            return torch.addmm(self.b_U, resid, self.W_U)

    def _final_logits(self, resid_mid, class_major: bool = False):
        """resid_mid [K, d] of the last layer -> logits [K, V] (or [V, K]), with W_out @ W_U folded; in
        tiles of cells on a CPU like ``mlp_out`` (1.3-1.5x on one thread, the same numbers)."""
        import torch

        w = self.layers[-1]
        K, V = resid_mid.shape[0], self.W_U.shape[1]
        out = torch.empty((V, K) if class_major else (K, V), dtype=resid_mid.dtype, device=resid_mid.device)
        for i in _tiles(K, self.MLP_TILE, resid_mid.device):
            x = resid_mid[i]
            post = self.act(torch.addmm(w["b_in"], x, w["W_in"]))
            with one_thread():  # 2-11 output columns: see ``_unembed``
                if class_major:
                    torch.addmm(self.b_outU.unsqueeze(1), self.W_outU.t(), post.t(), out=out[:, i]).addmm_(self.W_U.t(), x.t())
                else:
                    torch.addmm(self.b_outU, post, self.W_outU, out=out[i]).addmm_(x, self.W_U)
        return out


def _tiles(n: int, size: int, device):
    """Slices of ``n`` rows in tiles of ``size`` on a CPU; one slice elsewhere (a GPU wants big kernels)."""
    if device.type != "cpu" or n <= size:
        return [slice(0, n)]
    return [slice(i, min(i + size, n)) for i in range(0, n, size)]


def _live_components(W_Q, b_Q, W_K, b_K, W_V, b_V, W_O):
    """The d_head components that can matter, as index lists over all heads: (QK) those where some
    head's query and key both vary, (OV) those where some head's value reaches W_O. A tracr-compiled HL
    model is mostly exact zeros (case 21's: two of four attention layers empty, 1-3 of 29 value
    components used); a component left out adds an exact 0 to a score or to the output, so the result
    is the same up to summation order. No QK component: every score is 0, so one zero component keeps
    the uniform pattern. Trained models keep everything."""
    import torch

    live = lambda w, b: (w != 0).any(dim=1) | (b != 0)  # noqa: E731  [H, d_head]
    qk = (live(W_Q, b_Q) & live(W_K, b_K)).any(dim=0).nonzero().squeeze(1).tolist()
    ov = (live(W_V, b_V) & (W_O != 0).any(dim=2)).any(dim=0).nonzero().squeeze(1).tolist()
    return (qk or [0]), ov


def _live_units(W_in, b_in, W_out, act) -> list[int]:
    """MLP units whose output can be nonzero: W_out row nonzero and the unit not constantly act(0) = 0."""
    reads = (W_in != 0).any(dim=0) | (act(b_in) != 0)
    return ((W_out != 0).any(dim=1) & reads).nonzero().squeeze(1).tolist()


def _select(x, cells):
    """x[cells] for x [P, B, d] and a bool mask [P, B], as one index_select (faster than masking)."""
    flat = cells.reshape(-1).nonzero().squeeze(1)
    return x.reshape(-1, x.shape[-1]).index_select(0, flat)


def _node_activation(cache, node: Node):
    if node.is_mlp:
        return cache[node.hook]
    return cache[node.hook][:, :, node.head, :]


def clean_cache(model, tokens):
    """TransformerLens activations of the clean inputs for the hooks the engine reads."""
    import torch

    keep = ("hook_result", "hook_post", "hook_resid_mid", "hook_resid_post", "blocks.0.hook_resid_pre")
    with torch.no_grad():
        logits, cache = model.run_with_cache(tokens, names_filter=lambda name: name.endswith(keep))
    return logits, cache


class _Precision:
    """Weights and clean activations in one dtype (the engine holds one in float64, ``f64``, and one in
    float32, ``f32``, which is the same object when ``fast=False``)."""

    def __init__(self, model, cache, device, dtype, snap: bool = False) -> None:
        self.dtype = dtype
        self.w = _Weights(model, device, dtype, snap)
        self._cache = {k: v.to(device, dtype) for k, v in cache.items()}

    def activation(self, node: Node):
        """[N, P, width]"""
        return _node_activation(self._cache, node)

    def start(self, node: Node):
        """Where a patched run resumes: the cached residual [N, P, d] at the node's layer, and the stage.
        An attention-only block has no resid_mid: its head writes straight into resid_post."""
        if node.is_mlp or self.w.attn_only:
            return self._cache[f"blocks.{node.layer}.hook_resid_post"], "next"
        return self._cache[f"blocks.{node.layer}.hook_resid_mid"], "mlp"

    def to_resid(self, node: Node, x):
        """A change of the node's activation as a change of the residual stream."""
        return x @ self.w.layers[node.layer]["W_out"] if node.is_mlp else x


@dataclass
class _SourceTerms:
    """For one node and one source-dependent mode, ``start[b, s] = base[b] + lam * source[s]``: the
    resumed residual of every pair is affine in the scale, with per-input terms computed once.
    Both are position-major, [P, N, d]."""

    base: object
    source: object

    @classmethod
    def of(cls, prec: _Precision, node: Node, mode: str, proj: Projection | None) -> "_SourceTerms":
        resid, _ = prec.start(node)
        part = prec.to_resid(node, modes.source_part(mode, prec.activation(node), proj))
        return cls((resid - part).transpose(0, 1).contiguous(), part.transpose(0, 1).contiguous())

    def rows(self, b, s) -> "_SourceTerms":
        """The terms of pair rows (b, s), [P, R, d] each."""
        return _SourceTerms(self.base[:, b], self.source[:, s])

    def starts(self, lams):
        """[P, C*R, d] residuals of these rows for scales ``lams`` [C]."""
        out = self.base.unsqueeze(1) + lams.view(1, -1, 1, 1) * self.source.unsqueeze(1)  # [P, C, R, d]
        return out.reshape(out.shape[0], -1, out.shape[-1])


class _SharedStarts:
    """The resumed residuals of the classes of one micro-batch (``prefixes``), ``base + lam * source``
    with both terms gathered into the class rows once per number of stacked configs."""

    def __init__(self, terms: _SourceTerms, shared: SharedPrefixes) -> None:
        self.shared = shared
        self.base = terms.base[shared.position, shared.rep_base]  # [S, d]
        self.source = terms.source[shared.position, shared.rep_source]
        self._rows: dict[int, tuple] = {}

    def __call__(self, lams):
        """[C * S, d] for scales ``lams`` [C], in the class row layout (``prefixes.ConfigIndex``)."""
        import torch

        C = len(lams)
        if C not in self._rows:
            index = self.shared.for_configs(C)
            self._rows[C] = (self.base.index_select(0, index.class_of_row), self.source.index_select(0, index.class_of_row),
                             index.config_of_row)
        base, source, config = self._rows[C]
        return torch.addcmul(base, lams[config].unsqueeze(1), source)


def _starts_of(terms: _SourceTerms, shared: SharedPrefixes | None, b, s):
    """The resumed residuals of the micro-batch of rows (b, s), as a function of the scales: class rows
    where its prefixes are shared (``_SharedStarts``), else pair rows."""
    return _SharedStarts(terms, shared) if shared is not None else terms.rows(b, s).starts


class Engine:
    """Evaluates all configurations of all nodes of one LL model against its HL model.

    Every mode runs in float32 (2-7x faster on a CPU): the source-dependent ones on the pairs, those that
    depend on the base alone on the N inputs; every cell whose float32 decision lies within a band
    of ``VERIFY_ABS + VERIFY_REL * |output|`` around the agreement threshold is recomputed in float64,
    so each count is the float64 count. With ``fast=False`` everything runs in float64.

    ``is_hl``: the model under test is the HL model itself (the HL reference effects); its logits are
    then read as its labels are (``metrics.hl_labels_output``), so an unablated HL scores 0.
    """

    VERIFY_ABS = 1e-3
    VERIFY_REL = 1e-3

    def __init__(self, model, hl_outputs, tokens, *, categorical: bool, label_atol: float,
                 device: str = "cpu", memory_budget_mb: int = MICRO_BATCH_MB, fast: bool = True, is_hl: bool = False) -> None:
        import torch

        if str(device).startswith("cpu"):
            _reuse_freed_memory()
        self.device = torch.device(device)
        self.categorical = categorical
        self.tokens = tokens.to(self.device)
        logits, cache = clean_cache(model, self.tokens)
        self._model = model  # for the per-node self-check (``_check_node``)
        self._checked: set[Node] = set()
        self.f64 = _Precision(model, cache, self.device, torch.float64, is_hl and categorical)
        self.f32 = self.f64  # until ``fast`` gets its float32 copy below
        n, P = self.tokens.shape
        self.n, self.P = n, P
        self._self_check(logits.to(self.device, torch.float64))
        self.clean_logits = metrics.hl_labels_output(logits.to(self.device, torch.float64), is_hl and categorical)
        self.hl = hl_outputs.to(self.device, torch.float64)
        # cells: positions 1.. (BOS never changes label)
        changed = metrics.labels_changed(self.hl[:, None, 1:], self.hl[None, :, 1:], categorical, label_atol)
        self.changed = changed  # [base, source, pos-1]
        self.counted_per_base = changed.sum(dim=1)  # [base, pos-1]
        self.counted_total = int(changed.sum())
        self.pairs = changed.any(dim=-1).nonzero()  # [R, 2] (base, source) with something to count
        self.hl_pm = self.hl.transpose(0, 1).contiguous()  # [P, N, V]
        if fast and not (categorical and self._clean_tied_share() >= self.TIED_SHARE):
            self.f32 = _Precision(model, cache, self.device, torch.float32, is_hl and categorical)
        self.prefix_ids = prefix_ids(self.tokens) if self.f32.w.causal else None
        self._shared: dict[int, SharedPrefixes | None] = {}
        self.shared_batches = 0  # micro-batches run on shared prefixes
        self.memory_budget = memory_budget_mb * 2**20
        self.clean_wrong = metrics.disagrees(self.clean_logits[:, 1:], self.hl[:, 1:], categorical)
        self.verified_cells = 0  # cells recomputed in float64
        self.redone_batches = 0  # micro-batches recomputed whole in float64 (``FULL_REDO_SHARE``)
        if categorical:
            self._init_kl()

    #: run in float64 from the start when at least this share of the counted cells are ties (top two
    #: logits within the verification band) in the clean model itself: float32 cannot decide them, so
    #: nearly every float32 run would be run again in float64. A compiled HL model outputs exact ties
    #: where its program gives None: case 21's at 68% of its counted cells (its reference effects took
    #: 7 s with float32 and float64, 5 s in float64 alone), case 19's 24%, case 13's 11%; every
    #: built-in LL model at most 0.1%.
    TIED_SHARE = 0.1

    def _clean_tied_share(self) -> float:
        """The share of counted cells (positions 1.., weighted by their sources) where the clean model's
        own top two logits lie within the verification band."""
        logits = self.clean_logits[:, 1:].permute(2, 0, 1)  # [V, N, P-1]
        _, unsure, _ = self._decide_categorical(logits, self.hl[:, 1:].argmax(-1))
        weight = self.counted_per_base
        return float((unsure * weight).sum() / weight.sum()) if bool(weight.any()) else 0.0

    SELF_CHECK_RTOL = 1e-6

    def _self_check(self, tl_logits) -> None:
        """Every patched run is recomputed from the engine's own copy of the weights, so one clean forward
        through that copy, from the embeddings on, must give TransformerLens's own logits. A model that
        uses something the engine does not compute (a config field it does not know) is refused here, in
        one line, instead of getting silently wrong counts."""
        w = self.f64.w
        x = self.f64._cache["blocks.0.hook_resid_pre"].transpose(0, 1)  # [P, N, d]
        # the path every patched run takes, from layer 0's resid_mid on (the last MLP folded into W_U)
        self._refuse_unless_close(self._every_cell_logits(x + w.attn_out(x, 0), 0, "mlp"), tl_logits,
                                  "the ablation engine's forward pass differs from TransformerLens's on this model",
                                  "it uses something the engine does not compute")

    def _check_node(self, node: Node) -> None:
        """Where a patched run of this node starts (the cached residual and stage) and how its change
        reaches the residual stream (``to_resid``) must match TransformerLens: zero-ablate the node both
        ways on the clean inputs, through a hook and through the engine, and compare the logits. Refused
        in one line otherwise."""
        import torch

        if node in self._checked:
            return
        prec = self.f64
        resid, stage = prec.start(node)
        start = (resid + prec.to_resid(node, -prec.activation(node))).transpose(0, 1)  # [P, N, d]

        def zero(x, hook):
            if node.is_mlp:
                return torch.zeros_like(x)
            x = x.clone()
            x[:, :, node.head] = 0
            return x

        theirs = self._model.run_with_hooks(self.tokens, fwd_hooks=[(node.hook, zero)]).to(self.device, torch.float64)
        self._refuse_unless_close(self._every_cell_logits(start, node.layer, stage), theirs,
                                  f"the ablation engine's run from {node.name} differs from TransformerLens's with a hook",
                                  "it resumes this node's runs wrongly")
        self._checked.add(node)

    def _every_cell_logits(self, x, layer: int, stage: str):
        """float64 logits [N, P, V] of a run resumed at ``layer`` from x [P, N, d], at every cell."""
        import torch

        every_cell = torch.ones(self.P, self.n, dtype=torch.bool, device=self.device)
        return self.f64.w._logits_at(x, layer, stage, every_cell).view(self.P, self.n, -1).transpose(0, 1)

    def _refuse_unless_close(self, ours, theirs, what: str, why: str) -> None:
        worst = float((ours - theirs).abs().max())
        if not worst <= self.SELF_CHECK_RTOL * max(1.0, float(theirs.abs().max())):
            raise AblationError(f"{what} (largest logit difference {worst:.3g}): {why}")

    def _init_kl(self) -> None:
        """Per-cell terms of the normalised KL (``metrics.kl_effect``): the clean KL of each base cell,
        and 1 / (kl_corrupt - kl_clean + eps) on counted (base, source, position) cells, 0 elsewhere;
        summed over sources it weights the base-only modes."""
        import torch

        labels = self.hl.argmax(-1)  # [N, P]
        logp = self.clean_logits.log_softmax(-1)  # [N, P, V]
        self.labels_pm = labels.t().contiguous()  # [P, N]
        kl_clean = -logp.gather(-1, labels.unsqueeze(-1)).squeeze(-1)  # [N, P], as metrics.label_nll
        self.kl_clean_pm = kl_clean.t().contiguous()
        lp = logp[:, 1:].transpose(0, 1)  # [P-1, source, V]
        lab = self.labels_pm[1:]  # [P-1, base]
        corrupt = -torch.gather(lp, 2, lab.unsqueeze(1).expand(-1, self.n, -1))  # [P-1, source, base]
        denom = corrupt.permute(2, 1, 0) - kl_clean[:, None, 1:] + metrics.KL_EPS  # [base, source, P-1]
        self.kl_inv = torch.where(self.changed, 1.0 / denom, torch.zeros_like(denom))
        self.kl_weight_pm = _fixed_order_sum(self.kl_inv, 1).t().contiguous()  # [P-1, base]

    @property
    def w(self) -> _Weights:
        return self.f64.w

    def activation(self, node: Node):
        """The node's clean activations [N, P, width] in float64."""
        return self.f64.activation(node)

    def _rows_per_batch(self, itemsize: int) -> int:
        w = self.w
        P, d, H = self.P, w.d_model, w.n_heads
        d_mlp = 0 if w.attn_only else max(layer["W_in"].shape[1] for layer in w.layers)  # widest, after pruning
        per_row = P * (8 * d + 4 * H * P + 4 * 3 * H * w.d_head + 3 * d_mlp + 4) * itemsize
        return max(1, int(self.memory_budget // per_row))

    def _uncertain(self, ll, hl):
        """Bool [C, K]: regression cells whose decision could differ between float32 and float64."""
        import torch

        ll = ll.double()
        margin = ((ll - hl).abs() - (metrics.REGRESSION_ATOL + metrics.REGRESSION_RTOL * hl.abs())).abs()
        return (margin <= self.VERIFY_ABS + self.VERIFY_REL * ll.abs()).any(-1) | ~torch.isfinite(ll).all(-1)

    def _decide(self, logits, labels):
        """(wrong, unsure, top) for one micro-batch's regrouped logits (``_regrouped_logits``) against its
        cells' HL labels (categorical, with the top logit for the KL) or HL outputs (regression, top None)."""
        if self.categorical:
            return self._decide_categorical(logits, labels)
        hl = labels.unsqueeze(0)
        return metrics.disagrees(logits.double(), hl, False), self._uncertain(logits, hl), None

    def _decide_categorical(self, logits, labels):
        """From class-major float64 logits [V, C, K] (``_class_major``) and the HL labels [K]: which cells
        are wrong (the LL's top class is not the label), which are too close to call in float32 (the top
        two logits within the verification band), and the top logit, in one pass over the classes.
        Ties in the top class are always in the band, so where the first maximum and argmax could differ
        the float64 recomputation decides."""
        import torch

        first, top = logits.max(0)  # [C, K]; the first maximum on ties
        classes = torch.arange(logits.shape[0], device=logits.device).view(-1, 1, 1)
        second = logits.masked_fill(classes == top, float("-inf")).amax(0)
        return top != labels, self._too_close(first, second), first

    def _too_close(self, first, second):
        """Top two logits too close to call in float32 (or a top that is not finite)."""
        import torch

        return ((first - second) <= self.VERIFY_ABS + self.VERIFY_REL * first.abs()) | ~torch.isfinite(first)

    def _base_only(self, node: Node, configs: list[Ablation], projs: dict, flipped, kl, jobs, iit) -> None:
        """Modes that depend on the base alone: N rows per setting, in the fast precision with float64
        re-checks like the pairs (in float64 they were 5-7% of a sweep: 2.4 of 29 s on case 19), each base
        cell weighted by how many sources change its label; ``iit`` also gets iit's unweighted count
        (right before, wrong after)."""
        import torch

        prec = self.f32
        a = prec.activation(node)
        mean = self.activation(node).mean(dim=0).to(prec.dtype)  # the mean summed in float64 either way
        resid, stage = prec.start(node)
        hl = self.hl_pm[1:].unsqueeze(1)  # [P-1, 1, N, V]
        per_batch = max(1, self._rows_per_batch(prec.dtype.itemsize) // self.n)
        for j0 in range(0, len(jobs), per_batch):
            chunk = jobs[j0:j0 + per_batch]
            C = len(chunk)
            deltas = torch.stack([prec.to_resid(node, modes.delta(configs[i].mode, configs[i].scale, a, None, mean, projs[prec.dtype]))
                                  for i in chunk])  # [C, N, P, d]
            ll = self._base_logits(prec, node, stage, resid, deltas).double()
            wrong = metrics.disagrees(ll, hl, self.categorical)  # [P-1, C, N]
            if prec is not self.f64:
                self._verify_bases(node, stage, [configs[i] for i in chunk], projs[self.f64.dtype], self._unsure_rows(ll, hl), wrong)
            flipped[chunk] += (wrong * self.counted_per_base.t().unsqueeze(1)).sum(dim=(0, 2))
            iit[chunk] += (wrong & ~self.clean_wrong.t().unsqueeze(1)).sum(dim=(0, 2))
            if kl is not None:
                nll = metrics.label_nll(ll, self.labels_pm[1:].unsqueeze(1).expand(-1, C, -1))  # [P-1, C, N]
                excess = nll - self.kl_clean_pm[1:].unsqueeze(1)
                kl[chunk] += _fixed_order_sum(excess * self.kl_weight_pm.unsqueeze(1), (0, 2))

    def _base_logits(self, prec: _Precision, node: Node, stage: str, resid, deltas):
        """Logits [P-1, C, n, V] at positions 1.. of base rows resumed from their residuals ``resid``
        [n, P, d] plus C settings' changes ``deltas`` [C, n, P, d]."""
        import torch

        C, n = deltas.shape[:2]
        start = (resid.unsqueeze(0) + deltas).permute(2, 0, 1, 3).reshape(self.P, C * n, -1)
        cells = torch.ones(self.P, C * n, dtype=torch.bool, device=self.device)
        cells[0] = False
        return prec.w.logits_at(start, node.layer, stage, cells).view(self.P - 1, C, n, -1)

    def _unsure_rows(self, ll, hl):
        """Bool [...]: cells of row-major float32-computed logits [..., V] whose decision against the HL
        outputs ``hl`` (broadcast) lies within the verification band: the top two logits that close
        (categorical), or the output that close to the agreement threshold (regression)."""
        import torch

        if not self.categorical:
            return self._uncertain(ll, hl)
        if ll.shape[-1] < 2:  # one class: nothing to decide
            return ~torch.isfinite(ll[..., 0])
        top2 = ll.topk(2, dim=-1).values
        return self._too_close(top2[..., 0], top2[..., 1])

    def _verify_bases(self, node: Node, stage: str, settings: list[Ablation], proj, unsure, wrong) -> None:
        """Recompute in float64 the base rows of ``settings`` holding an unsure cell (``unsure`` [P-1, C, N])
        and put their float64 decisions into ``wrong``."""
        import torch

        if not bool(unsure.any()):
            return
        self.verified_cells += int(unsure.sum())
        prec = self.f64
        a = prec.activation(node)
        mean = a.mean(dim=0)
        resid, _ = prec.start(node)
        rows = unsure.any(dim=0)  # [C, N]
        for c in rows.any(dim=1).nonzero()[:, 0].tolist():
            ns = rows[c].nonzero()[:, 0]
            cfg = settings[c]
            delta = prec.to_resid(node, modes.delta(cfg.mode, cfg.scale, a[ns], None, mean, proj))
            redo = self._base_logits(prec, node, stage, resid[ns], delta.unsqueeze(0))[:, 0]
            redo_wrong = metrics.disagrees(redo, self.hl_pm[1:, ns], self.categorical)
            wrong[:, c, ns] = torch.where(unsure[:, c, ns], redo_wrong, wrong[:, c, ns])

    #: share a micro-batch's prefixes when the multiply-adds it saves are at least this many per
    #: element its gathers move (cases 8 and 33, d_model 4, saved about 3 and ran 10-20% slower shared;
    #: case 35 saves 8.5 and case 36 12.5, and ran about as fast or faster)
    SHARE_MIN_GAIN = 6.0

    def _shared_prefixes(self, r0: int, b, s, row_cells) -> SharedPrefixes | None:
        """The shared-prefix classes of the micro-batch of pair rows starting at ``r0`` (the same for
        every node and mode), or None where sharing would not pay: bidirectional models, and
        micro-batches with too few repeats for the model's width."""
        if self.prefix_ids is None:
            return None
        if r0 not in self._shared:
            shared = SharedPrefixes.of(self.prefix_ids, b, s, row_cells)
            repeats = 1.0 - shared.size / (self.P * len(b))
            self._shared[r0] = shared if repeats * self.f32.w.share_gain >= self.SHARE_MIN_GAIN else None
        return self._shared[r0]

    def _pairs(self, node: Node, configs: list[Ablation], projs: dict, flipped, kl, jobs) -> None:
        """Source-dependent modes on pair rows, fast precision with float64 verification."""
        import torch

        b_all, s_all = self.pairs[:, 0], self.pairs[:, 1]
        n_rows = len(b_all)
        if not jobs or not n_rows:
            return
        f32 = self.f32
        _, stage = f32.start(node)
        by_mode: dict[str, list[int]] = {}
        for i in jobs:
            by_mode.setdefault(configs[i].mode, []).append(i)
        cap = self._rows_per_batch(f32.dtype.itemsize)
        row_chunk = min(n_rows, cap)
        per_batch = max(1, cap // row_chunk)
        for mode, mode_jobs in by_mode.items():
            terms = _SourceTerms.of(f32, node, mode, projs[f32.dtype])
            f64_terms = None
            for r0 in range(0, n_rows, row_chunk):
                b, s = b_all[r0:r0 + row_chunk], s_all[r0:r0 + row_chunk]
                R = len(b)
                row_cells = torch.zeros(self.P, R, dtype=torch.bool, device=self.device)
                row_cells[1:] = self.changed[b, s].t()
                if self.prefix_ids is not None:  # causal: the rows needed at each position lead (``LiveRows``)
                    order = by_last_read(row_cells)
                    b, s, row_cells = b[order], s[order], row_cells[:, order]
                # the HL labels [K] of the counted cells in (position, row) order where categorical, else
                # their HL outputs [K, V]
                cell_labels = (self.labels_pm if self.categorical else self.hl_pm)[:, b][row_cells]
                cell_rows = row_cells.nonzero()[:, 1]  # row of each cell, (position, row) order
                shared = self._shared_prefixes(r0, b, s, row_cells)
                live = LiveRows.of(row_cells) if shared is None and f32.w.causal else None  # shared: ``shared.live``
                starts = _starts_of(terms, shared, b, s)  # scales -> the micro-batch's resumed residuals
                f64_starts = None
                if kl is not None:
                    inv = torch.zeros(self.P, R, dtype=torch.float64, device=self.device)
                    inv[1:] = self.kl_inv[b, s].t()
                    kl_terms = (self.kl_clean_pm[:, b][row_cells], inv[row_cells])
                for j0 in range(0, len(mode_jobs), per_batch):
                    chunk = mode_jobs[j0:j0 + per_batch]
                    scales = [configs[i].scale for i in chunk]
                    lams = torch.tensor(scales, dtype=f32.dtype, device=self.device)
                    self.shared_batches += shared is not None
                    # [V, C, K] float64 (classes first) where categorical, else [C, K, V]
                    logits = self._regrouped_logits(f32, starts(lams), node, stage, shared, row_cells, len(chunk), live)
                    wrong, unsure, top = self._decide(logits, cell_labels)
                    if f32 is not self.f64:
                        if f64_terms is None:
                            f64_terms = _SourceTerms.of(self.f64, node, mode, projs[self.f64.dtype])
                        if self._mostly_unsure(unsure, cell_rows, R):
                            f64_starts = f64_starts or _starts_of(f64_terms, shared, b, s)
                            lams64 = torch.tensor(scales, dtype=torch.float64, device=self.device)
                            redo = self._regrouped_logits(self.f64, f64_starts(lams64), node, stage, shared, row_cells,
                                                          len(chunk), live)
                            redo_wrong = self._decide(redo, cell_labels)[0]
                            self.verified_cells += int(unsure.sum())
                            self.redone_batches += 1
                            wrong = torch.where(unsure, redo_wrong, wrong)
                        else:
                            self._verify(node, stage, f64_terms, scales, b, s, row_cells, cell_rows, unsure, wrong)
                    flipped[chunk] += wrong.sum(dim=1)
                    if kl is not None:
                        clean, weight = kl_terms
                        kl[chunk] += _fixed_order_sum((_label_nll(logits, top, cell_labels) - clean) * weight, 1)

    def _regrouped_logits(self, prec: _Precision, starts, node: Node, stage: str, shared: SharedPrefixes | None,
                          row_cells, C: int, live: LiveRows | None = None):
        """One micro-batch's logits at its read cells from its resumed residuals ``starts`` (C stacked
        configs of R rows), regrouped per config: class-major float64 [V, C, K] where categorical (see
        ``_class_major``), else [C, K, V]. ``live``: the unshared rows' causal cut (``LiveRows``)."""
        P, R = row_cells.shape
        if shared is not None:
            ll = prec.w.logits_shared(starts, node.layer, stage, shared, C, class_major=self.categorical)
        else:
            cells = row_cells.unsqueeze(1).expand(P, C, R).reshape(P, C * R)
            ll = prec.w.logits_at(starts, node.layer, stage, cells, class_major=self.categorical, live=live)
        # cells come out position-major: regroup to [C, K]
        return _class_major(ll, row_cells, C) if self.categorical else _by_config(ll, row_cells, C)

    #: recompute a whole micro-batch in float64 (through the same batched path) instead of its unsure
    #: rows one config at a time, when at least this share of its rows hold an unsure cell. A compiled
    #: HL model's outputs are mostly exact ties (where its program gives None), so nearly every row of
    #: its runs is unsure: case 21's HL reference effects took 12 s one config at a time, 7 s batched
    #: (5 s now that ``TIED_SHARE`` starts such a model in float64).
    FULL_REDO_SHARE = 0.5

    def _mostly_unsure(self, unsure, cell_rows, R: int) -> bool:
        """Do at least ``FULL_REDO_SHARE`` of the micro-batch's C x R rows hold an unsure cell? (``cell_rows``:
        each cell's row.)"""
        import torch

        if not bool(unsure.any()):
            return False
        C = unsure.shape[0]
        per_row = torch.zeros(C, R, device=unsure.device).index_add_(1, cell_rows, unsure.float())
        return int((per_row > 0).sum()) >= self.FULL_REDO_SHARE * C * R

    def _verify(self, node, stage, terms, lams, b, s, row_cells, cell_rows, unsure, wrong) -> None:
        """Recompute in float64 the rows holding cells too close to the threshold to trust float32
        (``unsure`` [C, K]) and put their float64 decisions into ``wrong``."""
        import torch

        if not bool(unsure.any()):
            return
        self.verified_cells += int(unsure.sum())
        for c in unsure.any(dim=1).nonzero()[:, 0].tolist():
            rows = cell_rows[unsure[c]].unique()
            keep = torch.zeros(len(b), dtype=torch.bool, device=self.device)
            keep[rows] = True
            sub_cells = row_cells[:, rows]
            lam = torch.tensor([lams[c]], dtype=torch.float64, device=self.device)
            redo = self.f64.w.logits_at(terms.rows(b[rows], s[rows]).starts(lam), node.layer, stage, sub_cells)
            redo_wrong = metrics.disagrees(redo, self.hl_pm[:, b[rows]][sub_cells], self.categorical)
            picked = keep[cell_rows]  # the recomputed rows' cells, in the same (position, row) order
            wrong[c, picked] = torch.where(unsure[c, picked], redo_wrong, wrong[c, picked])

    def run_node(self, node: Node, configs: list[Ablation], projection: Projection | None = None):
        """int64 tensor [len(configs)] of flipped cells; for categorical tasks, float64 tensor of summed
        normalised KL (else None); int64 tensor of iit's right-before-wrong-after cells (-1 where the
        setting depends on the source); all on the device."""
        import torch

        projs = {p.dtype: projection.to(self.device, p.dtype) if projection is not None else None
                 for p in (self.f32, self.f64)}
        flipped = torch.zeros(len(configs), dtype=torch.int64, device=self.device)
        iit = torch.full((len(configs),), -1, dtype=torch.int64, device=self.device)  # -1: not a base-only setting
        kl = torch.zeros(len(configs), dtype=torch.float64, device=self.device) if self.categorical else None
        first: dict[tuple[str, float], int] = {}
        base_jobs, pair_jobs = [], []
        for i, cfg in enumerate(configs):
            key = (cfg.mode, 0.0 if cfg.mode == "zero" else cfg.scale)  # zero ablation ignores the scale
            if key in first:
                continue
            first[key] = i
            # at scale 0 a source-dependent mode no longer depends on the source
            (pair_jobs if cfg.mode in modes.SOURCE_MODES and cfg.scale != 0.0 else base_jobs).append(i)
        iit[base_jobs] = 0
        self._base_only(node, configs, projs, flipped, kl, base_jobs, iit)
        self._pairs(node, configs, projs, flipped, kl, pair_jobs)
        for i, cfg in enumerate(configs):
            key = (cfg.mode, 0.0 if cfg.mode == "zero" else cfg.scale)
            if first[key] != i:
                flipped[i] = flipped[first[key]]
                iit[i] = iit[first[key]]
                if kl is not None:
                    kl[i] = kl[first[key]]
        return flipped, kl, iit

    def run(self, nodes: list[Node], configs: list[Ablation], projections: dict[Node, Projection] | None = None) -> ModelResult:
        """All nodes x configs; a single device-to-host copy at the end."""
        import torch

        projections = projections or {}
        needs_pca = any(c.mode in modes.PCA_MODES for c in configs)
        per_node, per_node_kl, per_node_iit = [], [], []
        for node in nodes:
            if needs_pca and node not in projections:
                raise AblationError(f"no PCA directions for node {node.name}")
            self._check_node(node)
            flipped, kl, iit = self.run_node(node, configs, projections.get(node))
            per_node.append(flipped)
            per_node_kl.append(kl)
            per_node_iit.append(iit)
        table = torch.stack(per_node).cpu().tolist() if per_node else []
        iit_table = torch.stack(per_node_iit).cpu().tolist() if per_node else []
        kl_table = torch.stack(per_node_kl).cpu().tolist() if per_node and self.categorical else None
        counts, kl_sums, iit_flipped = {}, {} if self.categorical else None, {}
        for i, (node, row) in enumerate(zip(nodes, table)):
            for j, (cfg, flipped) in enumerate(zip(configs, row)):
                counts[(node, cfg.mode, cfg.scale)] = (int(flipped), self.counted_total)
                if iit_table[i][j] >= 0:
                    iit_flipped[(node, cfg.mode, cfg.scale)] = int(iit_table[i][j])
                if kl_sums is not None:
                    kl_sums[(node, cfg.mode, cfg.scale)] = float(kl_table[i][j])
        return ModelResult(counts, int(self.clean_wrong.sum()), int(self.clean_wrong.numel()), self.counted_total, kl_sums,
                           iit_flipped)


def estimate_bytes(n_inputs: int, seq_len: int, d_model: int, memory_budget_mb: int) -> int:
    """Memory one model's sweep needs beyond its micro-batches: the pair grid (label-change mask, pair
    index) and the per-input terms, plus the micro-batch budget itself."""
    pairs = n_inputs * n_inputs
    grid = pairs * (seq_len - 1) * (1 + 8) + pairs * 2 * 8 * 2  # bool mask and KL weights; (base, source) index, and a copy
    per_input = n_inputs * seq_len * d_model * 8 * 8  # cached residuals and terms, float32 and float64
    return grid + per_input + memory_budget_mb * 2**20


def _by_config(ll, row_cells, C: int):
    """Logits of C stacked configs, selected position-major from [P, C, R], as [C, K] with each
    config's K cells in (position, row) order."""
    import torch

    parts, start = [], 0
    for n in row_cells.sum(dim=1).tolist():  # cells per position, the same for every config
        parts.append(ll[start:start + C * n].view(C, n, ll.shape[-1]))
        start += C * n
    return torch.cat(parts, dim=1)


def _class_major(ll, row_cells, C: int):
    """Class-major logits [V, C * K] of C stacked configs, selected position-major from [P, C, R], as
    float64 [V, C, K] with each config's K cells in (position, row) order: ``_by_config``'s regrouping
    and the float64 conversion in one pass. Classes first, so that every per-cell step over the
    classes is an elementwise operation on long vectors (rows of 2-11 classes made argmax, topk and
    log_softmax cost 5-10 ns per logit). The KL terms need float64: a cell's (nll - clean) is divided
    by (kl_corrupt - kl_clean), which can be tiny, and a float32 log-sum-exp moved case 8's KL sums by
    1e-4 relative."""
    import torch

    per_position = row_cells.sum(dim=1).tolist()
    V = ll.shape[0]
    out = torch.empty(V, C, sum(per_position), dtype=torch.float64, device=ll.device)
    start = col = 0
    for n in per_position:  # cells per position, the same for every config
        if n:
            out[:, :, col:col + n].copy_(ll[:, start:start + C * n].view(V, C, n))
        start += C * n
        col += n
    return out


#: exponents below this are clamped to it in ``_label_nll``: exp(-700) is 1e-304, which vanishes next
#: to the top class's exp(0) = 1 in the sum, while torch's exp takes a slow path (6x) wherever the result
#: underflows, and trained models' logit gaps reach -700,000 (case 14)
EXP_FLOOR = -700.0


def _label_nll(logits, top, labels):
    """``metrics.label_nll`` on class-major logits [V, C, K] given their top logit [C, K]: logsumexp
    minus the label's logit, the sum running over the classes as elementwise adds. The gaps to the top
    are clamped at ``EXP_FLOOR`` (case 14's sweep: 2.97 -> ~0.7 s in this function, the same bits)."""
    lse = (logits - top).clamp_(min=EXP_FLOOR).exp_().sum(dim=0).log_().add_(top)
    return lse - logits.gather(0, labels.view(1, 1, -1).expand(1, logits.shape[1], -1)).squeeze(0)


def _fixed_order_sum(x, dim):
    """``x.sum(dim)`` in one thread: a parallel float reduction splits the terms by thread count, so its
    last bits (and the report's bytes) would depend on ``-n`` and the cores; one thread sums in a fixed order."""
    with one_thread():
        return x.sum(dim=dim)


@contextmanager
def one_thread():
    """torch on one thread inside, for kernels whose rounding depends on the thread count."""
    import torch

    threads = torch.get_num_threads()
    if threads == 1:
        yield
        return
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(threads)
