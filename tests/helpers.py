"""Small shared helpers for the tests (torch is imported by the tests that use them)."""
from __future__ import annotations

from pathlib import Path

from pytest_circuit_ablation.core.cases import builtin_cases_dir, load_case

CASE3 = builtin_cases_dir() / "3"
MODEL_NAMES = ("iit", "natural", "siit")


def case3():
    return load_case("3")


def model_dir(name: str) -> Path:
    return CASE3 / "models" / name


def interpbench_shaped_folder(root: Path, case_ids, seed: int = 0) -> Path:
    """A hub-layout folder (``<root>/<case>/ll_model.pth`` + ``ll_model_cfg.pkl`` + ``meta.json``, and
    ``benchmark_metadata.json`` at the root) with one untrained LL model per case, each configured as
    InterpBench configures its own: the case's HL config with the LL shape rule applied (so n_ctx,
    d_vocab and d_vocab_out are the HL's)."""
    import json
    import pickle

    import torch
    from transformer_lens import HookedTransformer, HookedTransformerConfig

    from pytest_circuit_ablation.core.interpbench import ll_shape

    root.mkdir(parents=True, exist_ok=True)
    entries = []
    for case_id in case_ids:
        case = load_case(case_id)
        cfg = json.loads((case.dir / "hl_model_cfg.json").read_text())
        cfg.update(ll_shape(case_id, cfg), act_fn="gelu", seed=seed, device="cpu", dtype=torch.float32)
        cfg.pop("n_params", None)
        torch.manual_seed(seed)
        model = HookedTransformer(HookedTransformerConfig(**cfg), move_to_device=False)
        folder = root / str(case_id)
        folder.mkdir()
        torch.save(model.state_dict(), folder / "ll_model.pth")
        (folder / "ll_model_cfg.pkl").write_bytes(pickle.dumps(model.cfg.to_dict()))
        meta = {"atol": 0.05, "lr": 0.01, "use_single_loss": False, "iit_weight": 1.0, "behavior_weight": 1.0,
                "strict_weight": 0.4, "epochs": 500, "act_fn": "gelu", "clip_grad_norm": 0.1, "lr_scheduler": ""}
        (folder / "meta.json").write_text(json.dumps(meta))
        entries.append({"case_id": str(case_id), "task_description": case.spec["interpbench"]["description"],
                        "vocab": sorted(case.vocab_values, key=str), "max_seq_len": case.max_seq_len,
                        "min_seq_len": 4, "training_args": meta})
    (root / "benchmark_metadata.json").write_text(json.dumps({"name": "InterpBench", "cases": entries}))
    return root
