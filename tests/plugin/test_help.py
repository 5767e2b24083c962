"""pytest --help and collection stay light: torch and TransformerLens load only when a fixture needs them."""
import subprocess
import sys


def _imported(args, cwd):
    proc = subprocess.run([sys.executable, "-X", "importtime", "-m", "pytest", *args], cwd=cwd,
                          capture_output=True, text=True, timeout=120)
    return {line.split("|")[-1].strip() for line in proc.stderr.splitlines() if line.startswith("import time:")}, proc


def test_help_does_not_import_torch(tmp_path):
    modules, proc = _imported(["--help"], tmp_path)
    assert proc.returncode == 0 and "--ablation-report" in proc.stdout
    assert any(m.startswith("pytest_circuit_ablation") for m in modules)  # the plugin did load
    assert not {"torch", "transformer_lens", "sklearn"} & modules


def test_collection_does_not_import_torch(tmp_path):
    modules, proc = _imported(["--pyargs", "pytest_circuit_ablation", "--collect-only", "-q", "-p", "no:cacheprovider"], tmp_path)
    assert proc.returncode == 0, proc.stdout[-2000:]
    assert "case3-siit-L1H2-resample-1.0" in proc.stdout
    assert not {"torch", "transformer_lens"} & modules
