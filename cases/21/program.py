"""InterpBench case 21: "extract unique tokens": each token at its first occurrence, None elsewhere.

`program()` builds the RASP program that tracr compiles into the high-level model (needs the `compile`
extra), with InterpBench's structure: pair each token with its index, count the same-token pairs at or
before each position, mark positions whose count is 1, and fetch the token at each marked position.
Where the program gives None the compiled model's output is the label (its last head selects nothing
and leaks a little attention, so that label is not always class 0). `reference()` is the same function
in plain Python.
"""
from __future__ import annotations


def _count_is_one(count: int, index: int) -> int:
    return index if count == 1 else -1


def program():
    from tracr.rasp import rasp

    token_and_index = rasp.SequenceMap(lambda token, index: (token, index), rasp.tokens, rasp.indices).named("token_and_index")
    same_token_before = rasp.Select(
        token_and_index, token_and_index, lambda key, query: key[0] == query[0] and key[1] <= query[1]
    ).named("same_token_before")
    count = rasp.SelectorWidth(same_token_before).named("occurrences_so_far")
    first_index = rasp.SequenceMap(_count_is_one, count, rasp.indices).named("first_occurrence_index")
    at_first = rasp.Select(first_index, rasp.indices, rasp.Comparison.EQ).named("at_first_occurrence")
    return rasp.Aggregate(at_first, rasp.tokens, default=None).named("unique_tokens")


def reference(body: list) -> list:
    """Output class value per body position (BOS excluded); None where the program gives None."""
    return [t if t not in body[:i] else None for i, t in enumerate(body)]
