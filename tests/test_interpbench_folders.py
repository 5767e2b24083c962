"""A model in InterpBench's hub layout, configured by InterpBench's own LL rule, loads against the built-in
case of its number; one whose shape or declared task differs is refused in one line naming the field and
both values, never judged against the wrong task."""
import json
import pickle

import pytest

from pytest_circuit_ablation.core.cases import ModelRef, check_model_fits_case, load_case
from pytest_circuit_ablation.errors import AblationError
from pytest_circuit_ablation.core.evaluate import load_pair
from tests.helpers import interpbench_shaped_folder
from tests.test_cases_compiled import INTERPBENCH

CASES = sorted(INTERPBENCH, key=int)


@pytest.fixture(scope="module")
def hub(tmp_path_factory):
    return interpbench_shaped_folder(tmp_path_factory.mktemp("hub") / "InterpBench", CASES)


def _ref(hub, case_id):
    return ModelRef(case_id, "InterpBench", hub / case_id, "gated", "user")


@pytest.mark.parametrize("case_id", CASES)
def test_interpbench_shaped_model_loads(hub, case_id):
    pair = load_pair(_ref(hub, case_id), "cpu", "float32")
    assert pair.ll.cfg.n_ctx == pair.case.max_seq_len


def _altered(hub, tmp_path, case_id, **changes):
    folder = tmp_path / case_id
    folder.mkdir()
    for f in (hub / case_id).iterdir():
        (folder / f.name).write_bytes(f.read_bytes())
    cfg = pickle.loads((folder / "ll_model_cfg.pkl").read_bytes())
    cfg.update(changes)
    (folder / "ll_model_cfg.pkl").write_bytes(pickle.dumps(cfg))
    return ModelRef(case_id, "altered", folder, "gated", "user")


@pytest.mark.parametrize("case_id", CASES)
@pytest.mark.parametrize("field", ["n_ctx", "d_vocab", "d_vocab_out"])
def test_altered_shape_is_refused_naming_the_field(hub, tmp_path, case_id, field):
    cfg = pickle.loads((hub / case_id / "ll_model_cfg.pkl").read_bytes())
    ref = _altered(hub, tmp_path, case_id, **{field: cfg[field] + 1})
    with pytest.raises(AblationError) as err:
        check_model_fits_case(ref, load_case(case_id))
    message = str(err.value)
    assert f"{field} is {cfg[field] + 1}, but built-in case {case_id}" in message
    assert f"has {cfg[field]}" in message and "\n" not in message


@pytest.mark.parametrize("case_id", CASES)
def test_hub_metadata_naming_another_task_is_refused(tmp_path, case_id):
    hub = interpbench_shaped_folder(tmp_path / "InterpBench", [case_id])
    meta_path = hub / "benchmark_metadata.json"
    meta = json.loads(meta_path.read_text())
    meta["cases"][0]["vocab"] = meta["cases"][0]["vocab"][:-1]
    meta_path.write_text(json.dumps(meta))
    with pytest.raises(AblationError, match=r"benchmark_metadata.json: vocab is .* but built-in case"):
        check_model_fits_case(_ref(hub, case_id), load_case(case_id))
    meta["cases"][0]["vocab"] = sorted(load_case(case_id).vocab_values, key=str)
    meta["cases"][0]["max_seq_len"] = 6
    meta_path.write_text(json.dumps(meta))
    with pytest.raises(AblationError, match=r"max_seq_len is 6, but built-in case"):
        check_model_fits_case(_ref(hub, case_id), load_case(case_id))


def test_case_meta_json_naming_another_length_is_refused(tmp_path):
    hub = interpbench_shaped_folder(tmp_path / "InterpBench", ["33"])
    (hub / "33" / "meta.json").write_text(json.dumps({"max_seq_len": 6, "vocab": ["J", "LB"]}))
    with pytest.raises(AblationError, match=r"33/meta.json: max_seq_len is 6, but built-in case 33 .* has 10"):
        check_model_fits_case(_ref(hub, "33"), load_case("33"))


@pytest.mark.parametrize("case_id", CASES)
def test_the_other_attention_mask_is_refused(hub, tmp_path, case_id):
    """A bidirectional model of a causal program (or the reverse) was judged, and read as leaking."""
    cfg = pickle.loads((hub / case_id / "ll_model_cfg.pkl").read_bytes())
    other = "bidirectional" if cfg.get("attention_dir", "causal") == "causal" else "causal"
    with pytest.raises(AblationError, match=rf"attention_dir is '{other}', but built-in case {case_id} .* has "):
        check_model_fits_case(_altered(hub, tmp_path, case_id, attention_dir=other), load_case(case_id))


def test_a_model_this_projects_trainer_made_for_another_case_is_refused(tmp_path):
    """Case 7's model copied into a folder named 14 (same length, vocabulary and classes) was judged against
    case 14: 'not meaningful' and a page of leaking nodes, though its meta.json says which case it is."""
    import shutil

    from tests.helpers import CASE3

    case7 = CASE3.parent / "7" / "models" / "siit"
    shutil.copytree(case7, tmp_path / "14")
    ref = ModelRef("14", "copied", tmp_path / "14", "gated", "user")
    with pytest.raises(AblationError, match=r"14/meta.json: case is '7', but built-in case 14 .* has '14'; this model was "
                                            r"trained on another task definition"):
        check_model_fits_case(ref, load_case("14"))
    check_model_fits_case(ModelRef("7", "copied", case7, "gated", "user"), load_case("7"))  # in its own case: fine
    # a case copied under a new id is the same task: its models are not refused
    cases_dir = tmp_path / "cases"
    shutil.copytree(case7.parent.parent, cases_dir / "7")
    shutil.copytree(case7.parent.parent, cases_dir / "42")
    copied = load_case("42", cases_dir)
    check_model_fits_case(ModelRef("42", "siit", cases_dir / "42" / "models" / "siit", "gated", "builtin"), copied)
