"""The verdict words the CSVs carry (report/rows.py): one per checkpoint, one per model."""
from pytest_circuit_ablation.report.rows import model_rows, model_verdict, separation_rows


def test_a_model_verdict_is_the_first_checkpoint_that_misses_what_its_role_asks_for():
    assert model_verdict("gated", "passed", ["PASS", "PASS"]) == "PASS"
    assert model_verdict("gated", "passed", ["PASS", "FAIL"]) == "FAIL"
    assert model_verdict("negative-control", "passed", ["REJECTED", "REJECTED"]) == "REJECTED"
    assert model_verdict("negative-control", "passed", ["REJECTED", "ACCEPTED"]) == "ACCEPTED"
    assert model_verdict("gated", "passed", ["NOT MEANINGFUL"]) == "NOT MEANINGFUL"
    assert model_verdict("gated", "failed", []) == "REFUSED" and model_verdict("gated", "skipped", []) == "SKIPPED"
    assert model_verdict("gated", "passed", []) == ""  # no checkpoint in the sweep: no verdict


def test_the_gates_own_decision_sets_the_verdict_whatever_pytest_made_of_it():
    """Under --runxfail a rejected control's item fails and an accepted one passes: the outcome alone would
    invert both verdicts."""
    from pytest_circuit_ablation.suite.gate import verdict_word

    assert verdict_word("negative-control", "failed", rejected=True) == "REJECTED"  # --runxfail
    assert verdict_word("negative-control", "passed", rejected=False) == "ACCEPTED"  # --runxfail
    assert verdict_word("negative-control", "xfailed", rejected=True) == "REJECTED"
    assert verdict_word("negative-control", "failed", rejected=False) == "ACCEPTED"  # XPASS(strict)
    assert verdict_word("gated", "failed", rejected=False) == "FAIL"  # an error after the gate's decision
    assert verdict_word("gated", "passed", rejected=False) == "PASS"
    assert verdict_word("negative-control", "skipped", rejected=True) == "NOT MEANINGFUL"


def test_rows_carry_the_verdict_of_their_own_model_and_role():
    common = dict(task="3", role="negative-control", model="iit")
    rows = [dict(common, kind="load", outcome="passed"),
            dict(common, kind="separation", gate_role="control", outcome="failed", rejected=True, mode="resample", scale=1.0),
            dict(common, kind="separation", gate_role="measure", outcome="passed", mode="resample", scale=0.5),
            dict(common, kind="load", model="siit", role="gated", outcome="passed"),
            dict(common, kind="separation", model="siit", role="gated", gate_role="gate", outcome="failed", rejected=True,
                 mode="resample", scale=1.0),
            # a row read back from a written report (a merge): its verdict as written
            dict(common, kind="load", model="natural", outcome="passed"),
            dict(common, kind="separation", model="natural", gate_role="control", outcome="failed", verdict="REJECTED",
                 mode="resample", scale=1.0)]
    assert [(r["model"], r["verdict"]) for r in model_rows(rows)] == [("iit", "REJECTED"), ("siit", "FAIL"), ("natural", "REJECTED")]
    assert [(r["model"], r["scale"], r["verdict"]) for r in separation_rows(rows)] == [
        ("iit", 1.0, "REJECTED"), ("iit", 0.5, ""), ("siit", 1.0, "FAIL"), ("natural", 1.0, "REJECTED")]


def test_a_new_report_leaves_no_figure_of_an_earlier_one(tmp_path):
    from pytest_circuit_ablation.report import write_report

    figures = tmp_path / "figures"
    figures.mkdir()
    for name in ("case3-siit-resample.png", "case99-old-mean.pdf", "case3-siit-pca-self-orth.png", "notes.txt",
                 "my_diagram.png", "paper.pdf", "case3-siit-resample-zoom.png"):
        (figures / name).write_text("from an earlier run")
    write_report(tmp_path, [], {}, images=())  # a run without images: none of the earlier ones describe it
    # a report's figures are gone; what a report never names (a user's own images) is kept
    assert sorted(p.name for p in figures.iterdir()) == ["case3-siit-resample-zoom.png", "my_diagram.png", "notes.txt", "paper.pdf"]
    assert (tmp_path / "ablation.csv").is_file()


def test_a_folder_with_files_a_report_did_not_write_is_refused(tmp_path):
    """A project's docs/index.html (or another tool's reports/) would be overwritten without a word."""
    from pytest_circuit_ablation.report import foreign_files_problem, write_report

    assert foreign_files_problem(tmp_path / "new") is None and foreign_files_problem(tmp_path) is None
    (tmp_path / "notes.txt").write_text("")
    assert foreign_files_problem(tmp_path) is None  # no name a report writes
    (tmp_path / "index.html").write_text("<p>the project's own page</p>")
    assert foreign_files_problem(tmp_path) == (f"{tmp_path} holds index.html, which no report of this plugin wrote (no "
                                               "ablation.json of one): a report would overwrite it; choose an empty or new folder")
    (tmp_path / "ablation.json").write_text('{"coverage": 1}')  # someone else's file of that name
    assert "holds ablation.json and index.html, " in foreign_files_problem(tmp_path)
    (tmp_path / "index.html").unlink()
    (tmp_path / "ablation.json").unlink()
    hub = tmp_path / "hub"
    (hub / "3").mkdir(parents=True)
    (hub / "3" / "ll_model.pth").write_bytes(b"")
    assert foreign_files_problem(hub) == (f"{hub} holds models (3/ll_model.pth): a report does not go among them; "
                                          "choose an empty or new folder")
    write_report(tmp_path, [], {"settings": {}, "models": {}}, images=())
    assert foreign_files_problem(tmp_path) is None  # an earlier report's folder is written again
    (tmp_path / "ablation.json").unlink()  # a project that keeps the byte-stable tables and page only
    assert foreign_files_problem(tmp_path) is None
    (tmp_path / "models.csv").write_text("name,score\nours,1\n")
    assert "holds models.csv, which no report" in foreign_files_problem(tmp_path)


def test_a_training_record_with_missing_or_nan_values_renders():
    from pytest_circuit_ablation.report.html import _training_html

    line = _training_html({"accuracy": float("nan"), "steps": 1200.0, "seconds": 3.4})
    assert "accuracy <span class=muted>n/a</span>" in line and "1200 steps" in line and "&lt;" not in line


def test_a_merged_model_without_a_training_record_has_none():
    """Rows read back from models.csv (a merge) hold None in train_* for a model from elsewhere: no record,
    not a crash on int(None) when the page is written."""
    from pytest_circuit_ablation.report.terminal import model_entries

    entries = model_entries([dict(kind="load", task="3", model="user", role="gated", outcome="passed",
                                  train_accuracy=None, train_steps=None)])
    assert entries[("3", "user")]["training"] == {}


def test_the_diagnosis_line_names_diagnosis_csv_as_written_only_with_a_report():
    """Without --ablation-report the summary sent the reader to a diagnosis.csv that no run had written."""
    from pytest_circuit_ablation.report.terminal import diagnosis_lines

    rows = [dict(kind="diagnosis", task="3", model="siit", role="gated", node="L0H0", verdict="causal")]
    assert diagnosis_lines(rows, in_report=True)[0].endswith("every node's verdict is in diagnosis.csv")
    assert diagnosis_lines(rows, in_report=False)[0].endswith(
        "every node's verdict is in the report's diagnosis.csv (--ablation-report)")


def test_a_failing_number_is_shown_with_the_digits_that_make_it_fail():
    """tau_out 0 and an out-of-circuit node with no flipped cell: its Wilson upper bound 0.0003 read
    'upper=0.000' on the page and in the terminal, which looked like a pass."""
    from pytest_circuit_ablation.suite.gate import GateRule, shown

    assert shown(0.000349, 0.0, True) == "0.0003" and shown(0.176, 0.1, True) == "0.176"
    assert shown(0.49996, 0.5, False) == "0.49996" and shown(0.42, 0.5, False) == "0.420"
    assert GateRule(tau_out=0.0).offence(False, 0.0, 0.000349, None) == "Wilson upper bound 0.0003 > tau_out 0.0"


def test_the_page_never_shows_a_nonzero_number_as_zero_nor_minus_zero():
    """An offender's Wilson upper bound 0.0003 read [0.000, 0.000]; an AUROC / margin of all ties read
    "-0.000"; a margin of -0.0001 must keep its sign."""
    from pytest_circuit_ablation.report.html import _num

    assert _num(0.000349) == "0.00035" and _num(-0.0001, "{:+.3f}") == "-0.0001"
    assert _num(-0.0) == "0.000" and _num(-0.0, "{:+.3f}") == "+0.000" and _num(0.5) == "0.500"


def test_the_banner_says_why_a_model_is_not_as_expected():
    """A failing run's banner named the models and nothing else; the reason was three screens down."""
    from pytest_circuit_ablation.report.html import _banner

    gate = dict(mode="resample", scale=1.0, role="gated", outcome="failed", rejected=True,
                offenders="L0H1=0.000[upper=0.0003] L1H0=0.176[upper=0.181]")
    entries = {("3", "siit"): {"role": "gated", "gates": [gate]},
               ("3", "iit"): {"role": "negative-control", "gates": [dict(gate, role="negative-control", outcome="xfailed")]},
               ("14", "siit"): {"role": "gated", "gates": [], "refused": "no such file", "refused_as": "REFUSED"}}
    banner = _banner(entries)
    assert "1 of 1 negative controls rejected" in banner and "0 of 2 gated models passed" in banner
    assert "<a href='#case3-siit'>case3-siit</a> (FAIL at resample x 1.0: 2 offenders)" in banner
    assert "<a href='#case14-siit'>case14-siit</a> (REFUSED)" in banner and "case3-iit" not in banner


def test_an_accuracy_below_the_minimum_never_reads_as_the_minimum():
    """98.996% against min_accuracy 99% read "99.00%" on a model that failed its accuracy item."""
    from pytest_circuit_ablation.suite.gate import not_meaningful, percent

    assert percent(0.98996, 0.99) == "98.996%" and percent(0.995, 0.99) == "99.50%" and percent(0.5) == "50.00%"
    assert not_meaningful("siit", 0.98996, 0.99) == "not meaningful: siit matches its HL model on only 98.996% of cells"


def test_a_model_whose_checkpoint_was_skipped_has_no_flagged_nodes_even_without_its_accuracy_row():
    """NOT MEANINGFUL comes from the skipped checkpoint; with the accuracy item deselected (-k) the flagged
    list read only the accuracy row, and listed every node of such a model as leaking again."""
    from pytest_circuit_ablation.report.terminal import flagged_nodes

    diag = dict(kind="diagnosis", task="3", model="x", role="gated", node="L0H0", verdict="leaking")
    skipped = dict(kind="separation", task="3", model="x", role="gated", gate_role="gate", outcome="skipped")
    assert flagged_nodes([diag]) == [diag]
    assert flagged_nodes([diag, skipped]) == []
    assert flagged_nodes([diag, dict(skipped, outcome="failed")]) == [diag]  # a model that failed its gate keeps them
