"""The case registry: task definitions under ``cases/<id>/`` and the LL models each case has.

A case folder holds ``case.json`` (task, token encoding, correspondence, the role of each model),
``program.py`` (its RASP program and a plain-Python reference), the compiled HL model, and its LL
models under ``models/<name>/`` in InterpBench's file layout. A user's InterpBench-style folder
(``<root>/<case>/ll_model.pth``) adds models to the built-in case of the same number. Standard
library only: the plugin builds its parametrization from this at collection time.
"""
from __future__ import annotations

import copy
import importlib.util
import json
import os
import re
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

from . import hubfiles
from ..errors import AblationError, SettingError
from .files import json_problem
from .nodes import Node, all_nodes, nodes_from_edges, parse_node
from .values import is_int, is_number

CASES_ENV = "CIRCUIT_ABLATION_CASES"
_OUTPUTS = ("regression", "categorical")


def case_sort_key(case_id: str) -> tuple[int, int | str]:
    """Numeric case ids in numeric order, then any others by name."""
    case_id = str(case_id)
    return (0, int(case_id)) if case_id.isdigit() else (1, case_id)


def cases_words() -> str:
    """Where the cases come from, for messages: the built-in ones, or a user's folder of cases."""
    return f"cases in ${CASES_ENV}" if os.environ.get(CASES_ENV) else "built-in cases"


def builtin_cases_dir() -> Path:
    """$CIRCUIT_ABLATION_CASES if set; else the cases installed with the package (a wheel puts them in
    ``builtin_cases/`` inside it); else ``cases/`` beside the package (a source checkout, an editable install)."""
    env = os.environ.get(CASES_ENV)
    if env:
        return Path(env)
    here = Path(__file__).resolve().parent.parent  # the package
    installed = here / "builtin_cases"
    return installed if installed.is_dir() else here.parent / "cases"


#: case.json keys that describe, not define, the task: edits to them do not change what a model is judged against
DESCRIPTIVE_KEYS = ("description", "interpbench", "train", "ll_config")


def definition_hash(case_dir: Path) -> str | None:
    """sha256 of what a case's models are judged against: case.json without its descriptive keys (task,
    classes, correspondence, label_atol, each model's role), as canonical JSON, and the compiled HL model's
    config (canonical JSON) and weights. Two reports whose models were judged against different definitions
    differ here; a new description, line endings or key order do not. None where a file cannot be read."""
    import hashlib

    try:
        spec = json.loads((Path(case_dir) / "case.json").read_text())
        hl_cfg = json.loads((Path(case_dir) / hubfiles.HL_CFG_FILE).read_text())
        weights = (Path(case_dir) / hubfiles.HL_WEIGHTS_FILE).read_bytes()
    except (OSError, ValueError):
        return None
    judged = {k: v for k, v in spec.items() if k not in DESCRIPTIVE_KEYS} if isinstance(spec, dict) else spec
    digest = hashlib.sha256()
    for part in (json.dumps(judged, sort_keys=True, separators=(",", ":")), json.dumps(hl_cfg, sort_keys=True, separators=(",", ":"))):
        digest.update(part.encode())
    digest.update(weights)
    return digest.hexdigest()


GATED = "gated"  # case.json's roles: a model the gate must pass,
CONTROL = "negative-control"  # and one it must reject
ROLES = (GATED, CONTROL)


@dataclass(frozen=True)
class ModelRef:
    """One LL model to evaluate: where its files are and what the gate expects of it."""

    case_id: str
    name: str
    path: Path
    role: str = GATED  # or CONTROL: its gate must fail
    source: str = "builtin"

    @property
    def key(self) -> str:
        return f"case{self.case_id}-{self.name}"

    @property
    def uses_case_circuit(self) -> bool:
        """True unless the folder's own edges.pkl defines the circuit (then no HL node maps to its nodes)."""
        return not (self.path / hubfiles.EDGES_FILE).exists()


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
    def vocab_values(self) -> list[Any]:
        """The vocabulary with its value types (InterpBench's: ints for cases 8 and 13, else strings)."""
        return list(self.spec["vocab"])

    @property
    def vocab(self) -> list[str]:
        """The vocabulary as token strings (``str`` of each value: the keys of ``encoding``), in id order."""
        enc = self.encoding
        return sorted((str(v) for v in self.vocab_values), key=lambda t: enc[t])

    def value_of(self, token: str) -> Any:
        """The typed vocabulary value a token string stands for (what ``program.py`` computes on)."""
        return {str(v): v for v in self.vocab_values}[token]

    @property
    def encoding(self) -> dict[str, int]:
        """Token string -> token id: tracr's order, read from the compiled model's input encoder."""
        return dict(self.spec["encoding"])

    @property
    def causal(self) -> bool:
        return bool(self.spec.get("causal", True))

    @property
    def output_classes(self) -> list[Any] | None:
        """Categorical cases: the output values in class order (tracr's output encoder), typed."""
        classes = self.spec.get("output_classes")
        return list(classes) if classes is not None else None

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
        return [enc["BOS"], *(enc[str(t)] for t in body)]

    def correspondence(self) -> dict[str, tuple[str, list[Node]]]:
        """HL node name -> (HL hook, LL nodes)."""
        out = {}
        for hl_name, entry in self.spec["correspondence"].items():
            out[hl_name] = (entry["hl"], [parse_node(n) for n in entry["ll"]])
        return out

    def circuit(self) -> set[Node]:
        return {n for _, nodes in self.correspondence().values() for n in nodes}

    def module(self):
        """The case's ``program.py`` (the compiler's and the tests' input: our code, or a case author's;
        the suite never runs it). Missing or failing to import is one line naming the file."""
        path = self.dir / "program.py"
        if not path.is_file():
            raise AblationError(f"{path}: not found (a case's RASP program and its reference)")
        spec = importlib.util.spec_from_file_location(f"_circuit_case_{self.id}", path)
        if spec is None or spec.loader is None:
            raise AblationError(f"{path}: cannot import")
        module = importlib.util.module_from_spec(spec)
        try:
            spec.loader.exec_module(module)
        except Exception as exc:  # the author's code: say where and what, not tracr's or importlib's stack
            raise AblationError(f"{path}: cannot import ({type(exc).__name__}: {exc})") from None
        return module

    def function(self, name: str):
        """``program.py``'s ``program`` or ``reference``, refused in one line when it has none."""
        found = getattr(self.module(), name, None)
        if not callable(found):
            raise AblationError(f"{self.dir / 'program.py'}: defines no function {name}()")
        return found

    @cached_property
    def builtin_models(self) -> list[ModelRef]:
        roles = self.spec.get("models", {})
        refs = []
        for name in sorted(roles):
            refs.append(ModelRef(self.id, name, self.dir / "models" / name, roles[name].get("role", GATED)))
        return refs


_SCALAR = (str, int, float, bool)


def _validate(spec: Any, path: Path, draft: bool = False) -> None:
    """Refuse, in one line naming the key, a case.json that the code reading it would trip over: a user's
    case folder (``$CIRCUIT_ABLATION_CASES``) is read at collection, where a TypeError is an INTERNALERROR.
    A ``draft`` (the compile tool's ``--update-case-json``) may lack the fields compiling fills in: encoding,
    output_classes, correspondence."""
    def need(ok: bool, what: str) -> None:
        if not ok:
            raise AblationError(f"{path}: {what}")

    need(isinstance(spec, dict), "expected a JSON object")
    for key in ("name", "output", "vocab", "max_seq_len", "causal"):
        need(key in spec, f"missing key {key!r}")
    tokens = [str(v) for v in spec["vocab"]] if isinstance(spec["vocab"], list) else []
    need(not {"BOS", "PAD"} & set(tokens), "'vocab' holds BOS or PAD, which tracr adds itself")
    if draft:  # placeholders, until compiling gives tracr's values (the compile tool writes those alone)
        placeholders = {"encoding": {t: i for i, t in enumerate(["BOS", "PAD", *tokens])},
                        "correspondence": {"?": {"hl": "blocks.0.mlp.hook_post", "ll": ["blocks.0.mlp.hook_post"]}}}
        if spec.get("output") == "categorical":
            placeholders["output_classes"] = ["?"]
        for key, value in placeholders.items():
            spec.setdefault(key, value)
    for key in ("encoding", "correspondence"):
        need(key in spec, f"missing key {key!r} (circuit-ablation-compile --update-case-json fills it in)")
    need(isinstance(spec["name"], str), "'name' must be a string")
    need(spec["output"] in _OUTPUTS, f"'output' must be one of {_OUTPUTS}, got {spec['output']!r}")
    vocab = spec["vocab"]
    need(isinstance(vocab, list) and bool(vocab) and all(isinstance(v, _SCALAR) for v in vocab),
         "'vocab' must be a non-empty list of strings or numbers")
    tokens = [str(v) for v in vocab]
    need(len(set(tokens)) == len(tokens), f"'vocab' names a token twice: {sorted({t for t in tokens if tokens.count(t) > 1})}")
    enc = spec["encoding"]
    need(isinstance(enc, dict) and all(is_int(i) and i >= 0 for i in enc.values()),
         "'encoding' must map each token to a token id (an integer >= 0)")
    need(len(set(enc.values())) == len(enc), "'encoding' gives two tokens the same id")
    need(sorted(enc.values()) == list(range(len(enc))),
         f"'encoding' ids must be 0..{len(enc) - 1}, one per token (the model's d_vocab rows), got {sorted(enc.values())}")
    expected = {"BOS", "PAD", *tokens}
    need(not expected - set(enc), f"encoding lacks tokens {sorted(expected - set(enc))}")
    need(not set(enc) - expected, f"encoding names tokens that are not in 'vocab': {sorted(set(enc) - expected)}")
    need(is_int(spec["max_seq_len"]) and spec["max_seq_len"] >= 2,
         f"'max_seq_len' must be an integer >= 2 (BOS included), got {spec['max_seq_len']!r}")
    need(isinstance(spec["causal"], bool), f"'causal' must be true or false, got {spec['causal']!r}")
    classes = spec.get("output_classes")
    if spec["output"] == "categorical":
        need(bool(classes), "a categorical case needs 'output_classes' (circuit-ablation-compile --update-case-json fills it in)")
    need(classes is None or (isinstance(classes, list) and all(isinstance(c, _SCALAR) for c in classes)),
         "'output_classes' must be a list of strings or numbers")
    atol = spec.get("label_atol", 0.0)
    need(is_number(atol) and atol >= 0, "'label_atol' must be a number >= 0")
    need(isinstance(spec["correspondence"], dict), "'correspondence' must be an object of HL node -> {hl, ll}")
    for hl_name, entry in spec["correspondence"].items():
        try:
            if not isinstance(entry, dict) or not isinstance(entry["ll"], list):
                raise TypeError("expected {\"hl\": hook, \"ll\": [LL node, ...]}")
            parse_node(entry["hl"])
            [parse_node(n) for n in entry["ll"]]
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise AblationError(f"{path}: correspondence entry {hl_name!r} is invalid ({exc})") from None
    need(any(entry["ll"] for entry in spec["correspondence"].values()), "'correspondence' maps no LL node: a circuit needs at least one")
    models = spec.get("models", {})
    need(isinstance(models, dict) and all(isinstance(m, dict) for m in models.values()),
         "'models' must be an object of model name -> {role, ...}")
    for name, model in models.items():
        need(model.get("role", GATED) in ROLES, f"model {name!r} has unknown role {model.get('role')!r}")
    for key in ("ll_config", "train", "interpbench"):
        need(isinstance(spec.get(key, {}), dict), f"{key!r} must be an object")
    shape = spec.get("ll_config", {})
    for key in ("n_layers", "n_heads", "d_head", "d_model", "d_mlp"):
        need(key not in shape or (is_int(shape[key]) and shape[key] > 0), f"'ll_config.{key}' must be a positive integer")
    need(isinstance(shape.get("act_fn", ""), str), "'ll_config.act_fn' must be a string")
    for key, value in spec.get("train", {}).items():
        need(is_number(value) and value >= 0,
             f"'train.{key}' must be a number >= 0, got {value!r}")


#: a task id: a folder name that is safe in test ids, file names and report keys
CASE_ID = re.compile(r"[A-Za-z0-9_-]+")


def load_case(case_id: str, cases_dir: Path | None = None, draft: bool = False) -> Case:
    root = Path(cases_dir) if cases_dir else builtin_cases_dir()
    case_id = str(case_id).strip()
    path = root / case_id / "case.json"
    if not CASE_ID.fullmatch(case_id):
        raise AblationError(f"task id {case_id!r}: only letters, digits, _ and - (it names test ids and report files)")
    if not path.is_file():
        known = ", ".join(available_case_ids(root)) or "none"
        raise AblationError(f"unknown task {case_id!r}: no {path} ({'cases there' if cases_dir else cases_words()}: {known})")
    st = path.stat()
    key = (str(path.resolve()), st.st_mtime_ns, st.st_size, draft)
    if key not in _SPECS:  # planning and evaluation both need it: read and validated once per process
        try:
            spec = json.loads(path.read_text())
        except json.JSONDecodeError as exc:
            raise AblationError(f"{path}: invalid JSON ({json_problem(exc)})") from None
        _validate(spec, path, draft)
        _SPECS[key] = spec
    return Case(case_id, path.parent, copy.deepcopy(_SPECS[key]))


_SPECS: dict[tuple[str, int, int, bool], dict[str, Any]] = {}


def available_case_ids(cases_dir: Path | None = None) -> list[str]:
    root = Path(cases_dir) if cases_dir else builtin_cases_dir()
    if not root.is_dir():
        return []
    return sorted((p.name for p in root.iterdir() if (p / "case.json").is_file()), key=case_sort_key)


def check_case_matches_hl(case: Case, hl) -> None:
    """Refuse, in one line naming the field, a case.json that does not describe its compiled HL model (edited
    after compiling, or a user's first guess at tracr's token ids): else a model is trained on the HL model's
    task and then refused for not fitting case.json, or judged with swapped tokens or classes, and passes."""
    where = case.dir / "case.json"
    cfg = hl.cfg

    def refuse(field: str, ours: Any, hl_field: str, theirs: Any) -> AblationError:
        return AblationError(f"{where}: {field} is {ours!r}, but the compiled HL model has {hl_field} {theirs!r}: "
                             f"case.json was edited after compiling, or the HL model is stale: restore case.json, or "
                             f"recompile the case (circuit-ablation-compile {case.id})")

    # (field, its value, what the HL model must have for it, HL field, the HL model's value)
    for field, ours, want, hl_field, theirs in (
            ("max_seq_len", case.max_seq_len, case.max_seq_len, "n_ctx", cfg.n_ctx),
            ("causal", case.causal, "causal" if case.causal else "bidirectional", "attention_dir", cfg.attention_dir),
            ("encoding's size", len(case.encoding), len(case.encoding), "d_vocab", cfg.d_vocab),
            ("output_classes' size" if case.is_categorical else "a numerical output's size",
             *[len(case.output_classes or ()) if case.is_categorical else 1] * 2, "d_vocab_out", cfg.d_vocab_out)):
        if want != theirs:
            raise refuse(field, ours, hl_field, theirs)
    hl_nodes = set(all_nodes(cfg.n_layers, cfg.n_heads, cfg.attn_only))
    for hl_name, (hook, _) in case.correspondence().items():
        if parse_node(hook) not in hl_nodes:
            raise AblationError(f"{where}: correspondence entry {hl_name!r} names HL node {hook}, which the compiled HL "
                                f"model ({_shape_words(cfg.n_layers, cfg.n_heads)}{', no MLPs' if cfg.attn_only else ''}) lacks")
    layout_path = case.dir / hubfiles.LAYOUT_FILE
    if not layout_path.is_file():
        return  # a case compiled before layouts were written: its sizes were checked above
    layout = _read_json(layout_path)
    if case.is_categorical and layout.get("output_classes") is not None and layout["output_classes"] != case.output_classes:
        raise refuse("output_classes", case.output_classes, "the classes, in order,", layout["output_classes"])
    labels = layout.get("residual_labels") or []
    token_dims = [j for j, label in enumerate(labels) if str(label).startswith("tokens:")]
    if len(labels) != cfg.d_model or not token_dims:
        return
    rows = hl.embed.W_E.detach()[:, token_dims]
    for token, i in case.encoding.items():  # tracr embeds token id i as the one residual direction 'tokens:<token>'
        written = [labels[token_dims[k]][len("tokens:"):] for k in rows[i].nonzero().flatten().tolist()]
        if written != [str(token)]:
            raise refuse(f"encoding[{token!r}]", i, f"token id {i} as", written[0] if len(written) == 1 else written)


def _shape_words(layers: int, heads: int) -> str:
    return f"{layers} layer{'s' * (layers != 1)} of {heads} head{'s' * (heads != 1)}"


def check_circuit_fits_shape(case: Case, n_layers: int, n_heads: int, what: str) -> None:
    """Refuse a correspondence naming an LL node that a model of this shape lacks (the trainer crashed on
    it with an IndexError inside its hooks)."""
    unknown = sorted(case.circuit() - set(all_nodes(n_layers, n_heads)), key=lambda n: n.sort_key())
    if unknown:
        raise AblationError(f"{case.dir / 'case.json'}: the correspondence names LL node {unknown[0].full_name}, which "
                            f"{what} ({_shape_words(n_layers, n_heads)}) lacks")


def user_models(root: Path) -> list[ModelRef]:
    """Models in InterpBench's hub layout: ``<root>/<case>/ll_model.pth`` (+ cfg pickle)."""
    root = Path(root)
    if not root.is_dir():
        raise SettingError("models", root, "folder not found")
    name = re.sub(r"[^A-Za-z0-9_.]+", "_", root.resolve().name) or "user"
    refs = []
    for sub in sorted(p for p in root.iterdir() if p.is_dir()):
        if (sub / hubfiles.WEIGHTS_FILE).exists() or (sub / hubfiles.CFG_FILE).exists():
            refs.append(ModelRef(sub.name, name, sub, GATED, "user"))
    if not refs:
        raise SettingError("models", root, f"no <case>/{hubfiles.WEIGHTS_FILE} inside (expected InterpBench's layout, e.g. {root}/3/{hubfiles.WEIGHTS_FILE})")
    return refs


HUB_METADATA_FILE = "benchmark_metadata.json"


def _case_words(case: Case) -> str:
    """'built-in case 3 (frac_prevs)', or 'case firsta (first_is_a) of $CIRCUIT_ABLATION_CASES' for a user's."""
    return f"case {case.id} ({case.name}) of ${CASES_ENV}" if os.environ.get(CASES_ENV) else f"built-in case {case.id} ({case.name})"


def _refuse(where: Path, field: str, theirs: Any, ours: Any, case: Case) -> AblationError:
    return AblationError(f"{where}: {field} is {theirs!r}, but {_case_words(case)} has {ours!r}; "
                         "this model was trained on another task definition")


def check_model_fits_case(ref: ModelRef, case: Case) -> None:
    """Refuse, in one line naming the field and both values, a model whose shape or declared task is not
    the built-in case's: judging it against another task would call a good model bad. Reads the config
    and InterpBench's metadata (a case's ``meta.json``, a hub root's ``benchmark_metadata.json``) only."""
    cfg = hubfiles.read_config(ref.path)
    where = ref.path / hubfiles.CFG_FILE
    d_vocab_out = len(case.output_classes or []) if case.is_categorical else 1
    for field_name, ours in (("n_ctx", case.max_seq_len), ("d_vocab", len(case.encoding)), ("d_vocab_out", d_vocab_out)):
        if cfg.get(field_name) != ours:
            raise _refuse(where, field_name, cfg.get(field_name), ours, case)
    mask = "causal" if case.causal else "bidirectional"  # the program's attention: part of its task
    if cfg.get("attention_dir", "causal") != mask:
        raise _refuse(where, "attention_dir", cfg.get("attention_dir", "causal"), mask, case)
    for declared, where in _declared_tasks(ref):
        # this project's trainer records the case it trained for: a model copied into another case's folder
        if str(declared.get("trainer", "")).startswith("pytest_circuit_ablation") and "case" in declared \
                and str(declared["case"]) != case.id and _another_task(str(declared["case"]), case):
            raise _refuse(where, "case", str(declared["case"]), case.id, case)
        if "max_seq_len" in declared and declared["max_seq_len"] != case.max_seq_len:
            raise _refuse(where, "max_seq_len", declared["max_seq_len"], case.max_seq_len, case)
        vocab = declared.get("vocab")
        if isinstance(vocab, (list, tuple)) and sorted(map(str, vocab)) != sorted(case.vocab):
            raise _refuse(where, "vocab", sorted(map(str, vocab)), sorted(case.vocab), case)


def _another_task(case_id: str, case: Case) -> bool:
    """Is case ``case_id`` (beside ``case`` in its cases folder) another task than ``case``? A case copied
    under a new id is the same task; one that is not there cannot be told apart, and is not refused."""
    if case_id not in available_case_ids(case.dir.parent):
        return False
    try:
        other = load_case(case_id, case.dir.parent)
    except AblationError:
        return False
    return (other.name, other.max_seq_len, sorted(other.vocab)) != (case.name, case.max_seq_len, sorted(case.vocab))


def _declared_tasks(ref: ModelRef) -> list[tuple[dict[str, Any], Path]]:
    """What InterpBench's metadata beside a model says about its task: the model folder's ``meta.json``
    and the hub root's ``benchmark_metadata.json`` entry for this case, where present."""
    found = []
    meta = ref.path / hubfiles.META_FILE
    if meta.is_file():
        found.append((_read_json(meta), meta))
    hub = ref.path.parent / HUB_METADATA_FILE
    if ref.source == "user" and hub.is_file():
        entries = _read_json(hub).get("cases", [])
        if not isinstance(entries, list):
            raise AblationError(f"{hub}: 'cases' must be a list")
        for entry in entries:
            if isinstance(entry, dict) and str(entry.get("case_id")) == ref.case_id:
                found.append((entry, hub))
    return found


def _read_json(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError) as exc:
        raise AblationError(f"{path}: cannot read ({exc})") from None
    except json.JSONDecodeError as exc:
        raise AblationError(f"{path}: invalid JSON ({json_problem(exc)})") from None
    if not isinstance(data, dict):
        raise AblationError(f"{path}: expected a JSON object")
    return data


def model_nodes(ref: ModelRef) -> list[Node]:
    """Every node of an LL model, read from its config (no torch)."""
    cfg = hubfiles.read_config(ref.path)
    return all_nodes(cfg["n_layers"], cfg["n_heads"], bool(cfg.get("attn_only")))


def model_circuit(ref: ModelRef, case: Case, nodes: list[Node]) -> set[Node]:
    """In-circuit nodes: the folder's ``edges.pkl`` when it has one, else the case's correspondence."""
    edges = hubfiles.read_edges(ref.path)
    try:
        circuit = nodes_from_edges(edges) if edges is not None else case.circuit()
    except ValueError as exc:
        raise AblationError(f"{ref.path / hubfiles.EDGES_FILE}: {exc}") from None
    if edges is not None and not circuit:
        # every model would fail (or pass) against an empty circuit: the file is wrong, not the model
        shown = ", ".join(sorted({e for edge in edges for e in edge})[:3]) or "no edges at all"
        raise AblationError(f"{ref.path / hubfiles.EDGES_FILE}: names no attention head or MLP of the model "
                            f"(endpoints: {shown}); a circuit needs at least one")
    unknown = sorted(n.full_name for n in circuit - set(nodes))
    if unknown:
        where = ref.path / hubfiles.EDGES_FILE if edges is not None else case.dir / "case.json"
        cfg = hubfiles.read_config(ref.path)
        shape = f"{cfg['n_layers']} layers, {cfg['n_heads']} heads{', attention only' if cfg.get('attn_only') else ''}"
        raise AblationError(f"{where}: circuit names nodes the model does not have: {', '.join(unknown)} "
                            f"(its {ref.path / hubfiles.CFG_FILE}: {shape})")
    return circuit
