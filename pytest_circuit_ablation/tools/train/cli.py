"""``circuit-ablation-train``: train one LL model of a case with the SIIT trainer and write it in
InterpBench's format (``ll_model.pth``, ``ll_model_cfg.pkl``, ``meta.json``).

A model is saved only when it reaches its targets (held-out accuracy, IIA and strict accuracy at
``--early-stop``); one that misses them is saved beside it as ``<name>.rejected`` (with ``--out DIR``, as
``DIR.rejected/<case>``, outside the folder the gate reads) and the command exits 1.
An existing model is never overwritten without ``--force``. The commands that produced the committed
models are in each model's meta.json.
"""

from __future__ import annotations

import argparse
import math
import re
import shlex
import sys
from pathlib import Path
from typing import Any, Callable

from ...core.cases import CASES_ENV, GATED, ROLES, check_case_matches_hl, load_case
from ...core.files import writable_problem
from ...errors import AblationError
from .siit import LR_SCHEDULES, SIIT_SAMPLING, SIITTrainer, TrainArgs

#: the installed package: a case inside it (a wheel's builtin_cases/) is not the user's to write into
PACKAGE_DIR = Path(__file__).resolve().parent.parent.parent

EXAMPLES = """examples:
  circuit-ablation-train 3 --name siit2
        train case 3 with SIIT into cases/3/models/siit2/ and register it in case.json (gated)
  circuit-ablation-train 3 --name iit2 --strict-weight 0 --role negative-control --why "IIT without the strict loss"
        a negative control: the gate must reject it
  circuit-ablation-train 21 --name siit --init-from cases/21/models/siit.rejected --lr 0.0005
        continue training a saved model (e.g. one that missed its targets) from its weights
  circuit-ablation-train 3 --out ./InterpBench
        write ./InterpBench/3/ (InterpBench's hub layout); gate it with
        pytest --pyargs pytest_circuit_ablation --ablation-models ./InterpBench
"""


def _model_name(text: str) -> str:
    """A model name is one folder name (it becomes cases/<case>/models/<name>/ and a case.json key)."""
    if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._-]*", text) or text.endswith(".rejected"):
        raise argparse.ArgumentTypeError(f"{text!r} is not a model name (letters, digits, '.', '_', '-'; "
                                         "not starting with '.' or '-', not ending in '.rejected')")
    return text


def _bounded(kind: type, low: float, strict: bool, high: float | None = None) -> Callable[[str], Any]:
    """An argparse type: a finite number of ``kind`` above ``low`` (at or above it when not ``strict``),
    and at most ``high``."""
    def convert(text: str) -> Any:
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not {'an integer' if kind is int else 'a number'}") from None
        if not math.isfinite(value):
            raise argparse.ArgumentTypeError(f"{text!r} is not a finite number")
        below = value <= low if strict else value < low
        if below or (high is not None and value > high):
            bound = f"above {low:g}" if strict else f"{low:g} or more"
            raise argparse.ArgumentTypeError(f"{text} must be {bound}" + (f" and at most {high:g}" if high is not None else ""))
        return value
    return convert


_POSITIVE_INT = _bounded(int, 0, strict=True)
_POSITIVE = _bounded(float, 0.0, strict=True)
_NONNEGATIVE = _bounded(float, 0.0, strict=False)


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="circuit-ablation-train", description=__doc__.split("\n\n")[0],
                                epilog=EXAMPLES, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("case", help="case id, e.g. 3")
    p.add_argument("--name", type=_model_name, default=None,
                   help="model name: writes cases/<case>/models/<name>/ and registers it in case.json (required "
                        "without --out; with --out, where the model is DIR/<case>, only a label)")
    p.add_argument("--out", type=Path, default=None,
                   help="write DIR/<case>/ in InterpBench's hub layout instead (gate it with --ablation-models DIR)")
    p.add_argument("--force", action="store_true", help="overwrite an existing model of that name")
    p.add_argument("--role", choices=ROLES, default=None,
                   help=f"what the gate expects of the model when registered in case.json (default: its role "
                        f"there, else {GATED})")
    p.add_argument("--why", default=None, help="for a negative control: why its gate must fail (default: its reason there)")
    p.add_argument("--cases-dir", type=Path, default=None, help="folder holding <case>/case.json (default: the built-in cases)")
    p.add_argument("--iit-weight", type=_NONNEGATIVE, default=None, help="IIT loss weight (default: case.json's train.iit_weight, else 1.0)")
    p.add_argument("--behavior-weight", type=_NONNEGATIVE, default=None, help="behaviour loss weight (default: case.json's, else 1.0)")
    p.add_argument("--strict-weight", type=_NONNEGATIVE, default=None, help="strict loss weight; 0 trains plain IIT (default: case.json's, else 0.4)")
    p.add_argument("--lr", type=_POSITIVE, default=None, help="Adam learning rate (default: case.json's, else 0.01)")
    p.add_argument("--batch-size", type=_POSITIVE_INT, default=512, help="pairs per step (default: %(default)s)")
    p.add_argument("--max-steps", type=_POSITIVE_INT, default=4000, help="steps at most (default: %(default)s)")
    p.add_argument("--max-seconds", type=_NONNEGATIVE, default=0.0,
                   help="stop at the first evaluation after this much training time; 0: no limit (default: %(default)s)")
    p.add_argument("--clip-grad-norm", type=_POSITIVE, default=0.1, help="gradient norm clip (default: %(default)s)")
    p.add_argument("--eval-every", type=_POSITIVE_INT, default=50, help="steps between held-out evaluations (default: %(default)s)")
    p.add_argument("--eval-pairs", type=_POSITIVE_INT, default=8192, help="held-out pairs per evaluation (default: %(default)s)")
    p.add_argument("--early-stop", type=_bounded(float, 0.0, strict=True, high=100.0), default=99.5,
                   help="target: stop when every active metric reaches this percentage (default: %(default)s)")
    p.add_argument("--seed", type=int, default=0, help="seed of initialisation and sampling (default: %(default)s)")
    p.add_argument("--single-loss", action="store_true", help="one update on the summed losses instead of three")
    p.add_argument("--siit-sampling", choices=SIIT_SAMPLING, default="individual",
                   help="out-of-circuit nodes per strict update: one at random, or each with probability 1/2 (default: %(default)s)")
    p.add_argument("--lr-schedule", choices=LR_SCHEDULES, default="constant",
                   help="linear: fall to --final-lr over --max-steps (InterpBench's LambdaLR) (default: %(default)s)")
    p.add_argument("--final-lr", type=_NONNEGATIVE, default=2e-4, help="last learning rate of the linear schedule (default: %(default)s)")
    p.add_argument("--weight-decay", type=_NONNEGATIVE, default=0.0, help="AdamW weight decay; 0 is plain Adam, as InterpBench (default: %(default)s)")
    p.add_argument("--init-from", type=Path, default=None, metavar="DIR",
                   help="start from the weights of a saved LL model folder of this case (InterpBench layout) "
                        "instead of a fresh initialisation; its meta.json is kept in the new one's")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    return p


def main(argv: list[str] | None = None) -> int:
    raw = sys.argv[1:] if argv is None else argv
    parser = _parser()
    args = parser.parse_args(raw)
    if args.name is None and args.out is None:
        parser.error("--name is required unless --out DIR is given")
    try:
        import torch

        from ...core.hubfiles import load_hl_model

        torch.set_num_threads(max(1, torch.get_num_threads()))
        if args.out and (args.role or args.why):
            raise AblationError("--role and --why register the model in a case.json; a model written with --out is "
                                "not registered (its gate role is 'gated' under --ablation-models)")
        if args.cases_dir is not None and not args.cases_dir.is_dir():
            raise AblationError(f"--cases-dir {args.cases_dir}: {'not a folder' if args.cases_dir.exists() else 'no such folder'}")
        case = load_case(args.case, args.cases_dir)
        if not args.out and case.dir.resolve().is_relative_to(PACKAGE_DIR):
            raise AblationError(f"case {case.id} is the installed package's own copy ({case.dir}): pass --out DIR to "
                                "save the model elsewhere, then gate it with --ablation-models DIR")
        hub = args.out.resolve() if args.out else None  # resolved: '--out .' has a name for its .rejected sibling
        if hub is not None and not hub.name:
            raise AblationError(f"--out {args.out}: the filesystem root cannot hold a hub folder's .rejected sibling")
        out = (hub / case.id) if hub else case.dir / "models" / args.name
        # a model that misses its targets goes beside the good one, but never inside a hub folder, where the
        # gate would take it for a case
        rejected = (hub.with_name(hub.name + ".rejected") / case.id) if hub else out.with_name(out.name + ".rejected")
        if (out / "ll_model.pth").exists() and not args.force:
            raise AblationError(f"{out} already holds a model; choose another {'--out' if args.out else '--name'} or pass --force")
        for folder in dict.fromkeys((out.parent, rejected.parent)):  # before the training, not after it
            problem = writable_problem(folder)
            if problem:
                raise AblationError(f"{'--out' if args.out else '--name'}: {problem}")
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
            max_seconds=args.max_seconds,
        )
        hl = load_hl_model(case.dir, dtype="float32")
        check_case_matches_hl(case, hl)
        init_state, init_record = _initial_weights(args.init_from, case, hl) if args.init_from else (None, None)
        trainer = SIITTrainer(case, hl, targs, init_state)
        bar = None
        if not args.no_progress:
            from tqdm import tqdm

            bar = tqdm(total=targs.max_steps, desc=f"case {case.id} {args.name or args.out.name}", unit="step")

        def progress(step: int, info: dict) -> None:
            if bar is not None:
                bar.update(1)
                bar.set_postfix({k: f"{v:.3g}" for k, v in info.items()}, refresh=False)

        result = trainer.train(progress)
        if bar is not None:
            bar.close()
        meta = trainer.meta(result, "circuit-ablation-train " + shlex.join(raw))
        if init_record is not None:
            meta["init_from"] = init_record
        missed = [k for k in trainer.stop_metrics() if result.get(k, 0.0) < targs.early_stop]
        if missed:
            _save(trainer.ll, rejected, meta, case.id)
            print(f"error: {', '.join(missed)} below {targs.early_stop}% after {result['steps']} steps: {result}; "
                  f"saved as {rejected}, not as {out}", file=sys.stderr)
            return 1
        _save(trainer.ll, out, meta, case.id)
        print(f"wrote {out}: {result}")
        where = f"{CASES_ENV}={shlex.quote(str(args.cases_dir))} " if args.cases_dir is not None else ""
        if args.out:
            print(f"gate it with: {where}pytest --pyargs pytest_circuit_ablation --ablation-models {shlex.quote(str(args.out))}")
        else:
            role = register_model(case, args.name, args.role, args.why)
            print(f"registered in {case.dir / 'case.json'} as {role}; gate it with: "
                  f"{where}pytest --pyargs pytest_circuit_ablation --ablation-tasks {case.id}")
    except AblationError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0


def _save(model, folder: Path, meta: dict, case_id: str) -> None:
    """Write the model in InterpBench's layout. An ``edges.pkl`` left in the folder (by the model that
    ``--force`` replaces) goes: the gate would judge this model, trained on its case's own
    correspondence, against that file's circuit."""
    from ...core.hubfiles import EDGES_FILE, save_ll_model

    save_ll_model(model, folder, meta)
    stale = folder / EDGES_FILE
    if stale.exists():
        stale.unlink()
        print(f"removed {stale}: the replaced model's circuit (this model follows case {case_id}'s correspondence)")


def _initial_weights(folder: Path, case, hl) -> tuple[dict, dict]:
    """The state dict of a saved model to continue, checked against the shape this case's LL model has,
    and what its meta.json says about how it was made (so the new meta.json records the whole chain)."""
    import json

    from ...core.hubfiles import META_FILE, load_ll_model, model_hash
    from .siit import ll_config

    try:
        model = load_ll_model(folder, dtype="float32")
    except AblationError as exc:
        raise AblationError(f"--init-from: {exc}") from None
    want = ll_config(case, hl.cfg, 0)
    for field in ("n_layers", "n_heads", "d_head", "d_model", "d_mlp", "n_ctx", "d_vocab", "d_vocab_out", "attention_dir"):
        have, need = getattr(model.cfg, field), getattr(want, field)
        if have != need:
            raise AblationError(f"--init-from {folder}: {field} is {have}, case {case.id}'s LL model has {need}")
    try:
        before = json.loads((folder / META_FILE).read_text())
    except (OSError, ValueError):
        before = {}
    record = {"folder": str(folder), "model_hash": model_hash(folder),
              **{k: before[k] for k in ("command", "final_metrics", "init_from") if k in before}}
    return model.state_dict(), record


def register_model(case, name: str, role: str | None, why: str | None) -> str:
    """Add (or update) the model's entry in case.json, so the plugin gates it; return its role. A model
    trained again keeps its role and reason unless ``role`` or ``why`` is given (a negative control
    retrained with ``--force`` must not silently become gated), and any key of its own; a "not trained"
    mark and a shortfall go."""
    import json

    path = case.dir / "case.json"
    spec = json.loads(path.read_text())
    old = spec.get("models", {}).get(name, {})
    # keys of its own (a note someone wrote) stay; what described the replaced training goes: a "not trained"
    # mark and a shortfall (this model met its targets, or it would not be registered)
    entry = {k: v for k, v in old.items() if k not in ("role", "why", "status", "shortfall")}
    entry["role"] = role or old.get("role", GATED)
    kept_why = old.get("why") if old.get("status") != "not-trained" and entry["role"] == old.get("role") else None
    if why or kept_why:
        entry["why"] = why or kept_why
    spec.setdefault("models", {})[name] = entry
    spec["models"] = dict(sorted(spec["models"].items()))
    path.write_text(json.dumps(spec, indent=2, ensure_ascii=False) + "\n")
    return entry["role"]


if __name__ == "__main__":
    sys.exit(main())
