"""The SIIT trainer runs, writes InterpBench's format with meta.json, and learns (a short smoke run)."""
import json
import pickle

import pytest
import torch

from pytest_circuit_ablation.core.cases import available_case_ids, load_case
from pytest_circuit_ablation.core.hubfiles import load_ll_model
from pytest_circuit_ablation.tools.train.cli import main as train_main
from pytest_circuit_ablation.tools.train.siit import InputSpace, is_held_out
from tests.helpers import case3


def test_short_training_run_writes_interpbench_files(tmp_path):
    hub = tmp_path / "hub"
    rc = train_main(["3", "--name", "smoke", "--out", str(hub), "--max-steps", "100", "--eval-every", "50",
                     "--batch-size", "256", "--no-progress", "--early-stop", "80"])
    assert rc == 0
    out = hub / "3"  # InterpBench's hub layout: the plugin gates it with --ablation-models hub
    assert {p.name for p in out.iterdir()} == {"ll_model.pth", "ll_model_cfg.pkl", "meta.json"}
    meta = json.loads((out / "meta.json").read_text())
    assert meta["strict_weight"] == 10.0 and meta["model_pair"] == "strict"
    assert meta["command"].startswith("circuit-ablation-train 3 --name smoke")
    assert set(meta["final_metrics"]) >= {"accuracy", "iia", "strict_accuracy", "steps", "seconds"}
    assert meta["final_metrics"]["accuracy"] > 80.0  # an untrained model scores about 20
    cfg = pickle.loads((out / "ll_model_cfg.pkl").read_bytes())
    assert (cfg["n_layers"], cfg["n_heads"], cfg["d_head"], cfg["d_model"], cfg["d_mlp"]) == (2, 4, 3, 12, 48)
    assert cfg["dtype"] == torch.float32
    load_ll_model(out)


def test_input_space_ids_and_split():
    space = InputSpace(case3())
    assert space.size == 256
    toks = space.tokens(torch.tensor([0, 1, 255]))
    assert toks.tolist() == [[0, 2, 2, 2, 2], [0, 2, 2, 2, 3], [0, 5, 5, 5, 5]]
    ids = torch.arange(256)
    held = is_held_out(ids.repeat_interleave(256), ids.repeat(256))
    assert 0.15 < held.float().mean() < 0.25


def test_committed_models_record_their_command_and_metrics():
    for name in ("siit", "iit", "natural"):
        meta = json.loads((case3().dir / "models" / name / "meta.json").read_text())
        assert meta["command"].startswith(f"circuit-ablation-train 3 --name {name}")
        metrics = meta["final_metrics"]
        assert metrics["accuracy"] >= 99.5
        if name == "siit":
            assert metrics["iia"] >= 99.5 and metrics["strict_accuracy"] >= 99.5


@pytest.mark.parametrize("case_id", available_case_ids())
def test_every_builtin_model_records_its_training(case_id):
    """Issue 6: each committed model's meta.json holds the exact training command; a gated (SIIT) model
    met the 99.5% targets on held-out pairs, or case.json states the shortfall (with the measured value)
    or declares the model not-trained with the reason."""
    case = load_case(case_id)
    for name, entry in case.spec.get("models", {}).items():
        folder = case.dir / "models" / name
        if entry.get("status") == "not-trained":
            assert len(entry.get("why", "")) > 40 and not (folder / "ll_model.pth").exists()
            continue
        meta = json.loads((folder / "meta.json").read_text())
        assert meta["command"].startswith(f"circuit-ablation-train {case_id} --name {name}")
        final = meta["final_metrics"]
        assert final["accuracy"] >= 99.5
        if entry.get("role", "gated") == "gated":
            missed = [k for k in ("iia", "strict_accuracy") if final[k] < 99.5]
            # a shortfall is allowed only when case.json states it with the measured number
            assert not missed or all(f"{final[k]:.2f}%" in entry.get("shortfall", "") for k in missed), missed


def test_a_model_that_misses_its_targets_is_saved_aside_and_nothing_is_overwritten(tmp_path, capsys, monkeypatch):
    hub = tmp_path / "hub"
    args = ["3", "--name", "x", "--out", str(hub), "--max-steps", "2", "--eval-every", "1", "--batch-size", "64",
            "--eval-pairs", "256", "--no-progress"]
    assert train_main(args) == 1
    # outside the hub folder, where the gate (--ablation-models hub) would take "3.rejected" for a case
    assert not (hub / "3").exists() and not (hub / "3.rejected").exists()
    assert (tmp_path / "hub.rejected" / "3" / "ll_model.pth").exists()
    assert "saved as" in capsys.readouterr().err
    hub.mkdir()
    monkeypatch.chdir(hub)  # '--out .': the hub's sibling by its resolved name (Path('.') has none)
    assert train_main([*args, "--out", ".", "--force"]) == 1
    assert not list(hub.iterdir()) and "saved as" in capsys.readouterr().err
    (hub / "3").mkdir()
    (hub / "3" / "ll_model.pth").write_bytes(b"a model someone keeps")
    assert train_main([*args, "--early-stop", "1"]) == 2
    assert "already holds a model; choose another --out or pass --force" in capsys.readouterr().err
    assert (hub / "3" / "ll_model.pth").read_bytes() == b"a model someone keeps"
    (hub / "3" / "edges.pkl").write_bytes(b"the replaced model's circuit")
    assert train_main([*args, "--early-stop", "1", "--force"]) == 0
    assert (hub / "3" / "ll_model.pth").read_bytes() != b"a model someone keeps"
    # gone: the gate would have judged the new model against the old model's circuit
    assert not (hub / "3" / "edges.pkl").exists() and "removed " in capsys.readouterr().out


def test_a_trained_builtin_model_is_registered_for_the_gate(tmp_path, capsys):
    import shutil

    cases_dir = tmp_path / "cases"
    shutil.copytree(case3().dir, cases_dir / "3", ignore=shutil.ignore_patterns("models"))
    rc = train_main(["3", "--name", "mine", "--cases-dir", str(cases_dir), "--max-steps", "2", "--eval-every", "1",
                     "--batch-size", "64", "--eval-pairs", "256", "--no-progress", "--early-stop", "1",
                     "--role", "negative-control", "--why", "two steps of training"])
    assert rc == 0
    spec = json.loads((cases_dir / "3" / "case.json").read_text())
    assert spec["models"]["mine"] == {"role": "negative-control", "why": "two steps of training"}
    assert (cases_dir / "3" / "models" / "mine" / "ll_model.pth").exists()
    assert f"gate it with: CIRCUIT_ABLATION_CASES={cases_dir} pytest " in capsys.readouterr().out
    again = ["3", "--name", "mine", "--cases-dir", str(cases_dir), "--max-steps", "2", "--eval-every", "1",
             "--batch-size", "64", "--eval-pairs", "256", "--no-progress", "--early-stop", "1", "--force"]
    # a note of the user's own stays; the replaced training's shortfall goes
    spec["models"]["mine"].update(note="kept for the paper", shortfall="IIA 98.00% on held-out pairs")
    (cases_dir / "3" / "case.json").write_text(json.dumps(spec))
    assert train_main(again) == 0  # trained again without --role: still the negative control it was
    assert json.loads((cases_dir / "3" / "case.json").read_text())["models"]["mine"] == {
        "role": "negative-control", "why": "two steps of training", "note": "kept for the paper"}
    assert train_main([*again, "--role", "gated"]) == 0  # a new role drops the old one's reason
    assert json.loads((cases_dir / "3" / "case.json").read_text())["models"]["mine"] == {"role": "gated", "note": "kept for the paper"}


def test_name_is_needed_only_without_out(tmp_path, capsys):
    """With --out the model is DIR/<case>: --name was required there and then used for nothing."""
    with pytest.raises(SystemExit):
        train_main(["3", "--max-steps", "1", "--no-progress"])
    assert "--name is required unless --out DIR is given" in capsys.readouterr().err
    assert train_main(["3", "--out", str(tmp_path / "hub"), "--max-steps", "1", "--eval-every", "1", "--batch-size", "64",
                       "--eval-pairs", "256", "--no-progress", "--early-stop", "1"]) == 0
    assert (tmp_path / "hub" / "3" / "ll_model.pth").is_file()


def test_role_with_out_and_a_missing_cases_dir_are_refused_before_training(tmp_path, capsys):
    base = ["3", "--name", "x", "--max-steps", "1", "--no-progress"]
    assert train_main([*base, "--out", str(tmp_path / "hub"), "--role", "negative-control"]) == 2
    assert "--role and --why register the model in a case.json" in capsys.readouterr().err
    assert train_main([*base, "--cases-dir", str(tmp_path / "nowhere")]) == 2
    assert capsys.readouterr().err.strip() == f"error: --cases-dir {tmp_path / 'nowhere'}: no such folder"
    assert train_main([*base, "--out", str(tmp_path / "hub"), "--init-from", str(tmp_path / "nowhere")]) == 2
    assert capsys.readouterr().err.strip().startswith(f"error: --init-from: {tmp_path / 'nowhere'}")
    assert not list(tmp_path.iterdir())


def test_held_out_pairs_do_not_follow_any_digit_of_the_inputs():
    """Every (base digit, source digit) class of a 5-token vocabulary holds out about a fifth of its pairs
    (a linear rule held out all or none of each class)."""
    import torch

    from pytest_circuit_ablation.tools.train.siit import is_held_out

    ids = torch.arange(625)
    b, s = ids.repeat_interleave(625), ids.repeat(625)
    held = is_held_out(b, s)
    assert 0.19 < held.float().mean() < 0.21
    for digit in range(5):
        for other in range(5):
            share = held[(b % 5 == digit) & (s % 5 == other)].float().mean()
            assert 0.15 < share < 0.25, (digit, other, float(share))


def test_init_from_continues_a_saved_model_and_records_it(tmp_path, capsys):
    """--init-from starts from a saved model's weights (two steps at a tiny rate keep case 3's gated model's
    accuracy, where a fresh start scores about 20%) and keeps the source's command in meta.json."""
    hub = tmp_path / "hub"
    src = case3().dir / "models" / "siit"
    args = ["3", "--name", "x", "--out", str(hub), "--max-steps", "2", "--eval-every", "1", "--batch-size", "64",
            "--eval-pairs", "512", "--no-progress", "--lr", "1e-6", "--early-stop", "99"]
    assert train_main([*args, "--init-from", str(src)]) == 0
    meta = json.loads((hub / "3" / "meta.json").read_text())
    assert meta["final_metrics"]["accuracy"] >= 99.0
    assert meta["init_from"]["command"].startswith("circuit-ablation-train 3 --name siit")
    assert meta["init_from"]["folder"] == str(src)


def test_init_from_weights_that_are_already_the_best_are_kept(tmp_path):
    """The starting weights were never a candidate: case 3's gated model, continued for two steps, came out
    worse than it went in (89% accuracy) and was rejected."""
    import torch

    src = case3().dir / "models" / "siit"
    base = ["3", "--name", "x", "--max-steps", "2", "--eval-every", "1", "--batch-size", "64", "--eval-pairs", "512",
            "--no-progress", "--init-from", str(src)]
    # it meets the targets as it is: no step is taken, and the model written is the one read
    assert train_main([*base, "--out", str(tmp_path / "met"), "--early-stop", "99"]) == 0
    meta = json.loads((tmp_path / "met" / "3" / "meta.json").read_text())
    assert (meta["final_metrics"]["steps"], meta["final_metrics"]["kept_step"]) == (0, 0)
    read = torch.load(src / "ll_model.pth", weights_only=True)
    written = torch.load(tmp_path / "met" / "3" / "ll_model.pth", weights_only=True)
    assert all(torch.equal(read[k], written[k]) for k in read)
    # a target it misses, and steps at a rate that wrecks it: the starting weights are still the best kept
    assert train_main([*base, "--out", str(tmp_path / "wrecked"), "--early-stop", "100", "--lr", "1.0"]) == 1
    meta = json.loads((tmp_path / "wrecked.rejected" / "3" / "meta.json").read_text())
    assert (meta["final_metrics"]["steps"], meta["final_metrics"]["kept_step"]) == (2, 0)
    assert meta["final_metrics"]["accuracy"] >= 99.0


def test_init_from_a_model_of_another_shape_is_refused(tmp_path, capsys):
    other = load_case("4").dir / "models" / "siit"
    rc = train_main(["3", "--name", "x", "--out", str(tmp_path), "--max-steps", "1", "--no-progress",
                     "--init-from", str(other)])
    assert rc == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith(f"error: --init-from {other}: ") and "case 3's LL model has" in err and "\n" not in err


@pytest.mark.parametrize("args, why", [
    (["--name", "../../escape"], "is not a model name"),
    (["--name", "x", "--batch-size", "0"], "--batch-size: 0 must be above 0"),
    (["--name", "x", "--max-steps", "-1"], "--max-steps: -1 must be above 0"),
    (["--name", "x", "--lr", "nan"], "--lr: 'nan' is not a finite number"),
    (["--name", "x", "--early-stop", "101"], "--early-stop: 101 must be above 0 and at most 100"),
])
def test_bad_arguments_are_refused_before_training(tmp_path, capsys, args, why):
    """A bad value is argparse's one-line usage error (exit 2), never a traceback from the training loop
    and never a model folder outside the output (a name with '/' left cases/<case>/models/)."""
    with pytest.raises(SystemExit) as stop:
        train_main(["3", "--out", str(tmp_path / "hub"), "--no-progress", "--max-steps", "1", "--eval-every", "1", *args])
    assert stop.value.code == 2
    assert why in capsys.readouterr().err
    assert not list(tmp_path.iterdir())


def test_an_unwritable_output_is_refused_before_training(tmp_path, capsys):
    blocker = tmp_path / "file"
    blocker.write_text("")
    assert train_main(["3", "--name", "x", "--out", str(blocker / "hub"), "--max-steps", "1", "--no-progress"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith(f"error: --out: cannot write to {blocker / 'hub'}") and "\n" not in err
