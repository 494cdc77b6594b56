"""Size limits for one input.

The defaults below are the service's too: the settings table (`webapp/config.py`) takes each
configurable limit's default from here and builds the app's `Limits` from the environment
(`MAX_ROWS` fills `max_rows`, …), so the two cannot disagree. The core itself has no time budget;
the service's (`REQUEST_TIME_BUDGET`) is the table's.
"""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Limits:
    max_rows: int = 2_000_000
    max_columns: int = 200
    max_cell_length: int = 1_000
    max_header_bytes: int = 1 << 20
    max_json_depth: int = 20
    # Excel: refuse before parsing (see SECURITY notes): ZIP inflation and the sheet's used area,
    # which calamine allocates densely (a 5 KB file with one far cell asks for 6.7 GB).
    max_xlsx_uncompressed: int = 1 << 30  # 1 GiB: the service's value before the settings table
    max_xlsx_ratio: int = 200
    max_xlsx_cells: int = 20_000_000
    chunk_rows: int = 100_000
    max_json_bytes: int = 20 * 1024 * 1024  # parsing costs ~10x the body in memory
    time_budget: float | None = None  # seconds; checked between chunks


DEFAULT_LIMITS = Limits()
