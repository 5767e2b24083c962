"""The report's tables as pandas DataFrames with typed columns, for analysis in a notebook or a script::

    from pytest_circuit_ablation import results
    tables = results.read("reports")
    tables["ablation"].query("gate_role == 'gate'").groupby("status").effect.max()   # worst node at the gate

``read`` returns ``ablation``, ``separation`` and ``models`` (one frame per CSV the report writes);
``to_csv`` writes a frame back through the report's own CSV writer, byte for byte as the report wrote it.
"""
from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from .report.rows import TABLES, columns, dtype


def read(folder: str | Path) -> dict[str, Any]:
    """Every table of a report folder as a typed DataFrame (floats parsed to the exact value written)."""
    import pandas as pd

    folder = Path(folder)
    frames = {}
    for name, table in TABLES.items():
        path = folder / f"{name}.csv"
        if not path.is_file():
            raise FileNotFoundError(f"{path}: not a report folder (run pytest with --ablation-report)")
        names = columns(table)
        types = {c: dtype(table, c) for c in names}
        # ints are read as floats first (a missing value is an empty cell), then made nullable ints
        frame = pd.read_csv(path, dtype={c: ("float64" if t == "Int64" else t) for c, t in types.items()},
                            keep_default_na=False, na_values={c: [""] for c in names})
        for column, kind in types.items():
            if kind == "Int64":
                frame[column] = frame[column].astype("Int64")
        frames[name] = frame[names]
    return frames


def _value(value: Any) -> Any:
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
    records = [{c: _value(v) for c, v in zip(names, row)} for row in frame[names].itertuples(index=False)]
    return write(records, table)
