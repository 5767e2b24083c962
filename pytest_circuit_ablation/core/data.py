"""Distinct inputs of a case and every ordered (base, source) pair of them.

Inputs are full-length bodies (``max_seq_len - 1`` tokens after BOS), drawn uniformly without
replacement from all possible bodies with a seeded generator and then sorted, so the set and its order
depend only on (case, count, seed). Pairs are the N x N grid, self-pairs included (as InterpBench's
``every_combination=True``); they never count, since their label cannot change.
"""
from __future__ import annotations

import random
import sys

from .cases import Case
from ..errors import SettingError


def n_possible_inputs(case: Case) -> int:
    return len(case.vocab) ** (case.max_seq_len - 1)


def distinct_bodies(case: Case, count: int, seed: int) -> list[tuple[str, ...]]:
    """``count`` distinct bodies, sorted by their token ids."""
    vocab = sorted(case.vocab, key=lambda t: case.encoding[t])
    length = case.max_seq_len - 1
    total = n_possible_inputs(case)
    if count < 2:
        raise SettingError("inputs", count, "must be at least 2")
    if count > total:
        raise SettingError("inputs", count, f"case {case.id} has only {total} distinct inputs")
    rng = random.Random(f"circuit-ablation/{case.id}/{seed}")
    picks = _sample_indices(rng, total, count)  # an index is a body written in base len(vocab)
    bodies = []
    for index in sorted(picks):
        digits = []
        for _ in range(length):
            index, d = divmod(index, len(vocab))
            digits.append(d)
        bodies.append(tuple(vocab[d] for d in reversed(digits)))
    return bodies


def _sample_indices(rng: random.Random, total: int, count: int) -> list[int]:
    """``count`` distinct indices below ``total``. ``rng.sample(range(total))`` cannot take a range longer
    than sys.maxsize (a vocabulary of 5 over 28 positions has more bodies); beyond it, draws repeat until
    ``count`` are distinct, which for such a total is almost never. Below it, ``sample`` as always, so the
    inputs of every case stay what they were."""
    if total <= sys.maxsize:
        return rng.sample(range(total), count)
    picked: dict[int, None] = {}
    while len(picked) < count:
        picked.setdefault(rng.randrange(total))
    return list(picked)


def encode_inputs(case: Case, bodies: list[tuple[str, ...]], device: str = "cpu"):
    """Token ids [N, max_seq_len] with BOS first."""
    import torch

    return torch.tensor([case.encode(list(b)) for b in bodies], dtype=torch.long, device=device)


def all_pairs(n: int):
    """(base index, source index) for every ordered pair, base-major: shape [n*n, 2]."""
    import torch

    idx = torch.arange(n)
    return torch.stack([idx.repeat_interleave(n), idx.repeat(n)], dim=1)

