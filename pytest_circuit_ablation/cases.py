"""The case registry: task definitions under ``cases/<id>/`` and the LL models each case has.

A case folder holds ``case.json`` (task, token encoding, correspondence, the role of each model),
``program.py`` (its RASP program and a plain-Python reference), the compiled HL model, and its LL
models under ``models/<name>/`` in InterpBench's file layout. A user's InterpBench-style folder
(``<root>/<case>/ll_model.pth``) adds models to the built-in case of the same number. Standard
library only: the plugin builds its parametrization from this at collection time.
"""
from __future__ import annotations

import importlib.util
import json
import os
import re
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

from . import models as model_files
from .errors import AblationError
from .nodes import Node, all_nodes, nodes_from_edges, parse_node

CASES_ENV = "CIRCUIT_ABLATION_CASES"
_OUTPUTS = ("regression", "categorical")


def case_sort_key(case_id: str) -> tuple[int, int | str]:
    """Numeric case ids in numeric order, then any others by name."""
    case_id = str(case_id)
    return (0, int(case_id)) if case_id.isdigit() else (1, case_id)


def builtin_cases_dir() -> Path:
    """``cases/`` beside the package (a source checkout or an editable install), or $CIRCUIT_ABLATION_CASES."""
    env = os.environ.get(CASES_ENV)
    return Path(env) if env else Path(__file__).resolve().parent.parent / "cases"


@dataclass(frozen=True)
class ModelRef:
    """One LL model to evaluate: where its files are and what the gate expects of it."""

    case_id: str
    name: str
    path: Path
    role: str = "gated"  # or "negative-control": its gate must fail
    source: str = "builtin"

    @property
    def key(self) -> str:
        return f"case{self.case_id}-{self.name}"


@dataclass(frozen=True)
class Case:
    """A task definition loaded from ``cases/<id>/case.json``."""

    id: str
    dir: Path
    spec: dict[str, Any] = field(repr=False, hash=False, compare=False)

    @property
    def name(self) -> str:
        return str(self.spec["name"])

    @property
    def output(self) -> str:
        return str(self.spec["output"])

    @property
    def is_categorical(self) -> bool:
        return self.output == "categorical"

    @property
    def vocab(self) -> list[str]:
        return list(self.spec["vocab"])

    @property
    def encoding(self) -> dict[str, int]:
        return dict(self.spec["encoding"])

    @property
    def max_seq_len(self) -> int:
        """Sequence length including BOS."""
        return int(self.spec["max_seq_len"])

    @property
    def label_atol(self) -> float:
        """Two HL regression outputs closer than this are the same label (see metrics.labels_changed)."""
        return float(self.spec.get("label_atol", 1e-4))

    def encode(self, body: list[str]) -> list[int]:
        enc = self.encoding
        return [enc["BOS"], *(enc[t] for t in body)]

    def correspondence(self) -> dict[str, tuple[str, list[Node]]]:
        """HL node name -> (HL hook, LL nodes)."""
        out = {}
        for hl_name, entry in self.spec["correspondence"].items():
            out[hl_name] = (entry["hl"], [parse_node(n) for n in entry["ll"]])
        return out

    def circuit(self) -> set[Node]:
        return {n for _, nodes in self.correspondence().values() for n in nodes}

    def module(self):
        """The case's ``program.py`` (built-in cases only: it is our code, not a user's)."""
        path = self.dir / "program.py"
        spec = importlib.util.spec_from_file_location(f"_circuit_case_{self.id}", path)
        if spec is None or spec.loader is None:
            raise AblationError(f"{path}: cannot import")
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        return module

    @cached_property
    def builtin_models(self) -> list[ModelRef]:
        roles = self.spec.get("models", {})
        refs = []
        for name in sorted(roles):
            refs.append(ModelRef(self.id, name, self.dir / "models" / name, roles[name].get("role", "gated")))
        return refs


def _validate(spec: Any, path: Path) -> None:
    if not isinstance(spec, dict):
        raise AblationError(f"{path}: expected a JSON object")
    for key in ("name", "output", "vocab", "encoding", "max_seq_len", "correspondence"):
        if key not in spec:
            raise AblationError(f"{path}: missing key {key!r}")
    if spec["output"] not in _OUTPUTS:
        raise AblationError(f"{path}: 'output' must be one of {_OUTPUTS}, got {spec['output']!r}")
    enc = spec["encoding"]
    missing = {"BOS", *spec["vocab"]} - set(enc)
    if missing:
        raise AblationError(f"{path}: encoding lacks tokens {sorted(missing)}")
    for hl_name, entry in spec["correspondence"].items():
        try:
            parse_node(entry["hl"])
            [parse_node(n) for n in entry["ll"]]
        except (KeyError, TypeError, ValueError) as exc:
            raise AblationError(f"{path}: correspondence entry {hl_name!r} is invalid ({exc})") from None
    for name, model in spec.get("models", {}).items():
        if model.get("role", "gated") not in ("gated", "negative-control"):
            raise AblationError(f"{path}: model {name!r} has unknown role {model.get('role')!r}")


def load_case(case_id: str, cases_dir: Path | None = None) -> Case:
    root = Path(cases_dir) if cases_dir else builtin_cases_dir()
    case_id = str(case_id).strip()
    path = root / case_id / "case.json"
    if not re.fullmatch(r"[A-Za-z0-9_-]+", case_id) or not path.is_file():
        known = ", ".join(available_case_ids(root)) or "none"
        raise AblationError(f"unknown task {case_id!r}: no {path} (built-in cases: {known})")
    try:
        spec = json.loads(path.read_text())
    except json.JSONDecodeError as exc:
        raise AblationError(f"{path}: invalid JSON ({exc.msg} at line {exc.lineno})") from None
    _validate(spec, path)
    return Case(case_id, path.parent, spec)


def available_case_ids(cases_dir: Path | None = None) -> list[str]:
    root = Path(cases_dir) if cases_dir else builtin_cases_dir()
    if not root.is_dir():
        return []
    return sorted((p.name for p in root.iterdir() if (p / "case.json").is_file()), key=case_sort_key)


def user_models(root: Path) -> list[ModelRef]:
    """Models in InterpBench's hub layout: ``<root>/<case>/ll_model.pth`` (+ cfg pickle)."""
    root = Path(root)
    if not root.is_dir():
        raise AblationError(f"--ablation-models {root}: folder not found")
    name = re.sub(r"[^A-Za-z0-9_.]+", "_", root.resolve().name) or "user"
    refs = []
    for sub in sorted(p for p in root.iterdir() if p.is_dir()):
        if (sub / model_files.WEIGHTS_FILE).exists() or (sub / model_files.CFG_FILE).exists():
            refs.append(ModelRef(sub.name, name, sub, "gated", "user"))
    if not refs:
        raise AblationError(f"--ablation-models {root}: no <case>/{model_files.WEIGHTS_FILE} inside (expected InterpBench's layout, e.g. {root}/3/{model_files.WEIGHTS_FILE})")
    return refs


def model_nodes(ref: ModelRef) -> list[Node]:
    """Every node of an LL model, read from its config (no torch)."""
    cfg = model_files.read_config(ref.path)
    return all_nodes(cfg["n_layers"], cfg["n_heads"], bool(cfg.get("attn_only")))


def model_circuit(ref: ModelRef, case: Case, nodes: list[Node]) -> set[Node]:
    """In-circuit nodes: the folder's ``edges.pkl`` when it has one, else the case's correspondence."""
    edges = model_files.read_edges(ref.path)
    circuit = nodes_from_edges(edges) if edges is not None else case.circuit()
    unknown = sorted(n.full_name for n in circuit - set(nodes))
    if unknown:
        where = ref.path / model_files.EDGES_FILE if edges is not None else case.dir / "case.json"
        raise AblationError(f"{where}: circuit names nodes the model does not have: {', '.join(unknown)}")
    return circuit
