"""The answers the service gave to the two practice files before the one-door refactor, as digests.

`python -m tests.golden.answers --write` records them (run once, before a change that must not alter
any answer); `tests/test_golden.py` recomputes and compares. Fields added to JSON answers since the
recording (`ADDED_SUMMARY_KEYS`, `ADDED_PREDICTION_KEYS`, `ADDED_COLUMNS`) are dropped before hashing:
answers may grow, never change.

Re-recorded on purpose, once: the explained answers (the API's `explain=true` and the page, which
explains by default) when issue 25 made stated reasons material only and never a missing-information
reason for a decline. Every answer without explanations is still the one recorded before the
one-door change (recorded with these digests at that commit). And once more, for the explained JSON
answers only, when their contributions began to be compared to 12 significant digits (see
`_round_contributions`; the answers themselves were identical at that commit and the one before).
"""
from __future__ import annotations

import hashlib
import io
import json
import re
import sys
from pathlib import Path

GOLDEN = Path(__file__).with_name("answers.json")
FILES = ("loan_test.csv", "loan_train.csv")
# The summary report has one shape since the one-door change: the page's three extra fields joined it.
ADDED_SUMMARY_KEYS = {"batch_id", "first_failures", "probability_histogram", "input_format", "actions"}
ADDED_PREDICTION_KEYS = {"Action"}  # issue 25: every row's action
ADDED_COLUMNS = {"Action"}


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def json_digest(body: bytes) -> str:
    document = json.loads(body)
    for key in ADDED_SUMMARY_KEYS:
        document.get("summary", {}).pop(key, None)
    for prediction in document.get("predictions", []):
        for key in ADDED_PREDICTION_KEYS:
            prediction.pop(key, None)
        _round_contributions(prediction)
    return sha(json.dumps(document, sort_keys=True).encode())


CONTRIBUTION_DIGITS = 12


def _round_contributions(prediction: dict) -> None:
    """Explained answers carry log-odds contributions at full precision, and numpy's vectorised
    log1p differs in the last bit between CPUs (AVX-512 or not): the digests compare them to 12
    significant digits, far below any reason's materiality (0.05), far above that last bit."""
    for name, value in (prediction.get("contributions") or {}).items():
        prediction["contributions"][name] = float(f"{value:.{CONTRIBUTION_DIGITS}g}")
    for reason in prediction.get("reasons") or []:
        reason["contribution"] = float(f"{reason['contribution']:.{CONTRIBUTION_DIGITS}g}")


def _without_added_columns(rows: list[list]) -> list[list]:
    keep = [i for i, name in enumerate(rows[0]) if name not in ADDED_COLUMNS]
    width = len(rows[0])  # a read-only sheet's rows stop at their last filled cell
    return [[(list(row) + [None] * width)[i] for i in keep] for row in rows]


def csv_digest(body: bytes) -> str:
    import csv

    rows = list(csv.reader(io.StringIO(body.decode("utf-8"), newline="")))
    return sha(json.dumps(_without_added_columns(rows)).encode())


def xlsx_digest(body: bytes) -> str:
    from openpyxl import load_workbook

    sheet = load_workbook(io.BytesIO(body), read_only=True).active
    rows = [list(row) for row in sheet.iter_rows(values_only=True)]
    return sha(json.dumps(_without_added_columns(rows), default=str).encode())


def api_answers(client, data: Path) -> dict:
    out = {}
    for name in FILES:
        body = (data / name).read_bytes()
        for explain in ("false", "true"):
            for fmt in ("csv", "json", "xlsx"):
                response = client.post(f"/api/v1/score?format={fmt}&explain={explain}", data=body,
                                       content_type="text/csv")
                assert response.status_code == 200, response.get_data(as_text=True)[:500]
                digest = {"csv": csv_digest, "json": json_digest, "xlsx": xlsx_digest}[fmt](response.get_data())
                response.close()
                out[f"api {name} {fmt} explain={explain}"] = digest
    return out


def page_answers(client, data: Path) -> dict:
    out = {}
    for name in FILES:
        response = client.post("/", data={"file": (io.BytesIO((data / name).read_bytes()), name), "explain": "y"},
                               content_type="multipart/form-data")
        assert response.status_code == 303, response.get_data(as_text=True)[:500]
        token = re.search(r"/results/([^/?#]+)", response.headers["Location"]).group(1)
        download = client.get(f"/results/{token}/predictions.csv")
        assert download.status_code == 200
        out[f"page {name} csv"] = csv_digest(download.get_data())
        download.close()
    return out


def cli_answers(runner, data: Path, tmp: Path) -> dict:
    out = {}
    for name in FILES:
        target = tmp / f"{name}.out.csv"
        result = runner.invoke(args=["score", str(data / name), "--output", str(target)])
        assert result.exit_code == 0, result.output
        out[f"cli {name} csv"] = csv_digest(target.read_bytes())
    return out


def compute(app, data: Path, tmp: Path) -> dict:
    try:
        from tests.conftest import signed_in_client
    except ImportError:  # recording against code from before accounts
        client = app.test_client()
    else:
        client = signed_in_client(app)
    return {**api_answers(client, data), **page_answers(client, data), **cli_answers(app.test_cli_runner(), data, tmp)}


def main() -> None:
    import tempfile

    from webapp import create_app

    data = Path(__file__).resolve().parents[3] / "shared" / "data"
    with tempfile.TemporaryDirectory() as tmp:
        app = create_app({"TESTING": True, "SECRET_KEY": "golden", "WTF_CSRF_ENABLED": False,
                          "UPLOAD_FOLDER": tmp, "DATABASE_URL": f"sqlite:///{tmp}/golden.db"})
        answers = compute(app, data, Path(tmp))
    if "--write" in sys.argv:
        GOLDEN.write_text(json.dumps(answers, indent=1, sort_keys=True) + "\n")
    print(json.dumps(answers, indent=1, sort_keys=True))


if __name__ == "__main__":
    main()
