"""InterpBench case 19: "removes consecutive duplicate tokens from a sequence".

The program (what InterpBench's models were trained on) keeps a token where it differs from the
previous one and gives None where it repeats it; position 0 has no previous token, so it is None there
too. Where the program gives None the compiled model's output is the label. max_seq_len 15.
`program()` builds the RASP program that tracr compiles into the high-level model (needs the `compile`
extra); `reference()` is the same function in plain Python.
"""
from __future__ import annotations


def _keep_if_new(token, previous):
    return token if token != previous else None


def program():
    """One head fetches the previous token; one MLP keeps the token when it differs."""
    from tracr.rasp import rasp

    previous_position = rasp.Select(rasp.indices, rasp.indices, lambda key, query: query == key + 1).named("previous_position")
    previous = rasp.Aggregate(previous_position, rasp.tokens, default=None).named("previous_token")
    return rasp.SequenceMap(_keep_if_new, rasp.tokens, previous).named("deduplicated")


def reference(body: list) -> list:
    """Output class value per body position (BOS excluded); None where the program gives None."""
    return [None if i == 0 else _keep_if_new(t, body[i - 1]) for i, t in enumerate(body)]
