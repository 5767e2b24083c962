"""The verdict words the CSVs carry (report/rows.py): one per checkpoint, one per model."""
from pytest_circuit_ablation.report.rows import model_rows, model_verdict, separation_rows


def test_a_model_verdict_is_the_first_checkpoint_that_misses_what_its_role_asks_for():
    assert model_verdict("gated", "passed", ["passed", "passed"]) == "PASS"
    assert model_verdict("gated", "passed", ["passed", "failed"]) == "FAIL"
    assert model_verdict("negative-control", "passed", ["xfailed", "xfailed"]) == "REJECTED"
    assert model_verdict("negative-control", "passed", ["xfailed", "failed"]) == "ACCEPTED"
    assert model_verdict("gated", "passed", ["skipped"]) == "NOT MEANINGFUL"
    assert model_verdict("gated", "failed", []) == "REFUSED" and model_verdict("gated", "skipped", []) == "SKIPPED"
    assert model_verdict("gated", "passed", []) == ""  # no checkpoint in the sweep: no verdict


def test_rows_carry_the_verdict_of_their_own_model_and_role():
    common = dict(task="3", role="negative-control", model="iit")
    rows = [dict(common, kind="load", outcome="passed"),
            dict(common, kind="separation", gate_role="control", outcome="xfailed", mode="resample", scale=1.0),
            dict(common, kind="separation", gate_role="measure", outcome="passed", mode="resample", scale=0.5),
            dict(common, kind="load", model="siit", role="gated", outcome="passed"),
            dict(common, kind="separation", model="siit", role="gated", gate_role="gate", outcome="failed", mode="resample", scale=1.0)]
    assert [(r["model"], r["verdict"]) for r in model_rows(rows)] == [("iit", "REJECTED"), ("siit", "FAIL")]
    assert [(r["model"], r["scale"], r["verdict"]) for r in separation_rows(rows)] == [
        ("iit", 1.0, "REJECTED"), ("iit", 0.5, ""), ("siit", 1.0, "FAIL")]
