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


def planted_constant_variant(root: Path, head: int = 1, size: float = 20.0) -> Path:
    """An InterpBench-layout folder holding case 3's SIIT model with one out-of-circuit head (L1H<head>)
    rewired to write a constant the output depends on, with the same function:

    the head's values become a fixed vector ``v`` (W_V = 0, b_V = v), so its ``hook_result`` is the same
    ``c = v W_O`` on every input and position whatever it attends to; the layer's output bias gives ``c``
    back (b_O -= c), so the residual stream only loses the head's old, irrelevant, varying part. ``v`` is
    chosen along what W_O and the unembedding read most, and large: remove or scale ``c`` (zero ablation,
    resample at a scale other than 1) and the output moves; swap it for itself (resample x 1) and nothing
    does. The diagnosis must call exactly this node constant-load-bearing."""
    import torch

    from pytest_circuit_ablation.core.hubfiles import load_ll_model, save_ll_model

    with torch.no_grad():
        model = load_ll_model(model_dir("siit"))
        attn = model.blocks[1].attn
        direction = attn.W_O[head] @ model.unembed.W_U[:, 0]
        v = size * direction / direction.norm()
        c = v @ attn.W_O[head]
        attn.W_V[head].zero_()
        attn.b_V[head].copy_(v)
        attn.b_O.sub_(c)
    save_ll_model(model, root / "3")
    return root
