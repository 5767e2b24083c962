"""InterpBench-format loading: what we write, the notebook's own lines read; what is bad is refused
with one line naming the file."""
import json
import os
import pickle
import shutil

import pytest
import torch

from pytest_circuit_ablation.errors import AblationError
from pytest_circuit_ablation.core.hubfiles import load_ll_model, read_config, safe_unpickle
from tests.helpers import model_dir


@pytest.fixture
def siit_copy(tmp_path):
    dst = tmp_path / "3"
    shutil.copytree(model_dir("siit"), dst)
    return dst


def test_notebook_loading_lines_read_our_files():
    """The seed notebook's four lines, verbatim in spirit (pickle + from_dict + load_state_dict)."""
    from transformer_lens import HookedTransformer, HookedTransformerConfig

    d = model_dir("siit")
    cfg_dict = pickle.load(open(f"{d}/ll_model_cfg.pkl", "rb"))
    cfg = HookedTransformerConfig.from_dict(cfg_dict)
    cfg.device = "cpu"
    model = HookedTransformer(cfg)
    weights = torch.load(f"{d}/ll_model.pth", map_location=cfg.device)
    model.load_state_dict(weights)
    ours = load_ll_model(d, dtype="float32")
    tokens = torch.tensor([[0, 2, 5, 3, 5]])
    assert torch.equal(model(tokens), ours(tokens))


def test_config_reads_without_torch_objects():
    cfg = read_config(model_dir("siit"))
    assert (cfg["n_layers"], cfg["n_heads"], cfg["d_head"], cfg["d_model"], cfg["d_mlp"]) == (2, 4, 3, 12, 48)
    assert cfg["act_fn"] == "gelu" and cfg["normalization_type"] is None


def _one_line(exc: BaseException) -> str:
    text = str(exc)
    assert "\n" not in text
    return text


def test_missing_folder(tmp_path):
    with pytest.raises(AblationError) as e:
        load_ll_model(tmp_path / "nope")
    assert "model folder not found" in _one_line(e.value) and "nope" in str(e.value)


def test_missing_weights(siit_copy):
    (siit_copy / "ll_model.pth").unlink()
    with pytest.raises(AblationError) as e:
        load_ll_model(siit_copy)
    assert "ll_model.pth: file not found" in _one_line(e.value)


def test_truncated_weights(siit_copy):
    path = siit_copy / "ll_model.pth"
    path.write_bytes(path.read_bytes()[:1000])
    with pytest.raises(AblationError) as e:
        load_ll_model(siit_copy)
    assert str(path) in _one_line(e.value) and "not a readable torch state_dict" in str(e.value)


def test_garbage_weights(siit_copy):
    (siit_copy / "ll_model.pth").write_bytes(b"\x00not a zip at all")
    with pytest.raises(AblationError, match="not a readable torch state_dict"):
        load_ll_model(siit_copy)


def test_weights_pickle_with_allowed_globals_misused_is_one_line(siit_copy):
    """torch's restricted unpickler allows OrderedDict; called with three arguments it raises TypeError."""
    import io
    import zipfile

    buf = io.BytesIO()
    torch.save({"a": torch.zeros(1)}, buf)
    src = zipfile.ZipFile(io.BytesIO(buf.getvalue()))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_STORED) as dst:
        for info in src.infolist():
            data = src.read(info.filename)
            dst.writestr(info, b"\x80\x02ccollections\nOrderedDict\n(K\x01K\x02K\x03tR." if info.filename.endswith("data.pkl") else data)
    (siit_copy / "ll_model.pth").write_bytes(out.getvalue())
    with pytest.raises(AblationError, match="ll_model.pth: not a readable torch state_dict .*arguments"):
        load_ll_model(siit_copy)


def test_weights_pickle_that_runs_code_is_refused(siit_copy, tmp_path):
    marker = tmp_path / "pwned"

    class Evil:
        def __reduce__(self):
            return (os.system, (f"touch {marker}",))

    torch.save({"embed.W_E": Evil()}, siit_copy / "ll_model.pth")
    with pytest.raises(AblationError, match="not a readable torch state_dict"):
        load_ll_model(siit_copy)
    assert not marker.exists()


def test_config_pickle_that_runs_code_is_refused(siit_copy, tmp_path):
    marker = tmp_path / "pwned"

    class Evil:
        def __reduce__(self):
            return (os.system, (f"touch {marker}",))

    (siit_copy / "ll_model_cfg.pkl").write_bytes(pickle.dumps({"n_layers": Evil()}))
    with pytest.raises(AblationError) as e:
        read_config(siit_copy)
    assert "unsafe or invalid pickle" in _one_line(e.value) and "refused to load global" in str(e.value)
    assert "ll_model_cfg.pkl" in str(e.value)
    assert not marker.exists()


def test_config_naming_a_tokenizer_runs_no_code_from_it(siit_copy, tmp_path, monkeypatch):
    """A config is plain values, yet TransformerLens acts on one of them: a ``tokenizer_name`` makes it
    load that tokenizer, and with ``trust_remote_code`` run the Python file beside it. The loader needs no
    tokenizer and ignores both fields."""
    import json

    marker = tmp_path / "pwned"
    tok = tmp_path / "tok"
    tok.mkdir()
    (tok / "tokenizer_config.json").write_text(json.dumps(
        {"auto_map": {"AutoTokenizer": ["tokenization_evil.EvilTokenizer", None]}, "tokenizer_class": "EvilTokenizer"}))
    (tok / "tokenization_evil.py").write_text(
        f"import pathlib\npathlib.Path({str(marker)!r}).write_text('ran')\n"
        "from transformers import PreTrainedTokenizer\nclass EvilTokenizer(PreTrainedTokenizer):\n    pass\n")
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))  # where transformers would copy the module to
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    cfg = pickle.loads((siit_copy / "ll_model_cfg.pkl").read_bytes())
    cfg.update(tokenizer_name=str(tok), trust_remote_code=True)
    (siit_copy / "ll_model_cfg.pkl").write_bytes(pickle.dumps(cfg))
    try:
        model = load_ll_model(siit_copy)
    finally:
        assert not marker.exists(), "the tokenizer folder's code ran"
    assert model.tokenizer is None


def test_config_object_without_fields_and_a_zero_mlp_are_one_line(siit_copy):
    """An allowed global with no state was an AttributeError (an INTERNALERROR at collection); d_mlp = 0
    passed the check and ended in a torch reshape error."""
    (siit_copy / "ll_model_cfg.pkl").write_bytes(b"\x80\x02ctransformer_lens.config\nHookedTransformerConfig\n)R.")
    with pytest.raises(AblationError, match="a HookedTransformerConfig without its fields"):
        read_config(siit_copy)
    cfg = pickle.loads((model_dir("siit") / "ll_model_cfg.pkl").read_bytes())
    cfg["d_mlp"] = 0
    (siit_copy / "ll_model_cfg.pkl").write_bytes(pickle.dumps(cfg))
    with pytest.raises(AblationError, match="'d_mlp' must be a positive integer"):
        read_config(siit_copy)


def test_config_not_a_dict(siit_copy):
    (siit_copy / "ll_model_cfg.pkl").write_bytes(pickle.dumps([1, 2, 3]))
    with pytest.raises(AblationError, match="expected a HookedTransformerConfig dict, got list"):
        read_config(siit_copy)


def test_config_truncated(siit_copy):
    path = siit_copy / "ll_model_cfg.pkl"
    path.write_bytes(path.read_bytes()[:40])
    with pytest.raises(AblationError, match="pickle data was truncated"):
        read_config(siit_copy)


def test_weights_cut_off_say_so(siit_copy):
    """A half-copied ll_model.pth: torch says only "[Errno 22] Invalid argument"."""
    path = siit_copy / "ll_model.pth"
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    with pytest.raises(AblationError, match="ll_model.pth: not a readable torch state_dict .*truncated"):
        load_ll_model(siit_copy)


def test_junk_weights_and_a_bad_json_say_what_is_wrong_without_stray_words(siit_copy, tmp_path):
    """Junk bytes: torch's KeyError said only '174812789', appended to the message; json's message for a
    control character ends in "at", which read "character at at line 1"."""
    import json

    from pytest_circuit_ablation.core.files import json_problem

    (siit_copy / "ll_model.pth").write_bytes(b"junk\n")
    with pytest.raises(AblationError) as e:
        load_ll_model(siit_copy)
    assert str(e.value).endswith("ll_model.pth: not a readable torch state_dict (not a complete torch.save archive: "
                                 "truncated, or another format)")
    with pytest.raises(json.JSONDecodeError) as bad:
        json.loads('{"a": "x\ty"}')
    assert json_problem(bad.value) == "Invalid control character at line 1, column 9"


def test_weights_that_cannot_be_read_are_not_called_cut_off(siit_copy, monkeypatch):
    """A permission or I/O error keeps its own words: is_zipfile is False for a file it cannot open too."""
    import errno

    def denied(*args, **kwargs):
        raise PermissionError(errno.EACCES, "Permission denied")

    monkeypatch.setattr(torch, "load", denied)
    monkeypatch.setattr("zipfile.is_zipfile", lambda path: False)  # what it answers for a file it cannot open
    with pytest.raises(AblationError) as e:
        load_ll_model(siit_copy)
    assert "Permission denied" in str(e.value) and "truncated" not in str(e.value)


def test_shapes_that_do_not_fit_the_config(siit_copy):
    cfg = pickle.loads((siit_copy / "ll_model_cfg.pkl").read_bytes())
    cfg["d_mlp"] = 24
    (siit_copy / "ll_model_cfg.pkl").write_bytes(pickle.dumps(cfg))
    with pytest.raises(AblationError) as e:
        load_ll_model(siit_copy)
    assert "has shape" in _one_line(e.value) and "the config needs" in str(e.value)


@pytest.mark.parametrize("bad", [float("nan"), float("inf")])
def test_non_finite_weights(siit_copy, bad):
    state = torch.load(siit_copy / "ll_model.pth", weights_only=True)
    state["blocks.0.mlp.W_in"][0, 0] = bad
    torch.save(state, siit_copy / "ll_model.pth")
    with pytest.raises(AblationError, match="NaN or infinite"):
        load_ll_model(siit_copy)


def test_config_object_pickle_is_read_as_dict(tmp_path):
    """Some InterpBench cases pickle the HookedTransformerConfig object itself."""
    from transformer_lens import HookedTransformerConfig

    cfg = HookedTransformerConfig(n_layers=1, d_model=4, n_ctx=3, d_head=2, n_heads=2, d_vocab=5, act_fn="relu", d_mlp=8,
                                   use_attn_result=True)
    (tmp_path / "ll_model_cfg.pkl").write_bytes(pickle.dumps(cfg))
    read = read_config(tmp_path)
    assert read["d_model"] == 4 and read["n_heads"] == 2


def test_safe_unpickle_plain_values(tmp_path):
    path = tmp_path / "x.pkl"
    path.write_bytes(pickle.dumps({"a": [1, 2.5, "s", None, (1, 2)], "b": {3}}))
    assert safe_unpickle(path) == {"a": [1, 2.5, "s", None, (1, 2)], "b": {3}}


def test_training_record_reads_this_trainers_meta_and_ignores_others(tmp_path):
    from pytest_circuit_ablation.core.hubfiles import training_record

    record = training_record(model_dir("siit"))
    assert set(record) == {"train_accuracy", "train_iia", "train_strict_accuracy", "train_steps", "train_seconds"}
    final = json.loads((model_dir("siit") / "meta.json").read_text())["final_metrics"]
    assert record["train_iia"] == final["iia"] / 100 and record["train_steps"] == final["steps"]  # rates as fractions
    (tmp_path / "meta.json").write_text('{"lr": 0.01, "strict_weight": 10.0}')  # InterpBench's own keys
    assert training_record(tmp_path) == {}
    (tmp_path / "meta.json").write_text("{not json")
    assert training_record(tmp_path) == {}
    assert training_record(tmp_path / "missing") == {}


import pytest as _pytest


@_pytest.mark.parametrize("field, value", [("gated_mlp", True), ("parallel_attn_mlp", True), ("attn_scores_soft_cap", 50.0),
                                           ("output_logits_soft_cap", 30.0), ("positional_embedding_type", "rotary")])
def test_config_fields_the_engine_does_not_compute_are_refused_in_one_line(tmp_path, field, value):
    import pickle
    import shutil

    from pytest_circuit_ablation.errors import AblationError
    from pytest_circuit_ablation.core.hubfiles import read_config
    from tests.helpers import model_dir

    folder = tmp_path / "m"
    shutil.copytree(model_dir("siit"), folder)
    cfg = pickle.loads((folder / "ll_model_cfg.pkl").read_bytes())
    assert field in cfg
    read_config(folder)  # the original loads
    cfg[field] = value
    (folder / "ll_model_cfg.pkl").write_bytes(pickle.dumps(cfg))
    with _pytest.raises(AblationError, match=rf"ll_model_cfg.pkl: {field} = .* is not supported: "):
        read_config(folder)


def test_a_pickled_dtype_cannot_be_renamed_by_build(tmp_path):
    """find_class maps torch.<dtype> to a DTypeName; a following BUILD must not turn it into another torch
    name (``torch.load``), which re-pickling the config would then reference."""
    import struct

    def text(value: str) -> bytes:
        return b"X" + struct.pack("<I", len(value)) + value.encode()

    path = tmp_path / "ll_model_cfg.pkl"
    path.write_bytes(b"ctorch\nfloat32\n}" + text("name") + text("load") + b"sb.")
    with pytest.raises(AblationError, match="unsafe or invalid pickle: a torch dtype carries no state"):
        safe_unpickle(path)


def test_training_rates_are_fractions_without_division_dust(tmp_path):
    from pytest_circuit_ablation.core.hubfiles import training_record

    (tmp_path / "meta.json").write_text('{"final_metrics": {"accuracy": 91.941, "iia": 36.519, "steps": 3}}')
    assert training_record(tmp_path) == {"train_accuracy": 0.91941, "train_iia": 0.36519, "train_steps": 3}


def test_loading_prints_nothing(capsys):
    """TransformerLens prints 'Moving model to device' on .to(); in a notebook or pytest -s that was noise."""
    from pytest_circuit_ablation.core.hubfiles import load_hl_model

    load_ll_model(model_dir("siit"), "cpu", "float32")
    load_hl_model(model_dir("siit").parent.parent, "cpu", "float32")
    assert capsys.readouterr().out == ""
