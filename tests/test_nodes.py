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
