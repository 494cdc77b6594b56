"""Datasets of parts, on one process or a real Dask cluster: the same answers, byte for byte."""
import socket
from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq
import pytest

from tests import factories
from tests.conftest import local_cluster
from webapp.core.errors import InputError
from webapp.core.scoring import score
from webapp.engines.dataset import default_output, format_of, score_dataset
from webapp.service import ScoringOptions
from webapp.engines.parts import DatasetError, Options, discover

pytestmark = pytest.mark.server


@pytest.fixture(scope="module")
def cluster():
    """A real two-process Dask cluster."""
    with local_cluster(n_workers=2) as local:
        yield local.scheduler_address


def dataset(folder: Path, kind: str) -> tuple[Path, pd.DataFrame]:
    """Four parts with bad rows among them, written so that sorted names are not creation order."""
    folder.mkdir()
    frames = []
    for number in (3, 0, 2, 1):
        frame = factories.applications(60 + number * 7, seed=number, id_prefix=f"P{number}-", labelled=True)
        frame = frame.astype(object)
        frame.loc[number * 5, "Property_Area"] = "Mars"
        frame.loc[number + 1, "Credit_History"] = 0.0
        name = folder / f"part-{number}.{kind}"
        if kind == "csv":
            frame.to_csv(name, index=False)
        else:
            name.write_bytes(factories.parquet_bytes(frame.astype({"Property_Area": str, "Credit_History": float})))
        frames.append((number, frame))
    whole = pd.concat([f for _, f in sorted(frames, key=lambda item: item[0])], ignore_index=True)
    return folder, whole


@pytest.mark.parametrize("kind", ["csv", "parquet"])
@pytest.mark.parametrize("fmt", ["csv", "parquet"])
def test_dask_answers_byte_for_byte_as_the_single_process(loaded_model, cluster, tmp_path, kind, fmt):
    folder, _ = dataset(tmp_path / "in", kind)
    options = Options(ScoringOptions(format=fmt, explain=True))
    local_out, dask_out = tmp_path / f"local.{fmt}", tmp_path / f"dask.{fmt}"
    local = score_dataset(str(folder), str(local_out), loaded_model, options)
    distributed = score_dataset(str(folder), str(dask_out), loaded_model, options, engine="dask", scheduler=cluster)
    assert local_out.read_bytes() == dask_out.read_bytes() if fmt == "csv" else \
        pq.read_table(local_out).equals(pq.read_table(dask_out))
    assert local.to_dict() == distributed.to_dict()
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(["in", f"local.{fmt}", f"dask.{fmt}"])  # no scratch


def test_the_merged_summary_is_exactly_the_whole_files(loaded_model, cluster, tmp_path):
    folder, whole = dataset(tmp_path / "in", "csv")
    merged = score_dataset(str(folder), str(tmp_path / "out.csv"), loaded_model, Options(ScoringOptions(explain=True)),
                           engine="dask", scheduler=cluster)
    single = score(whole.to_csv(index=False).encode(), loaded_model, explain="reasons")
    answer = pd.concat(list(single), ignore_index=True)
    assert merged.to_dict() == single.summary.to_dict()
    assert merged.first_failures == single.summary.first_failures  # row numbers across parts
    assert merged.probability_histogram == single.summary.probability_histogram
    assert pd.read_csv(tmp_path / "out.csv", dtype=str, keep_default_na=False)["Loan_ID"].tolist() == \
        answer["Loan_ID"].tolist()


def test_a_folder_output_gets_one_file_per_part(loaded_model, cluster, tmp_path):
    folder, _ = dataset(tmp_path / "in", "parquet")
    score_dataset(str(folder), str(tmp_path / "out") + "/", loaded_model, Options(ScoringOptions(format="parquet")), engine="dask",
                  scheduler=cluster)
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == [f"part-{i:05d}.parquet" for i in range(4)]


def test_a_failing_part_leaves_no_output_behind(loaded_model, cluster, tmp_path):
    folder, _ = dataset(tmp_path / "in", "csv")
    (folder / "part-9.csv").write_text("Loan_ID,Colour\nA,red\n")  # refused whole: missing columns
    for engine in ("local", "dask"):
        with pytest.raises(InputError, match="Missing columns"):
            score_dataset(str(folder), str(tmp_path / "out.csv"), loaded_model, Options(), engine=engine,
                          scheduler=cluster)
        assert sorted(p.name for p in tmp_path.iterdir()) == ["in"]


def test_an_unreachable_scheduler_is_a_clear_error(loaded_model, tmp_path):
    folder, _ = dataset(tmp_path / "in", "csv")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with pytest.raises(DatasetError, match=f"Cannot reach the Dask scheduler at tcp://127.0.0.1:{port}"):
        score_dataset(str(folder), str(tmp_path / "out.csv"), loaded_model, Options(), engine="dask",
                      scheduler=f"tcp://127.0.0.1:{port}")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in"]


def test_parts_are_found_in_sorted_name_order(tmp_path):
    folder, _ = dataset(tmp_path / "in", "csv")
    (folder / "notes.md").write_text("not a part")
    assert [Path(p).name for p in discover(str(folder))] == [f"part-{i}.csv" for i in range(4)]
    assert [Path(p).name for p in discover(str(folder / "part-[12].csv"))] == ["part-1.csv", "part-2.csv"]
    with pytest.raises(DatasetError, match="No CSV or Parquet parts"):
        discover(str(tmp_path / "nothing-*.csv"))


def test_default_output_and_format():
    assert default_output("data/march.csv", "csv") == "data/march-predictions.csv"
    assert default_output("data/parts/", "parquet") == "data/parts-predictions.parquet"
    assert default_output("data/parts/*.csv", "csv") == "data/parts/predictions.csv"
    assert format_of("out.parquet", None) == "parquet" and format_of(None, None) == "csv"


def test_the_cli_runs_on_a_cluster(runner, cluster, tmp_path):
    folder, whole = dataset(tmp_path / "in", "csv")
    result = runner.invoke(args=["score", str(folder), "--engine", "dask", "--scheduler", cluster,
                                 "--output", str(tmp_path / "out.parquet"), "--explain"])
    assert result.exit_code == 0, result.output
    table = pq.read_table(tmp_path / "out.parquet").to_pandas()
    assert table["Loan_ID"].tolist() == whole["Loan_ID"].tolist() and "Reason_Codes" in table.columns
    assert f"{len(whole):,} rows" in result.output and "evaluation on" in result.output
    unreachable = runner.invoke(args=["score", str(folder), "--engine", "dask", "--scheduler", "tcp://127.0.0.1:9"])
    assert unreachable.exit_code != 0 and "Cannot reach the Dask scheduler" in unreachable.output


# The killed worker's sockets are closed by the garbage collector, not by distributed.
@pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning", "ignore::ResourceWarning")
def test_a_worker_killed_mid_run_costs_a_retry_not_the_answer(loaded_model, tmp_path):
    """SIGKILL one worker while parts are being scored: the scheduler reruns its tasks elsewhere and
    the answer is still byte-identical to the single process's."""
    import os
    import signal
    import threading
    import time

    from distributed import Client, LocalCluster

    folder = tmp_path / "in"
    folder.mkdir()
    for number in range(8):
        factories.applications(40_000, seed=number, id_prefix=f"K{number}-").to_csv(folder / f"p{number}.csv",
                                                                                   index=False)
    score_dataset(str(folder), str(tmp_path / "local.csv"), loaded_model, Options())
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1", dashboard_address="127.0.0.1:0",
                      death_timeout=60) as cluster, Client(cluster) as client:
        pids = client.run(os.getpid)
        killed = []

        def kill_a_busy_worker():  # once a part is being scored, so the kill lands mid-task
            deadline = time.monotonic() + 60
            while not killed and time.monotonic() < deadline:
                busy = [address for address, tasks in client.processing().items()
                        if any(str(t).startswith("score-part") for t in tasks)]
                if busy:
                    os.kill(pids[busy[0]], signal.SIGKILL)
                    killed.append(busy[0])
                time.sleep(0.05)

        killer = threading.Thread(target=kill_a_busy_worker, daemon=True)
        killer.start()
        score_dataset(str(folder), str(tmp_path / "dask.csv"), loaded_model, Options(), engine="dask",
                      scheduler=cluster.scheduler_address)
        killer.join(timeout=5)
    assert killed, "a worker should have been killed while it scored a part"
    assert (tmp_path / "dask.csv").read_bytes() == (tmp_path / "local.csv").read_bytes()
