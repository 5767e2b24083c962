"""The layout's two contracts: the science core works without pytest, and the gate lives in one module."""
import ast
import subprocess
import sys
from pathlib import Path

import pytest_circuit_ablation
from pytest_circuit_ablation.core.cases import ROLES
from pytest_circuit_ablation.suite import gate

PACKAGE = Path(pytest_circuit_ablation.__file__).parent
GATE_FILE = PACKAGE / "suite" / "gate.py"
THRESHOLDS = {"tau_in", "tau_out", "hl_tol", "min_accuracy"}


def _modules():
    return sorted(p for p in PACKAGE.rglob("*.py") if "builtin_cases" not in p.parts)


def test_the_core_imports_and_evaluates_with_pytest_blocked():
    """A notebook without pytest: every core module imports, and a case evaluates (the README's five lines)."""
    script = (
        "import sys\n"
        "sys.modules['pytest'] = None; sys.modules['_pytest'] = None\n"
        "import pkgutil, importlib, pytest_circuit_ablation.core as core\n"
        "for m in pkgutil.iter_modules(core.__path__): importlib.import_module('pytest_circuit_ablation.core.' + m.name)\n"
        "from pytest_circuit_ablation.core import Sweep, evaluate_case\n"
        "ev = evaluate_case('3', 'siit', Sweep(modes=('resample',), scales=(1.0,), inputs=20))\n"
        "print(sorted(ev.effects('resample', 1.0).items())[0])\n"
    )
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.splitlines()[-1].startswith("('L0H0', ")


def test_no_core_module_imports_the_pytest_side():
    for path in sorted((PACKAGE / "core").glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.level >= 2:
                assert node.module and node.module.split(".")[0] in ("errors",), f"{path.name} imports ..{node.module}"
            if isinstance(node, (ast.Import, ast.ImportFrom)):
                names = [a.name for a in node.names] + ([node.module] if isinstance(node, ast.ImportFrom) and node.module else [])
                assert not any(n.split(".")[0] in ("pytest", "_pytest") for n in names), f"{path.name} imports pytest"


def test_thresholds_roles_and_verdicts_are_defined_in_the_gate_module_only():
    words = {gate.verdict_word(role, outcome, rejected) for role in ROLES for rejected in (None, True, False)
             for outcome in ("passed", "failed", "xfailed", "skipped")}
    verdicts = words | {gate.verdict_text(role, word) for role in ROLES for word in words}
    offences = []
    for path in _modules():
        if path == GATE_FILE:
            continue
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            if isinstance(node, ast.Constant) and isinstance(node.value, str):
                if node.value in verdicts:
                    offences.append(f"{path.name}: verdict {node.value!r}")
                if node.value in ROLES and path.name != "cases.py":
                    offences.append(f"{path.name}: role {node.value!r} (use core.cases.GATED / CONTROL)")
            if isinstance(node, ast.FunctionDef) and node.name in ("verdict_word", "verdict_text", "offence", "describe", "upheld"):
                offences.append(f"{path.name}: defines {node.name}()")
            targets = []
            if isinstance(node, ast.keyword):
                targets = [(node.arg, node.value)]
            elif isinstance(node, (ast.Assign, ast.AnnAssign)):
                names = node.targets if isinstance(node, ast.Assign) else [node.target]
                targets = [(getattr(t, "id", getattr(t, "attr", None)), node.value) for t in names]
            for name, value in targets:
                if name and name.lower() in THRESHOLDS | {n.upper() for n in THRESHOLDS} and isinstance(value, ast.Constant):
                    offences.append(f"{path.name}: sets {name} = {value.value!r}")
    assert not offences, offences


def test_diagnosis_verdicts_and_thresholds_are_defined_in_its_module_only():
    """Like the gate: the diagnosis's verdict names and thresholds live in suite/diagnosis.py; everything
    else imports them."""
    from pytest_circuit_ablation.suite import diagnosis

    home = PACKAGE / "suite" / "diagnosis.py"
    offences = []
    for path in _modules():
        if path == home:
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Constant) and node.value in diagnosis.VERDICTS and node.value not in ("causal",):
                offences.append(f"{path.name}: verdict {node.value!r}")
            if isinstance(node, (ast.Assign, ast.AnnAssign)):
                names = node.targets if isinstance(node, ast.Assign) else [node.target]
                for t in names:
                    name = getattr(t, "id", getattr(t, "attr", None))
                    if name and name.lower() in ("spread_max", "load_min") and isinstance(node.value, ast.Constant):
                        offences.append(f"{path.name}: sets {name}")
            if isinstance(node, ast.FunctionDef) and node.name in ("diagnose", "requirement_offence"):
                offences.append(f"{path.name}: defines {node.name}()")
    assert not offences, offences


def test_from_plan_to_evaluation_each_model_file_is_read_once(monkeypatch):
    """Planning, the model-vs-case check and loading all need a model's config and its case.json; each
    file is read and validated once (a pickle read four times was the old path)."""
    from pytest_circuit_ablation.core import cases, hubfiles
    from pytest_circuit_ablation.core.sweep import Sweep
    from pytest_circuit_ablation.suite.plan import build_plan
    from pytest_circuit_ablation.suite.settings import Settings
    from pytest_circuit_ablation.suite.store import AblationStore

    reads: list[str] = []
    real_unpickle, real_read_text = hubfiles.safe_unpickle, Path.read_text
    monkeypatch.setattr(hubfiles, "safe_unpickle", lambda path: reads.append(str(path)) or real_unpickle(path))
    monkeypatch.setattr(Path, "read_text", lambda self, *a, **k: reads.append(str(self)) or real_read_text(self, *a, **k))
    monkeypatch.setattr(hubfiles, "_CONFIGS", {})
    monkeypatch.setattr(cases, "_SPECS", {})
    settings = Settings(sweep=Sweep(modes=("resample",), scales=(1.0,), inputs=20), gate=gate.GateRule(), tasks=("3",))
    plans = build_plan(settings)
    store = AblationStore(settings, plans, None)
    for plan in plans:
        store.evaluation(plan.ref.key)
    repeated = sorted({r for r in reads if reads.count(r) > 1 and r.endswith((hubfiles.CFG_FILE, "case.json"))})
    assert not repeated, repeated
    assert any(r.endswith(hubfiles.CFG_FILE) for r in reads)
