"""Benchmark inputs: rows drawn from ../shared/data/loan_test.csv with fresh unique IDs.

Written under benchmarks/data/ (git-ignored); never committed.
"""
from __future__ import annotations

import os
import sys
from pathlib import Path

import numpy as np
import pandas as pd

HERE = Path(__file__).resolve().parent
# BENCH_SOURCE_CSV: for a checkout that is not beside ../shared (a git worktree, say).
SOURCE = Path(os.environ.get("BENCH_SOURCE_CSV") or HERE.parent.parent / "shared" / "data" / "loan_test.csv")
DATA = HERE / "data"


def sample(rows: int, seed: int = 0) -> pd.DataFrame:
    base = pd.read_csv(SOURCE, dtype=str, keep_default_na=False)
    picked = base.iloc[np.random.default_rng(seed).integers(0, len(base), size=rows)].reset_index(drop=True)
    picked["Loan_ID"] = [f"BM{i:08d}" for i in range(rows)]
    return picked


def json_file(rows: int) -> Path:
    """The same applications as JSON records, as programs post them."""
    path = DATA / f"loans-{rows}.json"
    if not path.exists():
        DATA.mkdir(exist_ok=True)
        path.write_text(sample(rows).to_json(orient="records"))
    return path


def csv_file(rows: int) -> Path:
    path = DATA / f"loans-{rows}.csv"
    if not path.exists():
        DATA.mkdir(exist_ok=True)
        sample(rows).to_csv(path, index=False)
    return path


def labelled_csv_file(rows: int) -> Path:
    """The same rows as csv_file, with a known outcome column: the service evaluates such files."""
    path = DATA / f"loans-{rows}-labelled.csv"
    if not path.exists():
        DATA.mkdir(exist_ok=True)
        frame = sample(rows)
        frame["Loan_Status"] = np.where(np.random.default_rng(1).random(rows) < 0.69, "Y", "N")
        frame.to_csv(path, index=False)
    return path


def xlsx_file(rows: int) -> Path:
    path = DATA / f"loans-{rows}.xlsx"
    if not path.exists():
        from openpyxl import Workbook

        DATA.mkdir(exist_ok=True)
        frame = sample(rows)
        numeric = ["ApplicantIncome", "CoapplicantIncome", "LoanAmount", "Loan_Amount_Term", "Credit_History"]
        workbook = Workbook(write_only=True)
        sheet = workbook.create_sheet("Applications")
        sheet.append(list(frame.columns))
        for record in frame.itertuples(index=False):
            sheet.append([float(v) if c in numeric and v != "" else (v or None) for c, v in zip(frame.columns, record)])
        workbook.save(path)
    return path


if __name__ == "__main__":
    for n in map(int, sys.argv[1:] or ["1000", "100000", "1000000"]):
        print(csv_file(n))
