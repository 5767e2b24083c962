"""--ablation-checkpoints: the gate is asserted exactly at the checkpoints, nowhere else."""
from tests.plugin.conftest import read_csv


def test_extra_checkpoint_asserts_the_gate_there(run_suite, pytester):
    result = run_suite("--ablation-checkpoints=resample:1.0,zero:0.0", "--ablation-report", "-rA")
    result.stdout.fnmatch_lines(["*gate: * at resample x 1.0, zero x 0.0*"])
    roles = {(r["model"], r["mode"], r["scale"]): r["gate_role"] for r in read_csv(pytester.path / "reports" / "separation.csv")}
    # the siit model is gated at both checkpoints, the controls are judged there, the other setting is a measurement
    assert roles[("siit", "zero", "0.0")] == "gate" and roles[("siit", "resample", "1.0")] == "gate"
    assert roles[("iit", "zero", "0.0")] == "control"
    assert roles[("siit", "resample", "0.5")] == "measure"
    effects = read_csv(pytester.path / "reports" / "ablation.csv")
    assert {r["gate_role"] for r in effects if r["model"] == "siit" and r["mode"] == "zero"} == {"gate"}
    # zero ablation of the siit model's in-circuit nodes moves the output and its out-of-circuit nodes do not:
    # the gate at zero x 0.0 is a real assertion, and this model passes it
    outcome = {r["model"]: r["outcome"] for r in read_csv(pytester.path / "reports" / "separation.csv")
               if r["mode"] == "zero" and r["scale"] == "0.0"}
    assert outcome["siit"] in ("passed", "failed") and outcome["iit"] in ("xfailed", "failed")


def test_bad_checkpoint(run_suite):
    result = run_suite("--ablation-checkpoints=resample")
    assert result.ret == 4
    result.stderr.fnmatch_lines(["ERROR: --ablation-checkpoints: 'resample' is not mode:scale*"])
    result = run_suite("--ablation-checkpoints=bogus:1")
    assert result.ret == 4
    result.stderr.fnmatch_lines(["ERROR: --ablation-checkpoints: unknown mode 'bogus'*"])
