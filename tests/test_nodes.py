import pytest

from pytest_circuit_ablation.core.hubfiles import read_edges
from pytest_circuit_ablation.core.nodes import Node, all_nodes, nodes_from_edges, parse_node
from tests.helpers import case3

# InterpBench's published edges.pkl for case 3 (spec section 8): hook-level ACDC edges.
CASE3_EDGES = [
    ("blocks.1.attn.hook_result[2]", "blocks.1.hook_resid_post"),
    ("blocks.0.hook_mlp_out", "blocks.1.hook_q_input[2]"),
    ("blocks.0.hook_mlp_out", "blocks.1.hook_k_input[2]"),
    ("blocks.0.hook_mlp_out", "blocks.1.hook_v_input[2]"),
    ("hook_embed", "blocks.0.hook_mlp_in"),
    ("hook_pos_embed", "blocks.1.hook_q_input[2]"),
    ("blocks.1.hook_q_input[2]", "blocks.1.attn.hook_q[2]"),
    ("blocks.1.hook_k_input[2]", "blocks.1.attn.hook_k[2]"),
    ("blocks.1.hook_v_input[2]", "blocks.1.attn.hook_v[2]"),
]


def test_parse_full_and_short_names():
    assert parse_node("blocks.1.attn.hook_result[2]") == Node(1, 2)
    assert parse_node("blocks.0.mlp.hook_post") == Node(0, None)
    assert parse_node("L1H2") == Node(1, 2)
    assert parse_node("L0MLP") == Node(0, None)
    assert Node(1, 2).name == "L1H2" and Node(0).name == "L0MLP"
    assert Node(1, 2).full_name == "blocks.1.attn.hook_result[2]"


@pytest.mark.parametrize("bad", ["blocks.1.attn.hook_result", "blocks.0.mlp.hook_post[1]", "blocks.x.mlp.hook_post", "L1", ""])
def test_parse_rejects(bad):
    with pytest.raises(ValueError):
        parse_node(bad)


def test_all_nodes_order_is_iits():
    names = [n.name for n in all_nodes(2, 4)]
    assert names == ["L0H0", "L0H1", "L0H2", "L0H3", "L0MLP", "L1H0", "L1H1", "L1H2", "L1H3", "L1MLP"]
    assert sorted(all_nodes(2, 4), key=Node.sort_key) == all_nodes(2, 4)


def test_case3_edges_give_the_correspondence_nodes():
    assert nodes_from_edges(CASE3_EDGES) == case3().circuit() == {Node(0, None), Node(1, 2)}


def test_edges_pickle_round_trip(tmp_path):
    import pickle

    (tmp_path / "edges.pkl").write_bytes(pickle.dumps(CASE3_EDGES))
    assert nodes_from_edges(read_edges(tmp_path)) == case3().circuit()


def test_acdc_index_spelling_names_the_same_heads():
    """ACDC writes a head as hook_result[:, :, 2]: read as no node at all, a good model's in-circuit head
    was judged as out of circuit."""
    from pytest_circuit_ablation.core.nodes import edge_hook_node

    acdc = [(a.replace("[2]", "[:, :, 2]"), b.replace("[2]", "[:, :, 2]")) for a, b in CASE3_EDGES]
    assert acdc != CASE3_EDGES and nodes_from_edges(acdc) == nodes_from_edges(CASE3_EDGES)
    assert edge_hook_node("blocks.1.hook_q_input[:, :, 3]") == Node(1, 3)
    assert edge_hook_node("blocks.0.attn.hook_pattern[:, 2]") == Node(0, 2)  # (batch, head, query, key)
    assert edge_hook_node("blocks.0.hook_resid_pre") is None and edge_hook_node("hook_embed") is None
    # ACDC's whole-hook spelling: a layer's attention (no single head), an MLP
    assert edge_hook_node("blocks.0.attn.hook_result[:]") is None and edge_hook_node("blocks.0.hook_attn_out[:]") is None
    assert edge_hook_node("blocks.0.mlp.hook_post[:, :]") == Node(0, None)


@pytest.mark.parametrize("endpoint", ["blocks.1.attn.hook_result[x]", "blocks.1.attn.hook_result[:, :, 2:3]",
                                      "blocks.0.mlp.hook_postx", "blocks.1.hook_v_input[-1]", "blocks.0.mlp.hook_post[2]",
                                      "blocks.0.attn.hook_pattern[:, :, 2]"])  # a query position, not a head
def test_an_endpoint_of_a_head_or_mlp_that_cannot_be_read_is_refused(endpoint, tmp_path):
    """Dropped without a word, it took its node out of the circuit (and hid a head index out of range)."""
    import pickle
    import shutil

    from pytest_circuit_ablation.core.cases import model_circuit, model_nodes, user_models
    from pytest_circuit_ablation.errors import AblationError
    from tests.helpers import model_dir

    with pytest.raises(ValueError, match="cannot tell which head|an MLP is one node") as bad:
        nodes_from_edges([(endpoint, "blocks.1.hook_resid_post")])
    assert repr(endpoint) in str(bad.value)
    folder = tmp_path / "3"
    shutil.copytree(model_dir("siit"), folder)
    (folder / "edges.pkl").write_bytes(pickle.dumps([*CASE3_EDGES, (endpoint, "blocks.1.hook_resid_post")]))
    (ref,) = user_models(tmp_path)
    with pytest.raises(AblationError) as e:
        model_circuit(ref, case3(), model_nodes(ref))
    assert str(e.value) == f"{folder / 'edges.pkl'}: {bad.value}"
