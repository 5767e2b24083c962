"""InterpBench model files: load, validate, save, hash.

A low-level (LL) model directory holds ``ll_model_cfg.pkl`` (a pickled ``HookedTransformerConfig`` dict),
``ll_model.pth`` (its state_dict) and optionally ``meta.json`` and ``edges.pkl``, exactly as on
InterpBench's model hub, so the notebook's four loading lines read what this module writes.

Models from elsewhere are untrusted: pickles go through an allow-list unpickler that builds plain values
only (and never imports torch, so collection stays light), weights load with ``weights_only=True``.
The high-level (HL) model of a case is stored as ``hl_model_cfg.json`` + ``hl_model.pth``.
"""
from __future__ import annotations

import errno
import hashlib
import io
import json
import pickle
import warnings
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import AblationError
from .values import is_int, is_number
from .files import json_problem, write_atomic

CFG_FILE = "ll_model_cfg.pkl"
WEIGHTS_FILE = "ll_model.pth"
META_FILE = "meta.json"
EDGES_FILE = "edges.pkl"
HL_CFG_FILE = "hl_model_cfg.json"
LAYOUT_FILE = "tracr_layout.json"  # the compiled model's residual labels and output classes (tools/compile.py)
HL_WEIGHTS_FILE = "hl_model.pth"

_TORCH_DTYPES = {
    "float16", "float32", "float64", "bfloat16", "half", "float", "double",
    "int8", "int16", "int32", "int64", "uint8", "bool", "complex64", "complex128",
}
_REQUIRED_INT_KEYS = ("n_layers", "n_heads", "d_head", "d_model", "n_ctx", "d_vocab")


@dataclass(frozen=True)
class DTypeName:
    """A torch dtype read from a pickle without importing torch (``torch.float32`` -> ``DTypeName('float32')``)."""

    name: str

    def __setstate__(self, state: Any) -> None:  # a pickle's BUILD would rename it past find_class's allow-list
        raise pickle.UnpicklingError("a torch dtype carries no state")

    def __reduce__(self):  # pickles back as the real torch dtype, so InterpBench readers see what they expect
        import torch

        return (getattr, (torch, self.name))


class _ConfigObject:
    """Stand-in for a pickled ``HookedTransformerConfig`` object: keeps only its field dict."""

    def __setstate__(self, state: Any) -> None:
        if isinstance(state, tuple) and len(state) == 2:  # (dict, slots) form
            state = state[0]
        if not isinstance(state, dict):
            raise pickle.UnpicklingError("config object state is not a dict")
        self.fields = dict(state)


def _reconstructor(cls: Any, base: Any, state: Any) -> Any:
    if cls is not _ConfigObject:
        raise pickle.UnpicklingError("copyreg reconstruction of a non-config object")
    return _ConfigObject()


def _np_scalar(dtype: Any, data: bytes) -> float | int | bool:
    import numpy as np

    dtype = np.dtype(dtype)
    if dtype.kind not in "biuf" or not isinstance(data, bytes):
        raise pickle.UnpicklingError(f"numpy scalar of dtype {dtype} is not a plain number")
    return np.frombuffer(data, dtype=dtype, count=1)[0].item()


def _np_dtype(spec: Any, *_: Any) -> Any:
    import numpy as np

    if not isinstance(spec, str):
        raise pickle.UnpicklingError("numpy dtype spec is not a string")
    return np.dtype(spec)


def _torch_device(spec: Any, *_: Any) -> str:
    return str(spec)


class SafeUnpickler(pickle.Unpickler):
    """Builds dicts, lists, numbers and strings; maps torch dtypes/devices and numpy scalars to plain
    stand-ins; refuses every other global, so a pickle cannot run code or import modules."""

    def find_class(self, module: str, name: str) -> Any:
        if module == "torch" and name in _TORCH_DTYPES:
            return DTypeName(name)  # a dtype pickles as a reference to the global torch.<name>
        if module == "torch" and name == "device":
            return _torch_device
        if module == "builtins" and name in {"set", "frozenset", "complex", "slice"}:
            return {"set": set, "frozenset": frozenset, "complex": complex, "slice": slice}[name]
        if module == "collections" and name == "OrderedDict":
            from collections import OrderedDict

            return OrderedDict
        if module in {"numpy.core.multiarray", "numpy._core.multiarray"} and name == "scalar":
            return _np_scalar
        if module == "numpy" and name == "dtype":
            return _np_dtype
        if module == "copyreg" and name == "_reconstructor":
            return _reconstructor
        if name == "HookedTransformerConfig" and module.startswith("transformer_lens"):
            return _ConfigObject
        if module == "builtins" and name == "object":
            return object
        raise pickle.UnpicklingError(f"refused to load global {module}.{name}")

    def persistent_load(self, pid: Any) -> Any:
        raise pickle.UnpicklingError("persistent ids are not allowed")


def safe_unpickle(path: Path) -> Any:
    """Unpickle ``path`` with the allow-list; any refusal or corruption becomes a one-line AblationError."""
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise AblationError(f"{path}: file not found") from None
    except OSError as exc:
        raise AblationError(f"{path}: cannot read ({exc.strerror})") from None
    try:
        value = SafeUnpickler(io.BytesIO(data)).load()
    except pickle.UnpicklingError as exc:
        raise AblationError(f"{path}: unsafe or invalid pickle: {exc}") from None
    except Exception as exc:  # truncated data raises EOFError, ValueError, ...
        raise AblationError(f"{path}: corrupt pickle ({type(exc).__name__}: {exc})") from None
    if isinstance(value, _ConfigObject):
        if not hasattr(value, "fields"):
            raise AblationError(f"{path}: unsafe or invalid pickle: a HookedTransformerConfig without its fields")
        value = value.fields
    return value


_CONFIGS: dict[tuple[str, int, int], dict[str, Any]] = {}


def read_config(model_dir: Path) -> dict[str, Any]:
    """The LL config dict, validated enough to build nodes from it (no torch import). Planning, the
    model-vs-case check and loading all need it: the file is read and validated once per process (keyed
    by path, size and modification time, so a changed file is read again)."""
    path = Path(model_dir) / CFG_FILE
    try:
        st = path.stat()
    except OSError:
        return _read_config(path)  # the one-line "file not found"
    key = (str(path.resolve()), st.st_mtime_ns, st.st_size)
    if key not in _CONFIGS:
        _CONFIGS[key] = _read_config(path)
    return dict(_CONFIGS[key])


def _read_config(path: Path) -> dict[str, Any]:
    cfg = safe_unpickle(path)
    if not isinstance(cfg, dict):
        raise AblationError(f"{path}: expected a HookedTransformerConfig dict, got {type(cfg).__name__}")
    for key in _REQUIRED_INT_KEYS:
        value = cfg.get(key)
        if not is_int(value) or value <= 0:
            raise AblationError(f"{path}: config key {key!r} must be a positive integer, got {value!r}")
    d_mlp = cfg.get("d_mlp")
    if not cfg.get("attn_only") and (not is_int(d_mlp) or d_mlp <= 0):
        raise AblationError(f"{path}: config key 'd_mlp' must be a positive integer for a model with MLPs, got {d_mlp!r}")
    if cfg.get("normalization_type") not in (None, "LN", "LNPre", "RMS", "RMSPre"):
        raise AblationError(f"{path}: unsupported normalization_type {cfg.get('normalization_type')!r}")
    for key, unsupported, what in _UNSUPPORTED:
        if key in cfg and unsupported(cfg[key]):
            raise AblationError(f"{path}: {key} = {cfg[key]!r} is not supported: {what}")
    from .engine import ACTIVATIONS  # the engine computes these itself: one list, no torch imported

    if cfg.get("act_fn") not in ACTIVATIONS and not cfg.get("attn_only"):
        raise AblationError(f"{path}: act_fn = {cfg.get('act_fn')!r} is not supported (supported: {', '.join(ACTIVATIONS)})")
    return cfg


#: Config fields whose effect the engine does not compute: a model using one is refused in one line rather
#: than given silently wrong counts (InterpBench's models use none of them).
_UNSUPPORTED: tuple[tuple[str, Any, str], ...] = (
    ("gated_mlp", bool, "the engine computes plain (ungated) MLPs"),
    ("parallel_attn_mlp", bool, "the engine runs attention then the MLP in each block"),
    ("attn_scores_soft_cap", lambda v: isinstance(v, (int, float)) and v > 0, "the engine applies no attention soft cap"),
    ("output_logits_soft_cap", lambda v: isinstance(v, (int, float)) and v > 0, "the engine applies no logit soft cap"),
    ("positional_embedding_type", lambda v: v not in (None, "standard"), "the engine supports standard positional embeddings only"),
)


def read_edges(model_dir: Path) -> list[tuple[str, str]] | None:
    """InterpBench's ground-truth circuit edges, if the folder has an ``edges.pkl``."""
    path = model_dir / EDGES_FILE
    if not path.exists():
        return None
    edges = safe_unpickle(path)
    if not isinstance(edges, (list, tuple)) or not all(
        isinstance(e, (list, tuple)) and len(e) == 2 and all(isinstance(x, str) for x in e) for e in edges
    ):
        raise AblationError(f"{path}: expected a list of (str, str) edges")
    return [(a, b) for a, b in edges]


def _torch_config(cfg: dict[str, Any], device: str, dtype: str):
    """A HookedTransformerConfig from a stored dict, with dtype and device chosen by the caller."""
    import torch
    from transformer_lens import HookedTransformerConfig

    fields = {k: v for k, v in cfg.items() if not isinstance(v, DTypeName)}
    fields["dtype"] = getattr(torch, dtype)
    fields["device"] = device
    # The suite feeds token ids and needs no tokenizer. A config naming one would make HookedTransformer call
    # AutoTokenizer.from_pretrained: a download, or, with trust_remote_code, code from a folder run on load.
    fields["tokenizer_name"] = None
    fields["trust_remote_code"] = False
    fields.pop("n_params", None)
    known = set(HookedTransformerConfig.__dataclass_fields__)
    return HookedTransformerConfig(**{k: v for k, v in fields.items() if k in known})


def _load_state_dict(path: Path) -> dict[str, Any]:
    import torch

    if not path.exists():
        raise AblationError(f"{path}: file not found")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001 - untrusted bytes: whatever torch's restricted unpickler raises (a
        # TypeError from an allowed global given bad arguments, a KeyError for a missing record) means the same
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        first = first.split(". ")[0]  # torch appends paragraphs of advice; the first sentence says what broke
        if not any(ch.isalpha() for ch in first):  # a KeyError of junk bytes reads '174812789': it says nothing
            first = ""
        unreadable = isinstance(exc, OSError) and exc.errno != errno.EINVAL  # permissions, I/O: torch's words say it
        if not unreadable and not zipfile.is_zipfile(path):  # what torch.save writes; a cut-off copy fails with "[Errno 22]"
            first = "not a complete torch.save archive: truncated, or another format" + (f"; {first}" if first else "")
        raise AblationError(f"{path}: not a readable torch state_dict ({first[:200]})") from None
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise AblationError(f"{path}: expected a state_dict of tensors, got {type(state).__name__}")
    return state


def _check_weights(path: Path, state: dict[str, Any], expected: dict[str, Any]) -> None:
    import torch

    missing = sorted(set(expected) - set(state))
    # TransformerLens buffers (attention masks, IGNORE) may or may not be stored; parameters must be.
    missing = [k for k in missing if not k.endswith(("mask", "IGNORE"))]
    if missing:
        raise AblationError(f"{path}: missing weights {', '.join(missing[:4])}{' ...' if len(missing) > 4 else ''}")
    unexpected = sorted(set(state) - set(expected))
    if unexpected:
        raise AblationError(f"{path}: unexpected weights {', '.join(unexpected[:4])} (do they match {CFG_FILE}?)")
    for key, value in state.items():
        want = tuple(expected[key].shape)
        if tuple(value.shape) != want:
            raise AblationError(f"{path}: weight {key} has shape {tuple(value.shape)}, the config needs {want}")
        if value.is_floating_point() and not key.endswith("IGNORE") and not bool(torch.isfinite(value).all()):
            raise AblationError(f"{path}: weight {key} has NaN or infinite values")


def load_ll_model(model_dir: Path, device: str = "cpu", dtype: str = "float64"):
    """Build the LL HookedTransformer of an InterpBench folder, frozen and in eval mode."""
    model_dir = Path(model_dir)
    if not model_dir.is_dir():
        raise AblationError(f"{model_dir}: model folder not found")
    cfg = read_config(model_dir)
    return _build(cfg, model_dir / WEIGHTS_FILE, device, dtype, where=model_dir / CFG_FILE)


def _build(cfg: dict[str, Any], weights: Path, device: str, dtype: str, where: Path):
    import torch
    from transformer_lens import HookedTransformer

    state = _load_state_dict(weights)
    try:
        tcfg = _torch_config(cfg, "cpu", dtype)
        torch.manual_seed(0)
        with warnings.catch_warnings():  # TransformerLens 3 announces HookedTransformer's removal in 4.0 on every
            # model built: noise in every user's run (the dependency is pinned below 4; see pyproject.toml)
            warnings.filterwarnings("ignore", message="HookedTransformer is deprecated", category=DeprecationWarning)
            model = HookedTransformer(tcfg, move_to_device=False)
    except AblationError:
        raise
    except Exception as exc:
        raise AblationError(f"{where}: config does not build a HookedTransformer ({type(exc).__name__}: {exc})") from None
    _check_weights(weights, state, model.state_dict())
    model.load_state_dict({k: v.to(getattr(torch, dtype)) if v.is_floating_point() else v for k, v in state.items()}, strict=False)
    if not model.cfg.use_attn_result:  # per-head ablation reads hook_result; turning it on changes no output
        model.set_use_attn_result(True)
    model.to(device, print_details=False)  # TransformerLens prints "Moving model to device" otherwise
    model.cfg.device = device
    model.eval()
    model.requires_grad_(False)
    return model


def load_hl_model(case_dir: Path, device: str = "cpu", dtype: str = "float64"):
    """The case's compiled high-level model (tracr program as a HookedTransformer)."""
    cfg_path = Path(case_dir) / HL_CFG_FILE
    try:
        cfg = json.loads(cfg_path.read_text())
    except FileNotFoundError:
        raise AblationError(f"{cfg_path}: file not found (compile the case first)") from None
    except json.JSONDecodeError as exc:
        raise AblationError(f"{cfg_path}: invalid JSON ({json_problem(exc)})") from None
    return _build(cfg, Path(case_dir) / HL_WEIGHTS_FILE, device, dtype, where=cfg_path)


def config_to_plain(cfg_dict: dict[str, Any]) -> dict[str, Any]:
    """A config dict with dtypes and devices as strings, for JSON."""
    out = {}
    for key, value in cfg_dict.items():
        if isinstance(value, (str, int, float, bool, type(None))):
            out[key] = value
        elif isinstance(value, (list, tuple)) and all(isinstance(v, (str, int, float, bool)) for v in value):
            out[key] = list(value)
        else:
            out[key] = str(value).replace("torch.", "")
    return out


def save_ll_model(model, model_dir: Path, meta: dict[str, Any] | None = None) -> None:
    """Write the InterpBench layout: float32 weights, the pickled config dict, meta.json."""
    import torch

    cfg = model.cfg.to_dict()
    cfg["dtype"] = torch.float32
    cfg["device"] = "cpu"
    buf = io.BytesIO()
    torch.save({k: v.detach().to("cpu", torch.float32) if v.is_floating_point() else v.cpu()
                for k, v in model.state_dict().items()}, buf)
    write_atomic(model_dir / WEIGHTS_FILE, buf.getvalue())
    write_atomic(model_dir / CFG_FILE, pickle.dumps(cfg))
    if meta is not None:
        write_atomic(model_dir / META_FILE, (json.dumps(meta, indent=2, sort_keys=True) + "\n").encode())


TRAINING_FIELDS = ("accuracy", "iia", "strict_accuracy", "steps", "seconds")
PERCENT_FIELDS = ("accuracy", "iia", "strict_accuracy")  # meta.json holds these in percent, as InterpBench reports them


def training_record(model_dir: Path) -> dict[str, Any]:
    """``train_*`` values from the ``final_metrics`` this project's trainer writes to meta.json (held-out
    accuracy, IIA, strict accuracy, steps, seconds); the three rates as fractions, like the report's own
    ``accuracy`` column beside them (meta.json's percentages divided by 100). Empty for other or
    unreadable files: the record is informative only, never a reason to refuse a model."""
    try:
        meta = json.loads((Path(model_dir) / META_FILE).read_text())
        final = meta["final_metrics"]
        return {f"train_{k}": round(final[k] / 100, 12) if k in PERCENT_FIELDS else final[k]  # 91.941 -> 0.91941, not ...0001
                for k in TRAINING_FIELDS if is_number(final.get(k))}
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return {}


def save_hl_model(model, case_dir: Path) -> None:
    import torch

    buf = io.BytesIO()
    torch.save({k: v.detach().cpu() for k, v in model.state_dict().items()}, buf)
    write_atomic(Path(case_dir) / HL_WEIGHTS_FILE, buf.getvalue())
    cfg = config_to_plain(model.cfg.to_dict())
    write_atomic(Path(case_dir) / HL_CFG_FILE, (json.dumps(cfg, indent=1, sort_keys=True) + "\n").encode())


def files_hash(*paths: Path) -> str:
    """sha256 over the given files' bytes: the identity of a model for caches and reports."""
    digest = hashlib.sha256()
    for path in paths:
        digest.update(Path(path).name.encode())
        digest.update(Path(path).read_bytes())
    return digest.hexdigest()


def model_hash(model_dir: Path) -> str:
    return files_hash(Path(model_dir) / CFG_FILE, Path(model_dir) / WEIGHTS_FILE)

