"""InterpBench case 24: "identifies the first occurrence of each token in a sequence".

InterpBench's description and program disagree: the program (what its models were trained on) is an
attention head that selects each position's own index and copies its token, so the output is the
input token at every position. This case is that program. `reference()` is the same function in plain
Python.
"""
from __future__ import annotations


def program():
    """Aggregate the tokens through a same-index selector (categorical)."""
    from tracr.rasp import rasp

    same_index = rasp.Select(rasp.indices, rasp.indices, rasp.Comparison.EQ).named("same_index")
    return rasp.Aggregate(same_index, rasp.tokens, default=None).named("first_occurrence")


def reference(body: list) -> list:
    """Output class value per body position (BOS excluded)."""
    return list(body)
