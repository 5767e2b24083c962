"""RASP -> tracr -> TransformerLens: compile a case's high-level model (needs the ``compile`` extra).

``circuit-ablation-compile 3`` (or ``python -m pytest_circuit_ablation.tools.compile 3``) compiles
``cases/3/program.py`` with tracr, converts the weights to a ``HookedTransformer`` with the case's pinned
token encoding, checks its logits against tracr's and tracr's outputs against the program's own RASP
evaluation (and ``reference()``) on every input or a seeded sample, and writes ``hl_model.pth``,
``hl_model_cfg.json`` and ``tracr_layout.json`` (which block writes which residual direction: the
source of the correspondence). Evaluation never needs JAX: it reads the stored files.
"""
from __future__ import annotations

import argparse
import itertools
import json
import sys
from pathlib import Path
from typing import Any

from ..core.cases import Case, load_case
from ..errors import AblationError
from ..core.hubfiles import HL_CFG_FILE, LAYOUT_FILE, save_hl_model



def compile_program(case: Case):
    """Compile the case's RASP program; RASP ids are reset first so residual labels are reproducible."""
    from tracr.compiler import compiling
    from tracr.rasp import rasp

    rasp.RASPExpr._ids = itertools.count(1)
    make = case.function("program")
    try:
        program = make()
    except Exception as exc:  # the case author's code
        raise AblationError(f"{case.dir / 'program.py'}: program() raised {type(exc).__name__}: {exc}") from None
    if not isinstance(program, rasp.SOp):
        raise AblationError(f"{case.dir / 'program.py'}: program() returned {type(program).__name__}, not a RASP SOp")
    try:
        assembled = compiling.compile_rasp_to_model(
            program,
            vocab=set(case.vocab_values),
            max_seq_len=case.max_seq_len - 1,  # tracr's length excludes BOS
            compiler_bos="BOS",
            compiler_pad="PAD",
            causal=case.causal,
        )
    except Exception as exc:  # tracr runs the program's own functions on every value while compiling
        raise AblationError(f"{case.dir / 'program.py'}: tracr could not compile program() "
                            f"({type(exc).__name__}: {' '.join(str(exc).split())})") from None
    return program, assembled


def _layout(program, assembled, n_heads: int, d_head: int) -> dict[str, Any]:
    """Which residual directions each head and MLP writes (non-zero output weights)."""
    import numpy as np

    labels = list(assembled.residual_labels)
    writes: dict[str, list[str]] = {}
    layer = 0
    for name, params in assembled.params.items():
        if not name.startswith("transformer/layer_"):
            continue
        layer = int(name.split("/")[1].split("_")[1])
        w = np.asarray(params["w"])
        if name.endswith("attn/linear"):
            for head in range(n_heads):
                rows = w[head * d_head:(head + 1) * d_head]
                cols = np.nonzero(np.abs(rows).sum(axis=0) > 0)[0]
                if len(cols):
                    writes[f"blocks.{layer}.attn.hook_result[{head}]"] = [labels[c] for c in cols]
        elif name.endswith("mlp/linear_2"):
            cols = np.nonzero(np.abs(w).sum(axis=0) > 0)[0]
            if len(cols):
                writes[f"blocks.{layer}.mlp.hook_post"] = [labels[c] for c in cols]
    out_label = program.label
    classes = None
    encoder = assembled.output_encoder
    if getattr(encoder, "encoding_map", None):
        classes = [v for v, _ in sorted(encoder.encoding_map.items(), key=lambda kv: kv[1])]
    return {"residual_labels": labels, "writes": writes, "output_label": out_label, "output_classes": classes}


def input_encoding(assembled) -> dict[str, int]:
    """tracr's token ids (its sorted order of the vocabulary with BOS and PAD), keyed by token string."""
    return {str(value): int(i) for value, i in assembled.input_encoder.encoding_map.items()}


def to_hooked_transformer(case: Case, program, assembled):
    """Convert tracr weights to a TransformerLens model with tracr's own token ids, which are the ids
    InterpBench's models are trained on; case.json must state the same ids."""
    import numpy as np
    import torch
    from transformer_lens import HookedTransformer, HookedTransformerConfig

    cfg_t = assembled.model_config
    params = {k: {kk: np.asarray(vv, dtype=np.float32) for kk, vv in v.items()} for k, v in assembled.params.items()}
    labels = list(assembled.residual_labels)
    d_model = len(labels)
    layout = _layout(program, assembled, cfg_t.num_heads, cfg_t.key_size)
    if case.output == "regression":
        out_dirs = [labels.index(layout["output_label"])]
    else:
        out_dirs = [labels.index(f"{layout['output_label']}:{c}") for c in layout["output_classes"]]

    w_e = params["token_embed"]["embeddings"]

    cfg = HookedTransformerConfig(
        n_layers=cfg_t.num_layers, n_heads=cfg_t.num_heads, d_head=cfg_t.key_size, d_model=d_model,
        d_mlp=cfg_t.mlp_hidden_size, act_fn="relu", normalization_type=None,
        attention_dir="causal" if case.causal else "bidirectional",
        n_ctx=params["pos_embed"]["embeddings"].shape[0], d_vocab=w_e.shape[0], d_vocab_out=len(out_dirs),
        use_attn_result=True, use_split_qkv_input=True, use_hook_mlp_in=True, device="cpu", seed=0,
    )
    model = HookedTransformer(cfg, move_to_device=False)
    H, dh = cfg.n_heads, cfg.d_head
    sd = {"embed.W_E": w_e, "pos_embed.W_pos": params["pos_embed"]["embeddings"]}
    w_u = np.zeros((d_model, len(out_dirs)), dtype=np.float32)
    for j, r in enumerate(out_dirs):
        w_u[r, j] = 1.0
    sd["unembed.W_U"] = w_u
    sd["unembed.b_U"] = np.zeros(len(out_dirs), dtype=np.float32)
    for layer in range(cfg.n_layers):
        attn = f"transformer/layer_{layer}/attn"
        mlp = f"transformer/layer_{layer}/mlp"
        for ours, theirs in (("Q", "query"), ("K", "key"), ("V", "value")):
            w = params.get(f"{attn}/{theirs}", {}).get("w", np.zeros((d_model, H * dh), np.float32))
            b = params.get(f"{attn}/{theirs}", {}).get("b", np.zeros(H * dh, np.float32))
            sd[f"blocks.{layer}.attn.W_{ours}"] = w.reshape(d_model, H, dh).transpose(1, 0, 2)
            sd[f"blocks.{layer}.attn.b_{ours}"] = b.reshape(H, dh)
        lin = params.get(f"{attn}/linear", {"w": np.zeros((H * dh, d_model), np.float32), "b": np.zeros(d_model, np.float32)})
        sd[f"blocks.{layer}.attn.W_O"] = lin["w"].reshape(H, dh, d_model)
        sd[f"blocks.{layer}.attn.b_O"] = lin["b"]
        l1 = params.get(f"{mlp}/linear_1", {"w": np.zeros((d_model, cfg.d_mlp), np.float32), "b": np.zeros(cfg.d_mlp, np.float32)})
        l2 = params.get(f"{mlp}/linear_2", {"w": np.zeros((cfg.d_mlp, d_model), np.float32), "b": np.zeros(d_model, np.float32)})
        sd[f"blocks.{layer}.mlp.W_in"], sd[f"blocks.{layer}.mlp.b_in"] = l1["w"], l1["b"]
        sd[f"blocks.{layer}.mlp.W_out"], sd[f"blocks.{layer}.mlp.b_out"] = l2["w"], l2["b"]
    model.load_state_dict({k: torch.tensor(np.ascontiguousarray(v)) for k, v in sd.items()}, strict=False)
    model.eval()
    return model, layout


def _bodies(case: Case, samples: int) -> list[list[Any]]:
    """Every full-length input body, or ``samples`` seeded random ones when there are more."""
    import numpy as np

    length = case.max_seq_len - 1
    values = case.vocab_values
    if len(values) ** length <= samples:
        return [list(b) for b in itertools.product(values, repeat=length)]
    rng = np.random.default_rng(0)
    return [[values[i] for i in row] for row in rng.integers(len(values), size=(samples, length)).tolist()]


def check_program_semantics(case: Case, program, assembled, samples: int = 500,
                            decoded: dict[tuple, list] | None = None) -> None:
    """The compiled model computes the program: tracr's output against RASP's own evaluation (and against
    ``reference()`` where program.py has one), where the program gives a value. tracr compiles some programs
    it cannot express (a categorical aggregate over several keys) into a model that outputs something else;
    checking tracr's model against itself alone wrote such a model as the case's HL model."""
    from tracr.rasp import rasp

    reference = getattr(case.module(), "reference", None)
    where = case.dir / "program.py"
    for body in _bodies(case, samples):
        try:
            want = rasp.evaluate(program, body)
        except Exception as exc:  # the program's own semantics fail here: tracr's model is not this program
            raise AblationError(f"{where}: RASP's own evaluation of program() fails on {body} ({type(exc).__name__}: "
                                f"{' '.join(str(exc).split())[:200]}), so tracr's model cannot be the program") from None
        got = (decoded or {}).get(tuple(body)) or list(assembled.apply(["BOS", *body]).decoded)[1:]
        for position, (w, g) in enumerate(zip(want, got)):
            if w is not None and not _same(w, g, case):
                raise AblationError(f"{where}: tracr's compiled model gives {g!r} at position {position} of {body}, "
                                    f"the program {w!r}: tracr cannot compile this program faithfully")
        if reference is not None:
            ref = reference(body)
            bad = [p for p, (w, r) in enumerate(zip(want, ref)) if w is not None and r is not None and not _same(w, r, case)]
            if bad or len(ref) != len(want):
                at = bad[0] if bad else min(len(ref), len(want))
                raise AblationError(f"{where}: reference() gives {ref!r} on {body}, the program {want!r} (first at "
                                    f"position {at}): the two must be the same function")


def _same(a: Any, b: Any, case: Case) -> bool:
    if case.is_categorical:
        return a == b
    return abs(float(a) - float(b)) <= max(1e-4, case.label_atol)


def check_against_tracr(case: Case, assembled, model, atol: float = 1e-4, samples: int = 2000,
                        decoded: dict[tuple, list] | None = None) -> float:
    """Largest |TransformerLens - tracr| difference of the output logits (tracr's residual stream read at the
    output directions the unembedding picks) over every full-length input, or ``samples`` seeded random
    ones when there are more. Logits, not argmaxes: where the program gives None the logits are ~0 and
    tied, and the two argmaxes of the same numbers in two libraries differed (cases 13, 19, 21)."""
    import numpy as np
    import torch

    bodies = _bodies(case, samples)
    tokens = torch.tensor([case.encode(b) for b in bodies])
    with torch.no_grad():
        ours = model(tokens).float().numpy()
    dirs = model.W_U.detach().argmax(0).numpy()  # the unembedding is one-hot: the output's residual directions
    worst = 0.0
    for i, body in enumerate(bodies):
        applied = assembled.apply(["BOS", *body])
        if decoded is not None:  # tracr's outputs, kept for the program's own check (the slow part of both)
            decoded[tuple(body)] = list(applied.decoded)[1:]
        theirs = np.asarray(applied.transformer_output)[0][:, dirs]
        worst = max(worst, float(np.abs(ours[i, 1:] - theirs[1:]).max()))
    if worst > atol:
        raise AblationError(f"case {case.id}: the converted model's logits differ from tracr's by {worst:.3g} (over {atol})")
    return worst


def correspondence_from_layout(layout: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """InterpBench's identity correspondence: each residual direction a block writes is an HL node at that
    block's hook, mapped to the LL node with the same layer and head index (extra LL heads stay out).
    A direction written twice (tracr's selector width: the head writes it, its MLP then cleans it up)
    belongs to its first writer in block order; the later block is in the circuit through its own
    directions."""
    corr: dict[str, dict[str, Any]] = {}
    for hook, labels in layout["writes"].items():  # block order
        for label in labels:
            corr.setdefault(label, {"hl": hook, "ll": [hook]})
    return corr


def derived_spec(case: Case, assembled, layout: dict[str, Any]) -> dict[str, Any]:
    """The case.json fields that must be what tracr compiled, never typed by hand: the vocabulary in
    token-id order (typed values), tracr's token ids, the output classes in class order, and the
    correspondence read off the compiled layout (case 3 keeps InterpBench's own override)."""
    enc = input_encoding(assembled)
    derived: dict[str, Any] = {
        "vocab": sorted(case.vocab_values, key=lambda v: enc[str(v)]),
        "encoding": dict(sorted(enc.items(), key=lambda kv: kv[1])),
    }
    if case.is_categorical:
        derived["output_classes"] = layout["output_classes"]
    if not case.spec.get("correspondence_override"):
        derived["correspondence"] = correspondence_from_layout(layout)
    return derived


def spec_differences(case: Case, derived: dict[str, Any]) -> list[str]:
    """Each derived field whose case.json value differs from the compiled one, named with both values."""
    return [f"{key}: case.json has {json.dumps(case.spec.get(key), ensure_ascii=False)}, "
            f"tracr compiled {json.dumps(value, ensure_ascii=False)}"
            for key, value in derived.items() if case.spec.get(key) != value]


def compile_case(case: Case, write: bool = True, update_spec: bool = False):
    """Compile, convert, verify against tracr and the program, and (by default) write the case's HL files.
    case.json's derived fields must equal the compiled ones; ``update_spec`` rewrites them instead (a
    draft's placeholders included)."""
    program, assembled = compile_program(case)
    model, layout = to_hooked_transformer(case, program, assembled)
    derived = derived_spec(case, assembled, layout)
    if not update_spec:  # before the check, which encodes inputs with case.json's token ids
        diffs = spec_differences(case, derived)
        if diffs:
            raise AblationError(f"{case.dir / 'case.json'}: " + "; ".join(diffs) + " (--update-case-json takes tracr's)")
    case = Case(case.id, case.dir, {**case.spec, **derived})
    decoded: dict[tuple, list] = {}
    check_against_tracr(case, assembled, model, decoded=decoded)
    check_program_semantics(case, program, assembled, decoded=decoded)
    if update_spec:  # the file's own fields and tracr's, never a draft's placeholders
        spec = {**json.loads((case.dir / "case.json").read_text()), **derived}
        (case.dir / "case.json").write_text(json.dumps(spec, indent=2, ensure_ascii=False) + "\n")
    if write:
        save_hl_model(model, case.dir)
        (case.dir / LAYOUT_FILE).write_text(json.dumps(layout, indent=1, ensure_ascii=False) + "\n")
    return model, layout


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="circuit-ablation-compile", description=__doc__.splitlines()[0])
    parser.add_argument("cases", nargs="+", help="case ids, e.g. 3")
    parser.add_argument("--cases-dir", type=Path, default=None,
                        help="folder holding <id>/case.json and program.py (default: the built-in cases)")
    parser.add_argument("--update-case-json", action="store_true",
                        help="rewrite case.json's compiled fields (vocab order, encoding, output_classes, "
                             "correspondence) instead of refusing a difference; a new case's case.json may lack them")
    args = parser.parse_args(argv)
    try:
        for case_id in args.cases:
            case = load_case(case_id, args.cases_dir, draft=args.update_case_json)
            model, layout = compile_case(case, update_spec=args.update_case_json)
            print(f"case {case.id}: wrote {case.dir / HL_CFG_FILE} (d_model {model.cfg.d_model}, "
                  f"{model.cfg.n_layers} layers); writes: {json.dumps(layout['writes'])}")
            compiled = json.dumps(correspondence_from_layout(layout), ensure_ascii=False)
            if case.spec.get("correspondence_override"):  # the gate uses case.json's, not the layout's
                print(f"case {case.id}: correspondence: case.json's own, which the gate uses (correspondence_override: "
                      f"{json.dumps(case.spec['correspondence'], ensure_ascii=False)}); the compiled layout's would be {compiled}")
            else:
                print(f"case {case.id}: correspondence from the compiled layout, as case.json has it: {compiled}")
    except AblationError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except ImportError as exc:
        print(f"error: tracr is not installed ({exc}); pip install 'pytest-circuit-ablation[compile]' "
              "(in a source checkout: bash scripts/setup.sh --compile)", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
