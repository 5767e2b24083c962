"""The report's tables as pandas DataFrames with typed columns, for analysis in a notebook or a script::

    from pytest_circuit_ablation import results
    tables = results.read("reports")
    tables["ablation"].query("gate_role == 'gate'").groupby("status").effect.max()   # worst node at the gate

``read`` returns ``ablation``, ``separation``, ``models`` and ``diagnosis`` (one frame per CSV the
report writes); ``to_csv`` writes a frame back through the report's own CSV writer, byte for byte as the
report wrote it; ``effect_frame`` gives one evaluation's measured columns of ``ablation.csv`` as the same
typed frame, without a report (the ``ablation_effects_frame`` fixture).
"""
from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from .report.rows import TABLES, columns, dtype


def read(folder: str | Path) -> dict[str, Any]:
    """Every table of a report folder as a typed DataFrame (floats parsed to the exact value written)."""
    folder = Path(folder)
    frames = {}
    for name, table in TABLES.items():
        path = folder / f"{name}.csv"
        if not path.is_file():
            raise FileNotFoundError(f"{path}: not a report folder (run pytest with --ablation-report)")
        try:
            frames[name] = read_text(path.read_text(), table)  # ints read as floats first (empty = missing), then Int64
        except ValueError as exc:
            raise ValueError(f"{path.name}: {exc}") from None
    return frames


def plain_value(value: Any) -> Any:
    """A frame cell as the Python value a recorded row holds: missing (NA, NaN) -> None, numpy scalars unwrapped."""
    import pandas as pd

    if value is None or value is pd.NA or (isinstance(value, float) and math.isnan(value)):
        return None
    if hasattr(value, "item"):
        value = value.item()
    return value


def to_csv(frame, name: str) -> str:
    """The CSV text of one table, through the report's writer (so ``to_csv(read(f)[n], n)`` is the file)."""
    from .report.rows import to_csv as write

    table = TABLES[name]
    names = columns(table)
    records = [{c: plain_value(v) for c, v in zip(names, row)} for row in frame[names].itertuples(index=False)]
    return write(records, table)


#: the columns of ablation.csv that an evaluation alone decides (the rest come from the items' outcomes)
MEASURED = ("task", "model", "node", "hook", "layer", "head", "status", "mode", "scale", "effect", "hl_effect",
            "kl_effect", "iit_effect", "cells_counted", "cells_flipped", "ci_low", "ci_high", "note")


def effect_frame(ev) -> Any:
    """One ``core.evaluate.Evaluation`` as a DataFrame of ``MEASURED`` columns, typed and ordered as
    ``read(folder)["ablation"]`` (rows in the report's order: node, mode, scale)."""
    from .report.rows import EffectColumns, effect_columns
    from .report.rows import to_csv as write

    ref = ev.pair.ref
    records = [{"task": ref.case_id, "model": ref.name, **effect_columns(ev, node, mode, scale)}
               for node, mode, scale in ev.result.counts]
    # through the report's CSV writer (which sorts) and reader, so every value and type is what read() gives
    return read_text(write(records, EffectColumns), EffectColumns)[list(MEASURED)]


def read_text(text: str, table: type) -> Any:
    """One table's CSV text as a typed frame (``read``'s parsing, for text in memory)."""
    import io

    import pandas as pd

    names = columns(table)
    types = {c: dtype(table, c) for c in names}
    frame = pd.read_csv(io.StringIO(text), dtype={c: ("float64" if t == "Int64" else t) for c, t in types.items()},
                        keep_default_na=False, na_values={c: [""] for c in names})
    missing = [c for c in names if c not in frame.columns]
    if missing:
        more = f" and {len(missing) - 3} more" if len(missing) > 3 else ""
        raise ValueError(f"not this report's table (or one written by another version of this package): no column {', '.join(missing[:3])}{more}")
    for column, kind in types.items():
        if kind == "Int64":
            frame[column] = frame[column].astype("Int64")
    return frame[names]
