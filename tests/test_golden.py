"""Every entry point gives the answers it gave before the one-door refactor (tests/golden/answers.json),
for the two practice files, through the API (CSV, JSON, Excel; with and without explanations), the
page's download and `flask score`."""
import json

import pytest

from tests.golden import answers
from webapp import create_app


@pytest.fixture
def shipped_app(tmp_path):
    return create_app({"TESTING": True, "SECRET_KEY": "golden", "WTF_CSRF_ENABLED": False,
                       "UPLOAD_FOLDER": str(tmp_path), "DATABASE_URL": f"sqlite:///{tmp_path}/golden.db"})


def test_answers_to_the_practice_files_are_unchanged(shipped_app, shared_data, tmp_path):
    expected = json.loads(answers.GOLDEN.read_text())
    got = answers.compute(shipped_app, shared_data, tmp_path)
    assert {k: v for k, v in got.items() if v != expected.get(k)} == {}
