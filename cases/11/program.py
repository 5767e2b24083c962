"""InterpBench case 11: "counts the number of words in a sequence based on their length".

InterpBench's description and program disagree: the program (what its models were trained on) maps
each word to its length, and an attention head then averages the lengths of every earlier word of the
same length, which is that length again. So the output at each position is the word's length. This
case is that program. `reference()` is the same function in plain Python.
"""
from __future__ import annotations


def program():
    """Map to the word length, Select equal lengths, Aggregate the lengths (categorical)."""
    from tracr.rasp import rasp

    length = rasp.Map(len, rasp.tokens).named("word_length")
    same_length = rasp.Select(length, length, rasp.Comparison.EQ).named("same_length")
    return rasp.Aggregate(same_length, length, default=None).named("length_of_same_length_words")


def reference(body: list) -> list[int]:
    """Output class value per body position (BOS excluded)."""
    return [len(word) for word in body]
