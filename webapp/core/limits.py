"""Size limits for one input; the app builds them from its configuration."""
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
    max_xlsx_uncompressed: int = 512 * 1024 * 1024
    max_xlsx_ratio: int = 200
    max_xlsx_cells: int = 20_000_000
    chunk_rows: int = 100_000
    max_json_bytes: int = 20 * 1024 * 1024
    time_budget: float | None = None  # seconds; checked between chunks

    @classmethod
    def from_config(cls, config) -> "Limits":
        return cls(
            max_rows=config["MAX_ROWS"],
            max_columns=config["MAX_COLUMNS"],
            max_cell_length=config["MAX_CELL_LENGTH"],
            max_json_depth=config["MAX_JSON_DEPTH"],
            max_xlsx_uncompressed=config["MAX_XLSX_UNCOMPRESSED"],
            max_json_bytes=config["MAX_JSON_BYTES"],
            time_budget=config["REQUEST_TIME_BUDGET"],
        )


DEFAULT_LIMITS = Limits()
