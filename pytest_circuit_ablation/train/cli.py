"""``circuit-ablation-train``: train one LL model of a case with the SIIT trainer and write it in
InterpBench's format (``ll_model.pth``, ``ll_model_cfg.pkl``, ``meta.json``).

Examples (the commands that produced the committed models are in each model's meta.json)::

    circuit-ablation-train 3 --name siit
    circuit-ablation-train 3 --name iit --strict-weight 0
    circuit-ablation-train 3 --name natural --iit-weight 0 --strict-weight 0
"""
from __future__ import annotations

import argparse
import shlex
import sys
from pathlib import Path

from ..cases import load_case
from ..errors import AblationError
from .siit import LR_SCHEDULES, SIIT_SAMPLING, SIITTrainer, TrainArgs


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="circuit-ablation-train", description=__doc__.splitlines()[0])
    p.add_argument("case", help="case id, e.g. 3")
    p.add_argument("--name", required=True, help="model name: writes cases/<case>/models/<name>/")
    p.add_argument("--out", type=Path, default=None, help="write here instead of the case's models folder")
    p.add_argument("--cases-dir", type=Path, default=None)
    p.add_argument("--iit-weight", type=float, default=None)
    p.add_argument("--behavior-weight", type=float, default=None)
    p.add_argument("--strict-weight", type=float, default=None)
    p.add_argument("--lr", type=float, default=None)
    p.add_argument("--batch-size", type=int, default=512)
    p.add_argument("--max-steps", type=int, default=4000)
    p.add_argument("--clip-grad-norm", type=float, default=0.1)
    p.add_argument("--eval-every", type=int, default=50)
    p.add_argument("--eval-pairs", type=int, default=8192, help="held-out pairs per evaluation")
    p.add_argument("--early-stop", type=float, default=99.5, help="stop when every active metric reaches this (percent)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--single-loss", action="store_true", help="one update on the summed losses instead of three")
    p.add_argument("--siit-sampling", choices=SIIT_SAMPLING, default="individual",
                   help="out-of-circuit nodes per strict update: one at random, or each with probability 1/2")
    p.add_argument("--lr-schedule", choices=LR_SCHEDULES, default="constant",
                   help="linear: fall to --final-lr over --max-steps (InterpBench's LambdaLR)")
    p.add_argument("--final-lr", type=float, default=2e-4)
    p.add_argument("--weight-decay", type=float, default=0.0, help="AdamW weight decay (0: plain Adam, as InterpBench)")
    p.add_argument("--no-progress", action="store_true")
    return p


def main(argv: list[str] | None = None) -> int:
    raw = sys.argv[1:] if argv is None else argv
    args = _parser().parse_args(raw)
    try:
        import torch

        from ..models import load_hl_model, save_ll_model

        torch.set_num_threads(max(1, torch.get_num_threads()))
        case = load_case(args.case, args.cases_dir)
        defaults = case.spec.get("train", {})
        pick = lambda given, key, fallback: given if given is not None else defaults.get(key, fallback)  # noqa: E731
        targs = TrainArgs(
            iit_weight=pick(args.iit_weight, "iit_weight", 1.0),
            behavior_weight=pick(args.behavior_weight, "behavior_weight", 1.0),
            strict_weight=pick(args.strict_weight, "strict_weight", 0.4),
            lr=pick(args.lr, "lr", 1e-2), batch_size=args.batch_size, max_steps=args.max_steps,
            clip_grad_norm=args.clip_grad_norm, eval_every=args.eval_every, eval_pairs=args.eval_pairs, early_stop=args.early_stop,
            seed=args.seed, single_loss=args.single_loss, siit_sampling=args.siit_sampling,
            lr_schedule=args.lr_schedule, final_lr=args.final_lr, weight_decay=args.weight_decay,
        )
        hl = load_hl_model(case.dir, dtype="float32")
        trainer = SIITTrainer(case, hl, targs)
        bar = None
        if not args.no_progress:
            from tqdm import tqdm

            bar = tqdm(total=targs.max_steps, desc=f"case {case.id} {args.name}", unit="step")

        def progress(step: int, info: dict) -> None:
            if bar is not None:
                bar.update(1)
                bar.set_postfix({k: f"{v:.3g}" for k, v in info.items()}, refresh=False)

        result = trainer.train(progress)
        if bar is not None:
            bar.close()
        out = args.out or case.dir / "models" / args.name
        save_ll_model(trainer.ll, out, trainer.meta(result, "circuit-ablation-train " + shlex.join(raw)))
        print(f"wrote {out}: {result}")
        missed = [k for k in trainer.stop_metrics() if result.get(k, 0.0) < targs.early_stop]
        if missed:
            print(f"warning: {', '.join(missed)} below {targs.early_stop}% after {result['steps']} steps", file=sys.stderr)
            return 1
    except AblationError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
