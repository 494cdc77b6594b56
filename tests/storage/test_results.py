import os
import stat

import pytest

from webapp.storage import ResultExpired, ResultNotFound, ResultStore


class Clock:
    def __init__(self):
        self.now = 1_000_000.0

    def __call__(self):
        return self.now


@pytest.fixture
def clock():
    return Clock()


@pytest.fixture
def store(tmp_path, clock):
    return ResultStore(tmp_path, ttl_seconds=3600, clock=clock)


def write_rows(out):
    out.write(b"Loan_ID,Loan_Status,Approval_Probability,Error\r\nA,Y,0.9,\r\n")
    return {"rows": 1}


def test_tokens_are_unguessable_and_files_owner_only(store, tmp_path):
    token = store.create(write_rows, {"filename": "a.csv"})
    assert len(token) == 43  # 256 random bits, URL-safe
    for path in tmp_path.iterdir():
        assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    result = store.get(token)
    assert result.meta["summary"] == {"rows": 1} and result.csv_path.read_bytes().startswith(b"Loan_ID")


def test_results_expire_leaving_only_a_tombstone(store, clock, tmp_path):
    token = store.create(write_rows, {"filename": "secret-name.csv"})
    clock.now += 3601
    with pytest.raises(ResultExpired):
        store.get(token)
    assert [p.name for p in tmp_path.iterdir()] == [f"{token}.json"]
    assert "secret-name" not in (tmp_path / f"{token}.json").read_text()
    with pytest.raises(ResultExpired):
        store.get(token)


def test_purge_removes_expired_data_and_old_tombstones(store, clock, tmp_path):
    old = store.create(write_rows, {})
    clock.now += 1800
    fresh = store.create(write_rows, {})
    clock.now += 1801
    assert store.purge() == 1
    assert not (tmp_path / f"{old}.csv").exists() and (tmp_path / f"{fresh}.csv").exists()
    clock.now += 40 * 24 * 3600
    store.purge()
    with pytest.raises(ResultNotFound):
        store.get(old)


def test_a_failing_writer_leaves_nothing(store, tmp_path):
    def broken(out):
        out.write(b"partial")
        raise ValueError("boom")

    with pytest.raises(ValueError):
        store.create(broken, {})
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("token", ["", "../../etc/passwd", "a" * 42, "a" * 43 + "/", "%2e%2e"])
def test_malformed_tokens_are_not_found(store, token):
    with pytest.raises(ResultNotFound):
        store.get(token)


def test_a_result_is_written_under_temporary_names_then_renamed(store, tmp_path):
    seen = []

    def watching(out):
        seen.extend(p.name for p in tmp_path.iterdir())
        return write_rows(out)

    token = store.create(watching, {})
    assert seen == [f"{token}.csv.partial"]
    assert sorted(p.name for p in tmp_path.iterdir()) == [f"{token}.csv", f"{token}.json"]


def test_purge_removes_what_a_killed_worker_left_once_it_is_old(store, tmp_path):
    kept = store.create(write_rows, {})
    leftovers = [tmp_path / "orphan.csv", tmp_path / "orphan.xlsx", tmp_path / "x.csv.partial"]
    for path in leftovers:
        path.write_bytes(b"Loan_ID\r\nA\r\n")
    store.purge()
    assert all(p.exists() for p in leftovers)  # perhaps still being written
    for path in leftovers:
        os.utime(path, (0, 0))
    store.purge()
    assert not any(p.exists() for p in leftovers)
    assert store.get(kept).csv_path.exists()


def test_a_recorded_batch_leads_to_its_result_while_the_result_lasts(store, clock, tmp_path):
    batch_id = "0123456789abcdef" * 2
    token = store.create(lambda out: out.write(b"Loan_ID\r\n") and {"rows": 0, "batch_id": batch_id}, {})
    assert store.for_batch(batch_id).token == token
    assert store.for_batch("../" + batch_id) is None and store.for_batch("f" * 32) is None
    clock.now += 3601
    assert store.for_batch(batch_id) is None  # expired with its result
    os.utime(tmp_path / f"{batch_id}.batch", (0, 0))  # written long ago
    clock.now = 10 ** 10
    store.purge()
    assert not (tmp_path / f"{batch_id}.batch").exists()
