"""Strict Interchange Intervention Training (SIIT, as in InterpBench and the iit library), written for this project.

Each step draws a batch of (base, source) pairs and applies, as separate Adam updates in the
reference's order (``use_single_loss=False``):

* IIT loss: one HL node chosen at random; the HL runs on the base with that node patched from the
  source, the LL runs on the base with every LL node mapped to it patched from the source; MSE
  (regression) or cross-entropy (categorical) between the two outputs, times ``iit_weight``;
* strict loss: out-of-circuit LL nodes resample-ablated from the source (``siit_sampling``: one chosen
  at random, "individual", or each with probability 1/2, "sample_all", at least one); the LL output must
  still equal the HL output on the base, times ``strict_weight``;
* behaviour loss: the plain LL output against the HL output on the base, times ``behavior_weight``.

Negative controls come from the same code: ``strict_weight=0`` gives plain IIT, and IIT and strict
weights 0 give a naturally trained model. Pairs are split into train and held-out by a fixed hash of
their two input ids, so the reported accuracy, IIA and strict accuracy are measured on pairs never
trained on. Early stop when every active metric reaches ``early_stop`` percent. The learning rate is
constant or, as in InterpBench's "linear" LambdaLR, falls linearly to ``final_lr`` over ``max_steps``.
"""
from __future__ import annotations

import time
from dataclasses import asdict, dataclass
from typing import Any, Callable

from ...core import metrics
from ...core.cases import Case, check_circuit_fits_shape
from ...core.nodes import Node, all_nodes, parse_node
from ...errors import AblationError


@dataclass
class TrainArgs:
    iit_weight: float = 1.0
    behavior_weight: float = 1.0
    strict_weight: float = 0.4
    lr: float = 1e-2
    batch_size: int = 512
    max_steps: int = 4000
    clip_grad_norm: float = 0.1
    eval_every: int = 50
    early_stop: float = 99.5
    eval_pairs: int = 8192
    seed: int = 0
    single_loss: bool = False
    siit_sampling: str = "individual"
    lr_schedule: str = "constant"
    final_lr: float = 2e-4
    weight_decay: float = 0.0
    max_seconds: float = 0.0  # > 0: stop at the first evaluation after this much training time


SIIT_SAMPLING = ("individual", "sample_all")
LR_SCHEDULES = ("constant", "linear")


def ll_config(case: Case, hl_cfg, seed: int):
    """The LL model's config: the shape in case.json (InterpBench's rule, ``interpbench.ll_shape``, unless a
    departure is recorded there) with everything else inherited from the HL config, as InterpBench does."""
    from transformer_lens import HookedTransformerConfig

    spec = case.spec.get("ll_config", {})
    missing = [k for k in ("n_layers", "n_heads", "d_head", "d_model", "d_mlp") if k not in spec]
    if missing:
        raise AblationError(f"{case.dir / 'case.json'}: 'll_config' lacks {', '.join(missing)} (the LL shape to train)")
    check_circuit_fits_shape(case, spec["n_layers"], spec["n_heads"], "the LL shape in 'll_config'")
    return HookedTransformerConfig(
        n_layers=spec["n_layers"], n_heads=spec["n_heads"], d_head=spec["d_head"], d_model=spec["d_model"],
        d_mlp=spec["d_mlp"], act_fn=spec.get("act_fn", "gelu"), normalization_type=None,
        attention_dir=hl_cfg.attention_dir, n_ctx=hl_cfg.n_ctx, d_vocab=hl_cfg.d_vocab,
        d_vocab_out=hl_cfg.d_vocab_out, use_attn_result=True, use_split_qkv_input=True, use_hook_mlp_in=True,
        positional_embedding_type="standard", init_mode="gpt2",
        # InterpBench copies the HL initializer_range (0.8 / sqrt(HL d_model)) instead of recomputing it.
        initializer_range=spec.get("initializer_range", hl_cfg.initializer_range), seed=seed, device="cpu",
    )


class InputSpace:
    """Every full-length input of a case, addressed by an integer id (the body read as a number in base
    |vocab|), so that pairs can be sampled and split without enumerating large spaces."""

    def __init__(self, case: Case) -> None:
        import torch

        ordered = sorted(case.vocab, key=lambda t: case.encoding[t])
        self.token_ids = torch.tensor([case.encoding[t] for t in ordered])
        self.length = case.max_seq_len - 1
        self.size = len(ordered) ** self.length
        self.bos = case.encoding["BOS"]

    def sample(self, n: int, gen):
        import torch

        if self.size < 2**62:
            return torch.randint(self.size, (n,), generator=gen, dtype=torch.int64)
        raise AblationError(f"{self.size} possible inputs: the trainer addresses inputs by int64 ids, at most 2**62")

    def tokens(self, ids):
        """Token ids [n, 1 + length] (BOS first) of input ids [n]."""
        import torch

        digits = []
        rest = ids.clone()
        base = len(self.token_ids)
        for _ in range(self.length):
            digits.append(rest % base)
            rest = rest // base
        body = self.token_ids[torch.stack(digits[::-1], dim=1)]
        return torch.cat([torch.full((len(ids), 1), self.bos, dtype=torch.long), body], dim=1)


_MIX = (0x5851F42D4C957F2D, 0x14057B7EF767814F, 0x2545F4914F6CDD1D)  # odd 64-bit constants (int64-safe)


def is_held_out(base_ids, source_ids):
    """A fixed 20% of all (base, source) pairs, never trained on: a 64-bit mixing hash of the two input
    ids (int64 tensors; products wrap), so that no digit of an input decides it. (A linear rule such as
    ``7919 b + 104729 s = 0 mod 5`` reduces to ``b + s = 0 mod 5``: with 5 tokens, the last ones.)"""
    import torch

    h = base_ids.long() * _MIX[0] + source_ids.long() * _MIX[1] + _MIX[2]
    h = h ^ (h >> 29)
    h = h * _MIX[0]
    h = h ^ (h >> 32)
    return torch.remainder(h, 5) == 0


def _patch_hook(node: Node, source_cache):
    def hook(act, hook):  # noqa: ARG001
        src = source_cache[node.hook]
        if node.is_mlp:
            return src
        out = act.clone()
        out[:, :, node.head] = src[:, :, node.head]
        return out

    return hook


class SIITTrainer:
    """Trains an LL model against a frozen HL model; see the module docstring."""

    def __init__(self, case: Case, hl_model, args: TrainArgs, init_state: dict[str, Any] | None = None) -> None:
        import torch
        from transformer_lens import HookedTransformer

        self.case, self.hl, self.args = case, hl_model.float(), args
        self.hl.requires_grad_(False)
        torch.manual_seed(args.seed)
        self.ll = HookedTransformer(ll_config(case, hl_model.cfg, args.seed), move_to_device=False)
        self.continued = init_state is not None  # its starting weights are a candidate to keep (step 0)
        if init_state is not None:  # continue a saved model (its Adam state is not stored: the optimiser starts afresh)
            self.ll.load_state_dict(init_state, strict=False)
        # several HL labels written by one component are one intervention: keep each (HL node, LL nodes) once
        unique = {(hl, tuple(lls)) for hl, lls in case.correspondence().values()}
        self.corr = {f"{hl}->{','.join(n.full_name for n in lls)}": (parse_node(hl), list(lls)) for hl, lls in sorted(unique)}
        circuit = case.circuit()
        self.out_of_circuit = [n for n in all_nodes(self.ll.cfg.n_layers, self.ll.cfg.n_heads) if n not in circuit]
        self.space = InputSpace(case)
        self.gen = torch.Generator().manual_seed(args.seed)
        self.categorical = case.is_categorical
        # weight decay (AdamW) is this trainer's addition; InterpBench uses plain Adam (weight_decay 0)
        self.opt = (torch.optim.AdamW(self.ll.parameters(), lr=args.lr, weight_decay=args.weight_decay)
                    if args.weight_decay > 0 else torch.optim.Adam(self.ll.parameters(), lr=args.lr))
        self.sched = None
        if args.lr_schedule == "linear":
            end = min(1.0, args.final_lr / args.lr)
            span = max(1, args.max_steps - 1)
            self.sched = torch.optim.lr_scheduler.LambdaLR(self.opt, lambda k: 1.0 - (1.0 - end) * min(k, span) / span)
        val = self._sample_pairs(args.eval_pairs, held_out=True, gen=torch.Generator().manual_seed(args.seed + 1))
        self.val_pairs = val

    # -- data -------------------------------------------------------------------------------------
    def _sample_pairs(self, n: int, held_out: bool, gen=None):
        """[n, 2] input ids of (base, source) pairs on one side of the train / held-out split."""
        import torch

        gen = gen or self.gen
        chunks, have = [], 0
        while have < n:
            b, s = self.space.sample(2 * n, gen), self.space.sample(2 * n, gen)
            keep = is_held_out(b, s) == held_out
            chunks.append(torch.stack([b[keep], s[keep]], 1))
            have += int(keep.sum())
        return torch.cat(chunks)[:n]

    def _hl_out(self, tokens):
        import torch

        with torch.no_grad():
            return metrics.hl_labels_output(self.hl(tokens), self.categorical)

    # -- losses -----------------------------------------------------------------------------------
    def _loss(self, out, target):
        import torch.nn.functional as F

        out, target = out[:, 1:], target[:, 1:]
        if self.categorical:
            return F.cross_entropy(out.reshape(-1, out.shape[-1]), target.argmax(-1).reshape(-1))
        return F.mse_loss(out, target)

    def _hl_interchange(self, hl_node: Node, base, source):
        import torch

        with torch.no_grad():
            _, cache = self.hl.run_with_cache(source, names_filter=hl_node.hook)
            out = self.hl.run_with_hooks(base, fwd_hooks=[(hl_node.hook, _patch_hook(hl_node, cache))])
            return metrics.hl_labels_output(out, self.categorical)

    def _ll_patched(self, nodes: list[Node], base, source, cache=None):
        import torch

        if cache is None:
            with torch.no_grad():
                _, cache = self.ll.run_with_cache(source, names_filter=lambda n: n.endswith(("hook_result", "hook_post")))
        return self.ll.run_with_hooks(base, fwd_hooks=[(n.hook, _patch_hook(n, cache)) for n in nodes])

    def _losses(self, base, source, which: str):
        import torch

        a = self.args
        if which == "iit":
            names = list(self.corr)
            hl_node, ll_nodes = self.corr[names[int(torch.randint(len(names), (1,), generator=self.gen))]]
            target = self._hl_interchange(hl_node, base, source)
            return a.iit_weight * self._loss(self._ll_patched(ll_nodes, base, source), target)
        if which == "strict":
            return a.strict_weight * self._loss(self._ll_patched(self._strict_nodes(), base, source), self._hl_out(base))
        return a.behavior_weight * self._loss(self.ll(base), self._hl_out(base))

    def _strict_nodes(self) -> list[Node]:
        """The out-of-circuit nodes ablated in one strict update (iit's ``siit_sampling``)."""
        import torch

        nodes = self.out_of_circuit
        if self.args.siit_sampling == "sample_all":
            keep = torch.rand(len(nodes), generator=self.gen) < 0.5
            if not bool(keep.any()):
                keep[int(torch.randint(len(nodes), (1,), generator=self.gen))] = True
            return [n for n, k in zip(nodes, keep.tolist()) if k]
        return [nodes[int(torch.randint(len(nodes), (1,), generator=self.gen))]]

    def active_losses(self) -> list[str]:
        a = self.args
        weights = {"iit": a.iit_weight, "strict": a.strict_weight, "behavior": a.behavior_weight}
        return [k for k in ("iit", "strict", "behavior") if weights[k] > 0 and (k != "strict" or self.out_of_circuit)]

    def _update(self, loss_fn: Callable[[], Any]) -> float:
        """One clipped optimiser step on the loss ``loss_fn`` builds (after zero_grad, so its graph is fresh)."""
        import torch

        self.opt.zero_grad()
        loss = loss_fn()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(self.ll.parameters(), self.args.clip_grad_norm)
        self.opt.step()
        return float(loss.detach())

    def step(self) -> dict[str, float]:
        import torch

        pairs = self._sample_pairs(self.args.batch_size, held_out=False)
        b, s = self.space.tokens(pairs[:, 0]), self.space.tokens(pairs[:, 1])
        self.ll.train()
        out = {}
        if self.args.single_loss:
            out["loss"] = self._update(lambda: sum(self._losses(b, s, k) for k in self.active_losses()))
        else:
            for kind in self.active_losses():
                out[kind] = self._update(lambda: self._losses(b, s, kind))
        if self.sched is not None:
            self.sched.step()
        return out

    # -- evaluation -------------------------------------------------------------------------------
    def _agree(self, out, target) -> float:
        return 100.0 * (1.0 - float(metrics.disagrees(out[:, 1:], target[:, 1:], self.categorical).float().mean()))

    def evaluate(self) -> dict[str, float]:
        """Accuracy, IIA (every HL node) and strict accuracy (every out-of-circuit node) on held-out pairs."""
        import torch

        self.ll.eval()
        base, source = self.space.tokens(self.val_pairs[:, 0]), self.space.tokens(self.val_pairs[:, 1])
        hl_base = self._hl_out(base)
        with torch.no_grad():
            _, cache = self.ll.run_with_cache(source, names_filter=lambda n: n.endswith(("hook_result", "hook_post")))
            acc = self._agree(self.ll(base), hl_base)
            iia = [self._agree(self._ll_patched(lls, base, source, cache), self._hl_interchange(hl, base, source))
                   for hl, lls in self.corr.values()]
            strict = [self._agree(self._ll_patched([n], base, source, cache), hl_base) for n in self.out_of_circuit]
        return {
            "accuracy": acc,
            "iia": sum(iia) / len(iia),
            "strict_accuracy": sum(strict) / len(strict) if strict else 100.0,
        }

    def stop_metrics(self) -> list[str]:
        names = ["accuracy"]
        if self.args.iit_weight > 0:
            names.append("iia")
        if self.args.strict_weight > 0:
            names.append("strict_accuracy")
        return names

    def train(self, progress: Callable[[int, dict], None] | None = None) -> dict[str, Any]:
        """Train until every active metric reaches ``early_stop`` or ``max_steps``; the weights kept are
        those of the evaluation whose worst active metric was best (training at lr 1e-2 can wander). A
        continued model's starting weights are evaluated first, as step 0: they may be the best there are
        (and if they already reach ``early_stop``, no step is taken)."""
        import copy

        start = time.perf_counter()
        evals, best, best_score, best_step = {}, None, -1.0, 0
        step = 0
        if self.continued:  # evaluation draws no random numbers: the steps after it are the same as without it
            evals = self.evaluate()
            best_score = min(evals[k] for k in self.stop_metrics())
            best = (copy.deepcopy(self.ll.state_dict()), dict(evals))
        for step in range(1, self.args.max_steps + 1) if best_score < self.args.early_stop else ():
            losses = self.step()
            if step % self.args.eval_every == 0 or step == self.args.max_steps:
                evals = self.evaluate()
                score = min(evals[k] for k in self.stop_metrics())
                if score > best_score:
                    best, best_score, best_step = (copy.deepcopy(self.ll.state_dict()), dict(evals)), score, step
                if progress:
                    progress(step, {**losses, **evals})
                if score >= self.args.early_stop:
                    break
                if self.args.max_seconds and time.perf_counter() - start > self.args.max_seconds:
                    break
            elif progress:
                progress(step, losses)
        if best is not None:
            self.ll.load_state_dict(best[0])
            evals = best[1]
        return {"steps": step, "kept_step": best_step, "seconds": round(time.perf_counter() - start, 1),
                **{k: round(v, 3) for k, v in evals.items()}}

    def meta(self, result: dict[str, Any], command: str) -> dict[str, Any]:
        """meta.json content: InterpBench's training-argument keys plus this trainer's own and the results."""
        import torch

        a = self.args
        return {
            "case": self.case.id,
            "torch_threads": torch.get_num_threads(),  # results are bit-identical for a given thread count
            "torch_version": torch.__version__,
            "model_pair": "strict" if a.strict_weight > 0 else "iit" if a.iit_weight > 0 else "natural",
            "iit_weight": a.iit_weight, "behavior_weight": a.behavior_weight, "strict_weight": a.strict_weight,
            "lr": a.lr, "batch_size": a.batch_size, "clip_grad_norm": a.clip_grad_norm, "atol": metrics.REGRESSION_ATOL,
            "use_single_loss": a.single_loss, "act_fn": self.ll.cfg.act_fn, "seed": a.seed,
            "max_steps": a.max_steps, "early_stop_accuracy_threshold": a.early_stop,
            "trainer": "pytest_circuit_ablation.tools.train.siit", "command": command,
            "held_out": "20% of all (base, source) pairs, chosen by a 64-bit mixing hash of their input ids (tools/train/siit.is_held_out); accuracy, IIA and strict accuracy are measured on held-out pairs only",
            "final_metrics": result, "args": asdict(a),
        }
