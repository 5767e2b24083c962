"""InterpBench's conventions that a built-in case must follow to *be* InterpBench's task.

The LL shape rule (circuits-benchmark ``utils/iit/ll_cfg.py`` at HEAD 0cfd831), written here from its
description: at least 4 heads and 2 layers, ``d_mlp = 4 * d_model``, and a per-case compression ratio
``r``. Cases in the residual-compression list shrink ``d_model`` to ``max(2, int(HL d_model // r))`` and
take ``d_head = max(1, d_model // n_heads)`` (so ``d_model`` need not be ``n_heads * d_head``); the others
shrink the head, ``d_head = int(max(1, HL d_head // r))``, and ``d_model = n_heads * d_head``.
Standard library only.
"""
from __future__ import annotations

from typing import Any

#: InterpBench's per-case compression ratio; every other case uses 2.
COMPRESSION_RATIO = {"5": 1.8, "6": 1.2, "7": 1.5, "9": 2.0, "18": 1.6, "21": 1.3, "23": 1.5, "24": 1.2,
                     "25": 1.5, "34": 1.5, "35": 3.0, "36": 2.5, "37": 2.2}
DEFAULT_RATIO = 2.0
#: Cases whose residual stream (d_model) is compressed rather than their heads.
RESIDUAL_COMPRESSED = frozenset({"5", "7", "9", "18", "21", "22", "23", "25", "26", "28", "29", "34", "35", "36", "37"})
#: The circuits-benchmark commit the built-in cases follow.
SOURCE_COMMIT = "0cfd831"


def ll_shape(case_id: str, hl: dict[str, Any]) -> dict[str, int]:
    """The LL shape InterpBench trains for ``case_id`` from its HL config (n_layers, n_heads, d_head, d_model)."""
    ratio = COMPRESSION_RATIO.get(str(case_id), DEFAULT_RATIO)
    n_heads = max(4, int(hl["n_heads"]))
    if str(case_id) in RESIDUAL_COMPRESSED:
        d_model = max(2, int(int(hl["d_model"]) // ratio))
        d_head = max(1, d_model // n_heads)
    else:
        d_head = int(max(1, int(hl["d_head"]) // ratio))
        d_model = n_heads * d_head
    return {"n_layers": max(2, int(hl["n_layers"])), "n_heads": n_heads, "d_head": d_head,
            "d_model": d_model, "d_mlp": 4 * d_model}
