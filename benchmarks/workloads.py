"""One workload per process invocation, so peak RSS is that workload's own.

    python -m benchmarks.workloads NAME INPUT  ->  prints JSON {"seconds": ..., "rows": ..., "peak_rss_mb": ...}
"""
from __future__ import annotations

import json
import resource
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
MODEL = ROOT / "models" / "loan_pipeline.joblib"


def floor(path: Path, out: Path) -> int:
    """The in-process floor: read_csv -> predict_proba -> write ID, label, probability."""
    import joblib
    import numpy as np
    import pandas as pd

    pipeline = joblib.load(MODEL)
    frame = pd.read_csv(path)
    probability = pipeline.predict_proba(frame)[:, 1]
    pd.DataFrame({"Loan_ID": frame["Loan_ID"], "Loan_Status": np.where(probability >= 0.5, "Y", "N"),
                  "Approval_Probability": probability}).to_csv(out, index=False, float_format="%.4f")
    return len(frame)


def core(path: Path, out: Path) -> int:
    from webapp.model import load_model
    from webapp.scoring import score
    from webapp.writing import write_csv

    model = load_model(MODEL)
    with open(path, "rb") as source, open(out, "wb") as sink:
        scoring = score(source, model)
        write_csv(scoring, sink)
    return scoring.summary.rows


def openpyxl_read(path: Path, out: Path) -> int:
    import pandas as pd

    return len(pd.read_excel(path, engine="openpyxl"))


def calamine_read(path: Path, out: Path) -> int:
    from webapp.reading import open_table

    with open(path, "rb") as source:
        return sum(len(chunk) for chunk in open_table(source).chunks())


WORKLOADS = {"floor": floor, "core": core, "openpyxl_read": openpyxl_read, "calamine_read": calamine_read}

if __name__ == "__main__":
    name, source = sys.argv[1], Path(sys.argv[2])
    out = Path(sys.argv[3]) if len(sys.argv) > 3 else Path("/dev/null")
    started = time.perf_counter()
    rows = WORKLOADS[name](source, out)
    seconds = time.perf_counter() - started
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({"workload": name, "rows": rows, "seconds": round(seconds, 3), "peak_rss_mb": round(peak, 1)}))
