"""A case.json with a wrong value is refused in one line naming the file and the key: a user's case
folder ($CIRCUIT_ABLATION_CASES) is read at collection, where a TypeError would be an INTERNALERROR."""
import json
import re
import shutil

import pytest

from pytest_circuit_ablation.core.cases import load_case
from pytest_circuit_ablation.errors import AblationError
from tests.helpers import CASE3


@pytest.mark.parametrize("key, value, message", [
    ("max_seq_len", "6", "'max_seq_len' must be an integer"),
    ("max_seq_len", True, "'max_seq_len' must be an integer"),
    ("causal", "yes", "'causal' must be true or false"),
    ("vocab", "abc", "'vocab' must be a non-empty list"),
    ("vocab", [], "'vocab' must be a non-empty list"),
    ("encoding", ["BOS"], "'encoding' must map each token"),
    ("encoding", {"BOS": "0"}, "'encoding' must map each token"),
    ("name", 3, "'name' must be a string"),
    ("correspondence", [], "'correspondence' must be an object"),
    ("correspondence", {"x": "L0H0"}, "correspondence entry 'x' is invalid"),
    ("correspondence", {"x": {"hl": None, "ll": ["L0H0"]}}, "correspondence entry 'x' is invalid"),
    ("correspondence", {"x": {"hl": "blocks.0.mlp.hook_post", "ll": "L0H0"}}, "correspondence entry 'x' is invalid"),
    ("models", {"siit": "gated"}, "'models' must be an object"),
    ("label_atol", "0.1", "'label_atol' must be a number"),
    ("train", [], "'train' must be an object"),
    ("train", {"lr": "fast"}, "'train.lr' must be a number"),
    ("ll_config", {"n_layers": "2"}, "'ll_config.n_layers' must be a positive integer"),
    ("ll_config", {"d_mlp": 0}, "'ll_config.d_mlp' must be a positive integer"),
    ("vocab", ["a", "b", "c", "x", "a"], "'vocab' names a token twice: ['a']"),
    ("correspondence", {}, "'correspondence' maps no LL node"),
    ("vocab", ["a", "b", "c", "BOS"], "'vocab' holds BOS or PAD, which tracr adds itself"),
    ("encoding", {"BOS": 0, "PAD": 1, "a": 2, "b": 3, "c": 4, "x": 5, "y": 6}, "encoding names tokens that are not in 'vocab': ['y']"),
])
def test_a_wrong_value_in_case_json_is_one_line_naming_file_and_key(tmp_path, key, value, message):
    shutil.copytree(CASE3, tmp_path / "3", ignore=shutil.ignore_patterns("models"))
    path = tmp_path / "3" / "case.json"
    spec = json.loads(path.read_text())
    spec[key] = value
    path.write_text(json.dumps(spec))
    with pytest.raises(AblationError) as info:
        load_case("3", tmp_path)
    assert str(info.value).startswith(f"{path}: ") and message in str(info.value) and "\n" not in str(info.value)


def test_token_ids_must_be_the_models_rows(tmp_path):
    shutil.copytree(CASE3, tmp_path / "3", ignore=shutil.ignore_patterns("models"))
    path = tmp_path / "3" / "case.json"
    spec = json.loads(path.read_text())
    spec["encoding"]["a"] = 99  # past d_vocab: an IndexError inside the embedding at run time
    path.write_text(json.dumps(spec))
    with pytest.raises(AblationError, match=r"'encoding' ids must be 0\.\.5, one per token"):
        load_case("3", tmp_path)


def test_two_tokens_with_one_id_are_refused(tmp_path):
    shutil.copytree(CASE3, tmp_path / "3", ignore=shutil.ignore_patterns("models"))
    path = tmp_path / "3" / "case.json"
    spec = json.loads(path.read_text())
    first, second = list(spec["encoding"])[:2]
    spec["encoding"][second] = spec["encoding"][first]
    path.write_text(json.dumps(spec))
    with pytest.raises(AblationError, match="two tokens the same id"):
        load_case("3", tmp_path)


@pytest.mark.parametrize("source, message", [
    (None, "program.py: not found"),
    ("x = 1\n", "program.py: defines no function program()"),
    ("def program(:\n", "program.py: cannot import (SyntaxError"),
    ("import no_such_module_here\n", "program.py: cannot import (ModuleNotFoundError"),
    ("def program():\n    raise ValueError('boom')\n", "program.py: program() raised ValueError: boom"),
    ("def program():\n    return 3\n", "program.py: program() returned int, not a RASP SOp"),
    ("from tracr.rasp import rasp\ndef program():\n    return rasp.numerical(rasp.Map(lambda x: x + 1, rasp.tokens))\n",
     "program.py: tracr could not compile program() (TypeError"),
])
def test_compiling_a_broken_program_is_one_line(tmp_path, capsys, source, message):
    """circuit-ablation-compile on a case author's program.py: what is wrong with it, not importlib's or
    tracr's stack (a ModuleNotFoundError inside it used to read as 'tracr is not installed')."""
    from pytest_circuit_ablation.tools.compile import main

    shutil.copytree(CASE3, tmp_path / "3", ignore=shutil.ignore_patterns("models"))
    program = tmp_path / "3" / "program.py"
    program.unlink()
    if source is not None:
        program.write_text(source)
    assert main(["--cases-dir", str(tmp_path), "3"]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"error: {program}") and message in err and err.count("\n") == 1


def test_training_a_case_without_an_ll_shape_is_one_line(tmp_path, capsys):
    from pytest_circuit_ablation.tools.train.cli import main

    shutil.copytree(CASE3, tmp_path / "3", ignore=shutil.ignore_patterns("models"))
    path = tmp_path / "3" / "case.json"
    spec = json.loads(path.read_text())
    del spec["ll_config"]
    path.write_text(json.dumps(spec))
    assert main(["3", "--name", "x", "--cases-dir", str(tmp_path), "--out", str(tmp_path / "out"), "--max-steps", "1"]) == 2
    err = capsys.readouterr().err
    assert "'ll_config' lacks n_layers, n_heads, d_head, d_model, d_mlp" in err and err.count("\n") == 1


def test_training_into_an_installed_package_needs_out(tmp_path, capsys, monkeypatch):
    """From a wheel the built-in cases live inside site-packages: a model (and case.json's registration)
    written there is a file pip does not know about, or a failure on a read-only install."""
    from pytest_circuit_ablation.tools.train import cli

    shutil.copytree(CASE3, tmp_path / "pkg" / "builtin_cases" / "3", ignore=shutil.ignore_patterns("models"))
    monkeypatch.setattr(cli, "PACKAGE_DIR", tmp_path / "pkg")
    args = ["3", "--name", "x", "--cases-dir", str(tmp_path / "pkg" / "builtin_cases"), "--max-steps", "1"]
    assert cli.main(args) == 2
    assert "is the installed package's own copy" in capsys.readouterr().err
    assert not (tmp_path / "pkg" / "builtin_cases" / "3" / "models").exists()


@pytest.mark.parametrize("edit, message", [
    (lambda s: s.update(max_seq_len=6), "max_seq_len is 6, but the compiled HL model has n_ctx 5"),
    (lambda s: s.update(causal=False), "causal is False, but the compiled HL model has attention_dir 'causal'"),
    (lambda s: s["encoding"].update(x=s["encoding"]["a"], a=s["encoding"]["x"]), "encoding['a'] is 5, but the compiled HL model has token id 5 as 'x'"),
    (lambda s: s["correspondence"]["frac_prevs"].update(hl="blocks.2.attn.hook_result[0]"),
     "correspondence entry 'frac_prevs' names HL node blocks.2.attn.hook_result[0], which the compiled HL model (2 layers of 1 head) lacks"),
])
def test_a_case_json_that_does_not_describe_its_hl_model_is_refused_by_trainer_and_gate(tmp_path, capsys, monkeypatch,
                                                                                       edit, message):
    """A case.json edited after compiling (or a first guess at tracr's token ids) trained a model on the HL
    model's task, which the gate then refused as trained for another task; swapped token ids or classes
    were judged as they stood, and passed."""
    from pytest_circuit_ablation.core.evaluate import load_pair
    from pytest_circuit_ablation.core.cases import ModelRef
    from pytest_circuit_ablation.tools.train.cli import main

    shutil.copytree(CASE3, tmp_path / "3")
    path = tmp_path / "3" / "case.json"
    spec = json.loads(path.read_text())
    edit(spec)
    path.write_text(json.dumps(spec))
    assert main(["3", "--cases-dir", str(tmp_path), "--out", str(tmp_path / "out"), "--max-steps", "1"]) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1 and not (tmp_path / "out").exists()
    with pytest.raises(AblationError, match=re.escape(message)):
        monkeypatch.setenv("CIRCUIT_ABLATION_CASES", str(tmp_path))
        load_pair(ModelRef("3", "siit", tmp_path / "3" / "models" / "siit"), "cpu")


def test_training_with_a_correspondence_outside_the_ll_shape_is_one_line(tmp_path, capsys):
    """An LL head past ll_config's heads crashed the trainer with an IndexError inside its hooks."""
    from pytest_circuit_ablation.tools.train.cli import main

    shutil.copytree(CASE3, tmp_path / "3", ignore=shutil.ignore_patterns("models"))
    path = tmp_path / "3" / "case.json"
    spec = json.loads(path.read_text())
    spec["correspondence"]["frac_prevs"]["ll"] = ["blocks.1.attn.hook_result[7]"]
    path.write_text(json.dumps(spec))
    assert main(["3", "--cases-dir", str(tmp_path), "--out", str(tmp_path / "out"), "--max-steps", "1"]) == 2
    err = capsys.readouterr().err
    assert ("the correspondence names LL node blocks.1.attn.hook_result[7], which the LL shape in 'll_config' "
            "(2 layers of 4 heads) lacks") in err and err.count("\n") == 1


@pytest.mark.parametrize("classes, message", [
    ([True, False], "output_classes is [True, False], but the compiled HL model has the classes, in order, [False, True]"),
    ([False, True, "maybe"], "output_classes' size is 3, but the compiled HL model has d_vocab_out 2"),
])
def test_a_categorical_case_json_whose_classes_are_not_the_hl_models_is_refused(tmp_path, monkeypatch, classes, message):
    """Reversed classes were judged as they stood: the LL's argmax read as the other class, and a model that
    does its task could pass or fail for the wrong reason."""
    from pytest_circuit_ablation.core.cases import ModelRef, load_case
    from pytest_circuit_ablation.core.evaluate import load_pair

    shutil.copytree(load_case("33").dir, tmp_path / "33")
    path = tmp_path / "33" / "case.json"
    spec = json.loads(path.read_text())
    spec["output_classes"] = classes
    path.write_text(json.dumps(spec))
    monkeypatch.setenv("CIRCUIT_ABLATION_CASES", str(tmp_path))
    with pytest.raises(AblationError, match=re.escape(message)):
        load_pair(ModelRef("33", "siit", tmp_path / "33" / "models" / "siit"), "cpu")


def test_the_definition_hash_follows_what_models_are_judged_against(tmp_path):
    """ablation.json's definitions: a merge refuses shards judged against other definitions. A new
    description, key order or line endings are not another definition; a correspondence or class is."""
    from pytest_circuit_ablation.core.cases import definition_hash

    shutil.copytree(CASE3, tmp_path / "3", ignore=shutil.ignore_patterns("models"))
    path = tmp_path / "3" / "case.json"
    spec = json.loads(path.read_text())
    before = definition_hash(tmp_path / "3")
    path.write_text(json.dumps(dict(reversed(list({**spec, "description": "reworded"}.items()))), indent=4).replace("\n", "\r\n"))
    assert definition_hash(tmp_path / "3") == before
    spec["correspondence"]["frac_prevs"]["ll"] = ["blocks.1.attn.hook_result[0]"]
    path.write_text(json.dumps(spec))
    assert definition_hash(tmp_path / "3") != before
