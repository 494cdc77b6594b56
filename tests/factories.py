"""Small loan data built in code, so the tests run without ../shared."""
from __future__ import annotations

import io

import numpy as np
import openpyxl
import pandas as pd

CHOICES = {
    "Gender": ["Male", "Female"],
    "Married": ["Yes", "No"],
    "Dependents": ["0", "1", "2", "3+"],
    "Education": ["Graduate", "Not Graduate"],
    "Self_Employed": ["No", "Yes"],
    "Property_Area": ["Urban", "Semiurban", "Rural"],
}


def applications(n: int = 40, *, seed: int = 0, labelled: bool = False, id_prefix: str = "T") -> pd.DataFrame:
    """`n` plausible applications with a few empty cells, as `read_csv` would give them."""
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame({"Loan_ID": [f"{id_prefix}{i:06d}" for i in range(n)]})
    for column, values in CHOICES.items():
        frame[column] = rng.choice(values, size=n)
    frame["ApplicantIncome"] = rng.integers(1000, 20000, size=n)
    frame["CoapplicantIncome"] = rng.choice([0, 0, 1500, 2500], size=n).astype(float)
    frame["LoanAmount"] = rng.integers(30, 400, size=n).astype(float)
    frame["Loan_Amount_Term"] = rng.choice([360.0, 180.0, 480.0], size=n)
    frame["Credit_History"] = rng.choice([1.0, 1.0, 1.0, 0.0], size=n)
    # A few gaps, as in the real data: the pipeline imputes them.
    for column in ("Gender", "Self_Employed", "LoanAmount", "Credit_History"):
        frame.loc[rng.random(n) < 0.05, column] = np.nan
    frame = frame[["Loan_ID", "Gender", "Married", "Dependents", "Education", "Self_Employed", "ApplicantIncome",
                   "CoapplicantIncome", "LoanAmount", "Loan_Amount_Term", "Credit_History", "Property_Area"]]
    if labelled:
        approve = (frame["Credit_History"].fillna(1) == 1) & (rng.random(n) < 0.85)
        frame["Loan_Status"] = np.where(approve, "Y", "N")
    return frame


def xlsx_bytes(frame: pd.DataFrame, *, sheets=None, hidden_first=False) -> bytes:
    """An .xlsx written by openpyxl: `frame` on a sheet "Applications" (and any other `sheets`)."""
    workbook = openpyxl.Workbook()
    first = workbook.active
    first.title = "Applications"
    for title, data in (sheets or {"Applications": frame}).items():
        sheet = first if title == "Applications" else workbook.create_sheet(title)
        sheet.append(list(data.columns))
        for row in data.itertuples(index=False):
            sheet.append([None if pd.isna(v) else v for v in row])
    if hidden_first:
        decoy = workbook.create_sheet("Notes", 0)
        decoy.append(["not", "a", "table"])
        decoy.sheet_state = "hidden"
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()


def disparate_applications(per_group: int = 60) -> pd.DataFrame:
    """A file whose approvals differ by Gender through a decision feature: every man has a good
    credit history and every woman a bad one, so parity must flag Gender although the model never
    sees it."""
    frame = applications(2 * per_group, seed=4)
    frame["Gender"] = ["Male"] * per_group + ["Female"] * per_group
    frame["Credit_History"] = [1.0] * per_group + [0.0] * per_group
    return frame
