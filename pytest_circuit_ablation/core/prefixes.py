"""Shared prefixes of pair rows in a causal model: the per-position products once per distinct prefix.

In a causal model everything at position t depends on the tokens at positions 0..t only. A patched
pair row (base b, source s) resumes from ``base[b] + lam * source[s]``, and both terms at position t
are functions of the inputs' first t + 1 tokens. So two rows whose base prefixes and source prefixes
agree up to t compute the same numbers at every position up to t. With 100 inputs drawn from a
vocabulary of 3-8 tokens, and rows in base-major order over sorted inputs, the early positions of a
micro-batch hold few distinct (base prefix, source prefix) *classes*: at case 21's position 3 a few
dozen for 1,928 rows. Half of case 21's row-positions are repeats, a third of case 34's.

The engine runs the products that act per position (queries, keys and values, the output
projection, the MLPs, the unembedding) once per class; the attention itself runs on the rows, each
reading its own ancestors' keys, after one gather from classes to rows (``_Weights.logits_shared``).
Gathering keys per class instead cost more than it saved at the late positions, where nearly every
row is its own class.

A row is needed only up to its last read cell: a causal position is never read by an earlier one.
Positions past it get no classes (case 21: 14% fewer class rows, case 3: 16%), and with a
micro-batch's rows sorted by their last read cell, latest first (``by_last_read``), the rows still
needed at position t are the leading ones (``LiveRows``), so attention at t runs on those alone.
"""
from __future__ import annotations

from dataclasses import dataclass


def prefix_ids(tokens):
    """[P, N] long: at position t, a dense id of each input's prefix ``tokens[i, :t + 1]``; two inputs
    share the id exactly when their first t + 1 tokens agree."""
    import torch

    P = tokens.shape[1]
    return torch.stack([torch.unique(tokens[:, :t + 1], dim=0, return_inverse=True)[1] for t in range(P)])


def last_read(cells):
    """[R] long: each row's last position with a read cell (-1 for none), for read cells [P, R]."""
    import torch

    positions = torch.arange(cells.shape[0], device=cells.device).unsqueeze(1)
    return torch.where(cells, positions, -1).amax(dim=0)


def by_last_read(cells):
    """[R] the order of rows that puts the latest last read cell first (ties keep their order), so that
    the rows needed at each position are the leading ones (``LiveRows``)."""
    import torch

    return torch.sort(last_read(cells), descending=True, stable=True).indices


@dataclass(frozen=True)
class LiveRows:
    """How many leading rows of R are still needed at each causal position (``counts`` [P], never
    increasing); with C stacked configs each config's R rows are cut alike."""

    R: int
    counts: tuple[int, ...]

    @classmethod
    def of(cls, cells) -> "LiveRows | None":
        """From read cells [P, R]; None where the needed rows at some position are not the leading ones
        (rows not sorted by ``by_last_read``) or every row is needed everywhere (nothing to cut)."""
        import torch

        P, R = cells.shape
        needed = last_read(cells).clamp(min=0).unsqueeze(0) >= torch.arange(P, device=cells.device).unsqueeze(1)
        counts = needed.sum(dim=1)
        leading = torch.arange(R, device=cells.device).unsqueeze(0) < counts.unsqueeze(1)
        if bool((counts == R).all()) or not torch.equal(leading, needed):
            return None
        return cls(R, tuple(counts.tolist()))


@dataclass
class SharedPrefixes:
    """The classes of one micro-batch's rows, and the indices that move between rows and classes.

    Classes cover each row up to its last read cell; past it a row's ``row_class`` is 0, a position-0
    class whose numbers it never reads. ``live``: the leading rows needed at each position, where the
    rows are sorted for it (``by_last_read``), else None.

    ``position`` / ``rep_row`` / ``rep_base`` / ``rep_source``: [S] each class's position, its
    representative row and that row's base and source input (position blocks in order, ``offsets``);
    ``row_class``: [P, R] each row's class, as an index into S; ``needed``: [S] bool, the classes that
    hold a read cell. Index tensors for C stacked configs are made once per C (``for_configs``)."""

    P: int
    R: int
    live: "LiveRows | None"
    offsets: list[int]
    position: object
    rep_row: object
    rep_base: object
    rep_source: object
    row_class: object
    needed: object
    cells: object

    def __post_init__(self) -> None:
        self._by_configs: dict[int, ConfigIndex] = {}

    @property
    def size(self) -> int:
        return self.offsets[-1]

    @classmethod
    def of(cls, ids, b, s, cells) -> "SharedPrefixes":
        """Classes of rows (b, s) [R] under prefix ids ``ids`` [P, N] (``prefix_ids``), with the read
        cells ``cells`` [P, R] (bool)."""
        import torch

        P, n = ids.shape
        R = len(b)
        last = last_read(cells).clamp(min=0)  # every row keeps position 0, where dead rows' class 0 is
        row_class, reps, offsets = [], [], [0]
        for t in range(P):
            live = (last >= t).nonzero().squeeze(1)
            uniq, inverse = torch.unique(ids[t, b[live]] * n + ids[t, s[live]], return_inverse=True)
            first = torch.full((len(uniq),), R, dtype=torch.long, device=b.device)
            first.scatter_reduce_(0, inverse, live, "amin")  # the first row of each class
            classes = torch.zeros(R, dtype=torch.long, device=b.device)
            classes[live] = inverse + offsets[-1]
            row_class.append(classes)
            reps.append(first)
            offsets.append(offsets[-1] + len(uniq))
        row_class = torch.stack(row_class)  # [P, R]
        rep_row = torch.cat(reps)
        sizes = torch.tensor([len(r) for r in reps], device=b.device)
        position = torch.repeat_interleave(torch.arange(P, device=b.device), sizes)
        needed = torch.zeros(offsets[-1], dtype=torch.bool, device=b.device)
        needed[row_class[cells]] = True
        return cls(P, R, LiveRows.of(cells), offsets, position, rep_row, b[rep_row], s[rep_row], row_class, needed, cells)

    def for_configs(self, C: int) -> "ConfigIndex":
        if C not in self._by_configs:
            self._by_configs[C] = ConfigIndex.of(self, C)
        return self._by_configs[C]


@dataclass
class ConfigIndex:
    """Where things are for C stacked configs. Classes are rows of a [C * S, d] matrix, position-major
    then config (row ``C * offset[t] + c * U_t + u``), like the engine's row cells (column
    ``(t * C + c) * R + r``).

    ``expand``: [P * C * R] the class row of every row cell; ``gather``: [C * S] a row cell of each
    class row; ``needed``: [Kn] the class rows holding a read cell, and ``gather_needed`` a row cell of each;
    ``cells``: each read cell's index in ``needed``, in the engine's cell order (position, config,
    row); ``class_of_row`` / ``config_of_row``: [C * S] what each class row holds."""

    expand: object
    gather: object
    needed: object
    gather_needed: object
    cells: object
    class_of_row: object
    config_of_row: object

    @classmethod
    def of(cls, shared: SharedPrefixes, C: int) -> "ConfigIndex":
        import torch

        dev = shared.position.device
        R = shared.R
        offsets = torch.tensor(shared.offsets, device=dev)
        sizes = offsets[1:] - offsets[:-1]
        pos = shared.position
        local = torch.arange(shared.size, device=dev) - offsets[pos]
        configs = torch.arange(C, device=dev).unsqueeze(1)
        row_of = C * offsets[pos] + configs * sizes[pos] + local  # [C, S]: each (config, class)'s row
        cell_of = torch.empty(C * shared.size, dtype=torch.long, device=dev)
        cell_of[row_of.reshape(-1)] = ((pos * C + configs) * R + shared.rep_row).reshape(-1)
        expand = row_of[:, shared.row_class].permute(1, 0, 2).reshape(-1)  # [P, C, R]
        is_needed = torch.zeros(C * shared.size, dtype=torch.bool, device=dev)
        is_needed[row_of[:, shared.needed].reshape(-1)] = True
        rank = torch.cumsum(is_needed, 0) - 1
        needed = is_needed.nonzero().squeeze(1)
        cells = torch.cat([rank[row_of[:, shared.row_class[t, shared.cells[t]]]].reshape(-1) for t in range(shared.P)])
        class_of_row = torch.empty_like(cell_of)
        class_of_row[row_of.reshape(-1)] = torch.arange(shared.size, device=dev).repeat(C)
        config_of_row = torch.empty_like(cell_of)
        config_of_row[row_of.reshape(-1)] = configs.expand(C, shared.size).reshape(-1)
        return cls(expand, cell_of, needed, cell_of[needed], cells, class_of_row, config_of_row)
