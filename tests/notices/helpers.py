"""Shared makings of the notice tests: a lender, decision records, and pdftotext."""
import datetime as dt
import os
import shutil
import subprocess

import pytest

from webapp.notices.content import Lender

LENDER = Lender(name="Example Savings Bank", address=("100 Main Street", "Springfield, IL 62701"),
                contact="Credit Department, 100 Main Street, Springfield, IL 62701, (555) 010-0100",
                agency=("Federal Trade Commission", "Equal Credit Opportunity", "Washington, DC 20580"))
DECIDED = dt.datetime(2026, 3, 4, 15, 30, tzinfo=dt.timezone.utc)


def decision(loan_id, action, reasons=(), inputs=None, created_at=DECIDED):
    return {"loan_id": loan_id, "created_at": created_at, "status": "scored", "action": action,
            "reasons": [{"code": code, "contribution": -1.0 + k / 10} for k, code in enumerate(reasons)],
            "inputs": inputs or {}}


def pdf_text(data: bytes, tmp_path) -> str:
    """The PDF's text as pdftotext reads it, pages split by form feeds, trailing spaces dropped."""
    if shutil.which("pdftotext") is None:
        if os.environ.get("CI"):
            pytest.fail("pdftotext is missing (apt-get install poppler-utils; `make test` installs it)")
        pytest.skip("pdftotext is not installed (apt-get install poppler-utils)")
    path = tmp_path / "notice.pdf"
    path.write_bytes(data)
    text = subprocess.run(["pdftotext", "-layout", str(path), "-"], check=True, capture_output=True).stdout.decode()
    return "\f".join("\n".join(line.rstrip() for line in page.split("\n")) for page in text.split("\f"))


def flowing(text: str) -> str:
    """Text with line breaks and runs of spaces as single spaces: for phrases wrapped across lines."""
    return " ".join(text.split())
