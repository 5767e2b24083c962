"""--ablation-shard I/N and ``circuit-ablation-report merge``: shards merged give the report one run gives."""
import json
import re
import shutil
from pathlib import Path

import pytest

from pytest_circuit_ablation.core.hubfiles import model_hash
from pytest_circuit_ablation.tools.report import main as report_main
from tests.helpers import model_dir

# three models in case 3 and one in case 35 (a regression and a categorical case), small settings
SETTINGS = ("--ablation-tasks=3,35", "--ablation-modes=resample,zero", "--ablation-scales=0.5,1.0,10.0",
            "--ablation-inputs=40", "--ablation-images=none")
TABLES = ("ablation.csv", "separation.csv", "models.csv", "diagnosis.csv")


def _page(path) -> str:
    """The page without what a run's wall clock or command decides (timings, provenance, the folded metadata,
    the merge's own row)."""
    text = path.read_text()
    text = re.sub(r"<table id='(timings|provenance)'>.*?</table>", "", text, flags=re.S)
    text = re.sub(r"<tr><th class=l>(seconds \(run\)|merged from|items)</th>.*?</tr>", "", text)
    text = re.sub(r"<p class=muted>Merged from \d+ report folders.*?</p>", "", text)
    return re.sub(r"<details><summary>all metadata.*?</details>", "", text, flags=re.S)


@pytest.fixture(scope="module")
def shard_runs(tmp_path_factory):
    """One serial run and its three shards, run once for the module (pytester is per test, so plain runs)."""
    import subprocess
    import sys

    root = tmp_path_factory.mktemp("shards")
    base = [sys.executable, "-m", "pytest", "--pyargs", "pytest_circuit_ablation", "-p", "no:cacheprovider",
            "-p", "no:randomly", "-q", "--ablation-report", *SETTINGS]
    runs = {"serial": subprocess.run([*base, "--ablation-report-dir=serial"], cwd=root, capture_output=True, text=True)}
    for i in (1, 2, 3):
        runs[f"s{i}"] = subprocess.run([*base, f"--ablation-report-dir=s{i}", f"--ablation-shard={i}/3"], cwd=root,
                                       capture_output=True, text=True)
    # shard 1 (case3-iit and case35-siit) with -k: a whole model's report, of case35-siit alone
    runs["s1k"] = subprocess.run([*base, "--ablation-report-dir=s1k", "--ablation-shard=1/3", "-k", "case35"], cwd=root,
                                 capture_output=True, text=True)
    for name, run in runs.items():
        assert run.returncode == 0, (name, run.stdout[-2000:], run.stderr[-2000:])
    return root, runs


def test_three_shards_merged_equal_one_run(shard_runs, capsys):
    root, runs = shard_runs
    models = [set(json.loads((root / f"s{i}" / "ablation.json").read_text())["models"]) for i in (1, 2, 3)]
    assert all(models) and not (models[0] & models[1] or models[1] & models[2] or models[0] & models[2])
    assert set().union(*models) == set(json.loads((root / "serial" / "ablation.json").read_text())["models"])
    assert report_main(["merge", *(str(root / f"s{i}") for i in (3, 1, 2)), "-o", str(root / "merged"), "--images", "none"]) == 0
    for name in TABLES:
        assert (root / "merged" / name).read_bytes() == (root / "serial" / name).read_bytes(), name
    assert _page(root / "merged" / "index.html") == _page(root / "serial" / "index.html")
    meta = json.loads((root / "merged" / "ablation.json").read_text())
    assert meta["items"] == json.loads((root / "serial" / "ablation.json").read_text())["items"]
    assert [m["shard"] for m in meta["merged_from"]] == ["3/3", "1/3", "2/3"]
    # each shard's own command stays with its folder; the merged report claims none of them as its own
    assert "provenance" not in meta and [m["provenance"]["command"][-1] for m in meta["merged_from"]] == ["--ablation-shard=3/3", "--ablation-shard=1/3", "--ablation-shard=2/3"]
    page = (root / "merged" / "index.html").read_text()
    assert "<th class=l>command (run 3)</th>" in page and "--ablation-shard=2/3" in page
    assert "<p class=muted>Merged from 3 report folders" in (root / "merged" / "index.html").read_text()
    shard_page = (root / "s1" / "index.html").read_text()
    assert "Shard 1/3 of a run (2 of the 4 planned models)" in shard_page
    assert "shard 1/3: these models only; circuit-ablation-report merge" in runs["s1"].stdout


def test_merge_refuses_what_does_not_fit(shard_runs, tmp_path, capsys):
    root, _ = shard_runs
    shards = [str(root / f"s{i}") for i in (1, 2, 3)]
    assert report_main(["merge", shards[0], shards[2], "-o", str(tmp_path / "out"), "--images", "none"]) == 2
    assert "shard 2/3 is missing" in capsys.readouterr().err
    assert report_main(["merge", *shards, str(root / "serial"), "-o", str(tmp_path / "out"), "--images", "none"]) == 2
    assert "different splits" in capsys.readouterr().err
    assert report_main(["merge", *shards, "-o", str(tmp_path / "merged"), "--images", "none"]) == 0
    assert report_main(["merge", str(tmp_path / "merged"), shards[1], "-o", str(tmp_path / "out"), "--images", "none"]) == 2
    assert "shards of different splits: a merged report, 2/3" in capsys.readouterr().err  # it said "unsharded"
    other = tmp_path / "other"
    shutil.copytree(shards[1], other)
    meta = json.loads((other / "ablation.json").read_text())
    meta["settings"]["inputs"] = 41
    (other / "ablation.json").write_text(json.dumps(meta))
    assert report_main(["merge", shards[0], str(other), shards[2], "-o", str(tmp_path / "out"), "--images", "none"]) == 2
    err = capsys.readouterr().err
    assert "settings differ" in err and "inputs: 40 vs 41" in err
    assert meta["settings"]["tasks"] == ["3", "35"] and meta["settings"]["models_from"] == "built-in"
    meta["settings"]["inputs"] = 40
    meta["settings"]["tasks"] = ["3", "4", "35"]  # a shard planned from another task list: another model set
    (other / "ablation.json").write_text(json.dumps(meta))
    assert report_main(["merge", shards[0], str(other), shards[2], "-o", str(tmp_path / "out"), "--images", "none"]) == 2
    assert "tasks: " in capsys.readouterr().err
    meta["settings"]["tasks"] = ["3", "35"]
    key = sorted(meta["definitions"])[0]
    meta["definitions"][key]["circuit"] = meta["definitions"][key]["circuit"][1:]  # another edges.pkl or correspondence
    (other / "ablation.json").write_text(json.dumps(meta))
    assert report_main(["merge", shards[0], str(other), shards[2], "-o", str(tmp_path / "out"), "--images", "none"]) == 2
    assert f"{key} was judged against another task definition or circuit than in " in capsys.readouterr().err
    assert report_main(["merge", str(tmp_path / "nothing"), "-o", str(tmp_path / "out")]) == 2
    assert "nothing: no such folder" in capsys.readouterr().err
    assert report_main(["merge", *shards, str(tmp_path), "-o", str(tmp_path / "out")]) == 2
    assert "not a report folder" in capsys.readouterr().err
    foreign = tmp_path / "foreign"
    shutil.copytree(shards[1], foreign)
    (foreign / "separation.csv").write_text("task,model\n3,siit\n")  # someone else's table under our name
    assert report_main(["merge", shards[0], str(foreign), shards[2], "-o", str(tmp_path / "out")]) == 2
    assert "separation.csv: not this report's table (or one written by another version of this package): no column role, mode, scale and " in capsys.readouterr().err
    truncated = tmp_path / "truncated"
    shutil.copytree(shards[1], truncated)
    text = (truncated / "ablation.csv").read_text()
    (truncated / "ablation.csv").write_text(text[: len(text) // 2])  # cut inside a row: it parsed, with gaps
    assert report_main(["merge", shards[0], str(truncated), shards[2], "-o", str(tmp_path / "out")]) == 2
    assert "its tables hold" in capsys.readouterr().err
    (tmp_path / "blocker").write_text("")
    assert report_main(["merge", *shards, "-o", str(tmp_path / "blocker" / "out")]) == 2
    assert "-o: cannot write to" in capsys.readouterr().err
    (tmp_path / "page").mkdir()
    (tmp_path / "page" / "index.html").write_text("<p>someone's page</p>")
    assert report_main(["merge", *shards, "-o", str(tmp_path / "page"), "--images", "none"]) == 2
    assert "page holds index.html, which no report of this plugin wrote" in capsys.readouterr().err
    assert (tmp_path / "page" / "index.html").read_text() == "<p>someone's page</p>"
    assert not (tmp_path / "out").exists()  # nothing half-written


def test_merge_refuses_shards_that_lack_a_planned_model_or_compared_other_baselines(shard_runs, tmp_path, capsys):
    """Each shard records the whole plan and its baseline: a shard run with -k (a whole model's report, of
    fewer models) or folders of other plans or baselines made a merged report that read as whole."""
    root, _ = shard_runs
    shards = [str(root / f"s{i}") for i in (1, 2, 3)]
    out = str(tmp_path / "out")
    assert set(json.loads((root / "s1k" / "ablation.json").read_text())["models"]) == {"case35-siit"}
    assert report_main(["merge", str(root / "s1k"), shards[1], shards[2], "-o", out, "--images", "none"]) == 2
    assert "case3-iit of the plan in no merged report (a shard run with -k" in capsys.readouterr().err
    assert report_main(["merge", str(root / "serial"), "-o", out, "--images", "none"]) == 0  # one whole run
    alone = tmp_path / "alone"  # an unsharded run with -k case35: its report of the models it ran
    shutil.copytree(root / "s1k", alone)
    alone_meta = json.loads((alone / "ablation.json").read_text())
    del alone_meta["shard"]
    (alone / "ablation.json").write_text(json.dumps(alone_meta))
    assert report_main(["merge", str(alone), "-o", out, "--images", "none"]) == 0  # one folder: as its run wrote it
    other = tmp_path / "other"
    shutil.copytree(shards[1], other)
    meta = json.loads((other / "ablation.json").read_text())
    assert list(meta["planned_models"]) == ["case3-iit", "case3-natural", "case3-siit", "case35-siit"]
    assert meta["planned_models"]["case3-siit"] == model_hash(model_dir("siit"))
    planned = dict(meta["planned_models"])
    meta["planned_models"] = {**planned, "case8-siit": "cd" * 32}  # e.g. another model folder of the same name
    (other / "ablation.json").write_text(json.dumps(meta))
    assert report_main(["merge", shards[0], str(other), shards[2], "-o", out, "--images", "none"]) == 2
    assert "planned other models than" in capsys.readouterr().err
    meta["planned_models"] = {**planned, "case3-natural": "cd" * 32}  # same names, one model retrained
    (other / "ablation.json").write_text(json.dumps(meta))
    assert report_main(["merge", shards[0], str(other), shards[2], "-o", out, "--images", "none"]) == 2
    assert "case3-natural is another model than" in capsys.readouterr().err
    meta["planned_models"] = "case3-siit"
    (other / "ablation.json").write_text(json.dumps(meta))
    assert report_main(["merge", shards[0], str(other), shards[2], "-o", out, "--images", "none"]) == 2
    assert "planned_models is neither" in capsys.readouterr().err
    meta["planned_models"] = planned
    assert meta["baseline"] is None
    meta["baseline"] = {"file": "b.json", "sha256": "ab" * 32, "tol": 0.02}
    (other / "ablation.json").write_text(json.dumps(meta))
    assert report_main(["merge", shards[0], str(other), shards[2], "-o", out, "--images", "none"]) == 2
    assert "compared with baseline b.json (sha256 abababababab, tolerance 0.02)" in capsys.readouterr().err
    for shard in (shards[0], shards[2]):  # the same baseline under another name is the same baseline
        shard_meta = json.loads((Path(shard) / "ablation.json").read_text())
        shard_meta["baseline"] = {"file": "downloaded.json", "sha256": "ab" * 32, "tol": 0.02}
        (tmp_path / Path(shard).name).mkdir()
        for name in (*TABLES, "ablation.json"):
            shutil.copy(Path(shard) / name, tmp_path / Path(shard).name / name)
        (tmp_path / Path(shard).name / "ablation.json").write_text(json.dumps(shard_meta))
    assert report_main(["merge", str(tmp_path / "s1"), str(other), str(tmp_path / "s3"), "-o", out, "--images", "none"]) == 0
    meta["baseline"] = None
    meta["versions"]["kaleido"] = "0.0.1"  # draws images, changes no number: merged, both versions kept
    (other / "ablation.json").write_text(json.dumps(meta))
    assert report_main(["merge", shards[0], str(other), shards[2], "-o", out, "--images", "none"]) == 0
    merged = json.loads((tmp_path / "out" / "ablation.json").read_text())
    assert "0.0.1" in merged["versions"]["kaleido"] and " / " in merged["versions"]["kaleido"]
    meta["versions"]["torch"] = "0.0.1"
    (other / "ablation.json").write_text(json.dumps(meta))
    assert report_main(["merge", shards[0], str(other), shards[2], "-o", out, "--images", "none"]) == 2
    assert "versions differ" in capsys.readouterr().err


def test_shard_options_refused_in_one_line(run_suite):
    """Case 3 has three models: a fourth shard of four is empty, a usage error rather than a green run."""
    for value, why in (("0/3", "between 1 and N"), ("4/3", "between 1 and N"), ("two", "is not I/N"),
                       ("\u00b2/3", "is not I/N"),  # a superscript two: isdigit() took it, int() did not (INTERNALERROR)
                       ("4/4", "no model falls in this shard")):
        result = run_suite(f"--ablation-shard={value}")
        assert result.ret == pytest.ExitCode.USAGE_ERROR
        result.stderr.fnmatch_lines([f"*--ablation-shard*{why}*"])
