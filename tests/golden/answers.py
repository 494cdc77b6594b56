"""The answers the service gave to the two practice files before the one-door refactor, as digests.

`python -m tests.golden.answers --write` records them (run once, before a change that must not alter
any answer); `tests/test_golden.py` recomputes and compares. Fields added to JSON answers since the
recording (`ADDED_SUMMARY_KEYS`) are dropped before hashing: answers may grow, never change.
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
ADDED_SUMMARY_KEYS = {"batch_id", "first_failures", "probability_histogram", "input_format"}
ADDED_PREDICTION_KEYS: set[str] = set()


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def json_digest(body: bytes) -> str:
    document = json.loads(body)
    for key in ADDED_SUMMARY_KEYS:
        document.get("summary", {}).pop(key, None)
    for prediction in document.get("predictions", []):
        for key in ADDED_PREDICTION_KEYS:
            prediction.pop(key, None)
    return sha(json.dumps(document, sort_keys=True).encode())


def xlsx_digest(body: bytes) -> str:
    from openpyxl import load_workbook

    sheet = load_workbook(io.BytesIO(body), read_only=True).active
    return sha(json.dumps([list(row) for row in sheet.iter_rows(values_only=True)], default=str).encode())


def api_answers(client, data: Path) -> dict:
    out = {}
    for name in FILES:
        body = (data / name).read_bytes()
        for explain in ("false", "true"):
            for fmt in ("csv", "json", "xlsx"):
                response = client.post(f"/api/v1/score?format={fmt}&explain={explain}", data=body,
                                       content_type="text/csv")
                assert response.status_code == 200, response.get_data(as_text=True)[:500]
                digest = {"csv": sha, "json": json_digest, "xlsx": xlsx_digest}[fmt](response.get_data())
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
        out[f"page {name} csv"] = sha(download.get_data())
        download.close()
    return out


def cli_answers(runner, data: Path, tmp: Path) -> dict:
    out = {}
    for name in FILES:
        target = tmp / f"{name}.out.csv"
        result = runner.invoke(args=["score", str(data / name), "--output", str(target)])
        assert result.exit_code == 0, result.output
        out[f"cli {name} csv"] = sha(target.read_bytes())
    return out


def compute(app, data: Path, tmp: Path) -> dict:
    from tests.conftest import signed_in_client

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
