"""Low-level nodes (attention heads and MLPs) and circuit membership.

A node is written the way TransformerLens and InterpBench name it: the hook point, plus the head index
in brackets for a head (``blocks.1.attn.hook_result[2]``), as in InterpBench's ``edges.pkl``. Short
names (``L1H2``, ``L0MLP``) are for test ids and reports. Standard library only: the plugin parametrizes
with these at collection time, before torch is imported.
"""
from __future__ import annotations

import re
from dataclasses import dataclass

HEAD_HOOK = "attn.hook_result"
MLP_HOOK = "mlp.hook_post"

_NODE_RE = re.compile(r"^blocks\.(\d+)\.(attn\.hook_result|mlp\.hook_post)(?:\[(\d+)\])?$")
# InterpBench edges name hooks at finer grain; each maps to the head or MLP it belongs to. A head is written
# as InterpBench does, ``hook_result[2]``, or as ACDC's TorchIndex does, with ``:`` for every other
# dimension and the head at its own: ``[:, :, 2]`` (batch, position, head) or ``[:, 2]`` for a pattern
# or score (batch, head, query, key). Only ``:`` slots: the whole hook (a layer's attention, an MLP).
_EDGE_RE = re.compile(r"^blocks\.(\d+)\.(attn\.hook_(?:result|q|k|v|z|pattern|attn_scores)|hook_(?:q|k|v)_input|"
                      r"hook_attn_out|mlp\.hook_(?:pre|post)|hook_mlp_(?:in|out))(?:\[([^\]]*)\])?$")
_HEAD_DIM = {"attn.hook_pattern": 1, "attn.hook_attn_scores": 1}  # every other head hook: dimension 2
# an endpoint inside a block that is not its residual stream names a head or an MLP: if it does not parse,
# the circuit would silently lose that node
_EDGE_COMPONENT_RE = re.compile(r"^blocks\.\d+\.(?:attn\.|mlp\.|hook_(?:q|k|v)_input|hook_mlp_|hook_attn_out)")


@dataclass(frozen=True)
class Node:
    """One ablatable component: a head (``head`` set) or a whole MLP (``head`` None)."""

    layer: int
    head: int | None = None  # None = the layer's MLP; sort with sort_key (heads before the MLP)

    @property
    def is_mlp(self) -> bool:
        return self.head is None

    @property
    def hook(self) -> str:
        return f"blocks.{self.layer}.{MLP_HOOK if self.is_mlp else HEAD_HOOK}"

    @property
    def name(self) -> str:
        """Short id used in test ids and reports."""
        return f"L{self.layer}MLP" if self.is_mlp else f"L{self.layer}H{self.head}"

    @property
    def full_name(self) -> str:
        return self.hook if self.is_mlp else f"{self.hook}[{self.head}]"

    def sort_key(self) -> tuple[int, int]:
        """Layer-major, heads then MLP: the order of iit's get_all_nodes."""
        return (self.layer, 1 << 30 if self.head is None else self.head)

    def __str__(self) -> str:
        return self.name


def parse_node(text: str) -> Node:
    """Parse ``blocks.L.attn.hook_result[H]``, ``blocks.L.mlp.hook_post`` or a short name ``L1H2``/``L0MLP``."""
    text = text.strip()
    short = re.match(r"^L(\d+)(?:H(\d+)|MLP)$", text)
    if short:
        return Node(int(short.group(1)), None if short.group(2) is None else int(short.group(2)))
    m = _NODE_RE.match(text)
    if not m:
        raise ValueError(f"not a node name: {text!r} (expected e.g. 'blocks.1.attn.hook_result[2]' or 'blocks.0.mlp.hook_post')")
    layer, hook, head = int(m.group(1)), m.group(2), m.group(3)
    if hook == HEAD_HOOK:
        if head is None:
            raise ValueError(f"head node {text!r} needs a head index, e.g. {text}[0]")
        return Node(layer, int(head))
    if head is not None:
        raise ValueError(f"MLP node {text!r} takes no head index")
    return Node(layer, None)


def all_nodes(n_layers: int, n_heads: int, attn_only: bool = False) -> list[Node]:
    """Every head and MLP of a model, layer-major (heads, then the MLP)."""
    nodes: list[Node] = []
    for layer in range(n_layers):
        nodes.extend(Node(layer, h) for h in range(n_heads))
        if not attn_only:
            nodes.append(Node(layer, None))
    return nodes


def edge_hook_node(hook: str) -> Node | None:
    """The node an ACDC-style edge endpoint belongs to (None for embeddings, residual stream, a whole
    layer's attention). Raises ValueError for an endpoint of a head or MLP it cannot read."""
    hook = hook.strip()
    m = _EDGE_RE.match(hook)
    if not m:
        if _EDGE_COMPONENT_RE.match(hook):
            raise ValueError(f"cannot tell which head or MLP {hook!r} names")
        return None
    layer, name = int(m.group(1)), m.group(2)
    slots = None if m.group(3) is None else [part.strip() for part in m.group(3).split(",")]
    whole = slots is None or all(part == ":" for part in slots)
    if name.startswith(("mlp.", "hook_mlp_")):
        if whole:
            return Node(layer, None)
        raise ValueError(f"{hook!r}: an MLP is one node, written without a head index")
    if whole:
        return None  # a whole layer's attention names no single head
    dim = 0 if len(slots) == 1 else _HEAD_DIM.get(name, 2)  # InterpBench's [k], else the head's own dimension
    others = [part for i, part in enumerate(slots) if i != dim]
    if name != "hook_attn_out" and dim < len(slots) and slots[dim].isdigit() and all(p == ":" for p in others):
        return Node(layer, int(slots[dim]))
    raise ValueError(f"cannot tell which head {hook!r} names: write a head as [2] (or ACDC's [:, :, 2], [:, 2] for a pattern)")


def nodes_from_edges(edges: list[tuple[str, str]]) -> set[Node]:
    """In-circuit nodes named by InterpBench's ``edges.pkl`` (both endpoints of every edge). Raises
    ValueError naming an endpoint of a head or MLP it cannot read."""
    found: set[Node] = set()
    for edge in edges:
        for endpoint in edge:
            node = edge_hook_node(endpoint)
            if node is not None:
                found.add(node)
    return found
