"""One workload per process invocation, so peak RSS is that workload's own.

    python -m benchmarks.workloads NAME INPUT [OUTPUT]
    -> JSON {"workload", "rows", "seconds", "peak_rss_mb"}

`seconds` covers the work only (read, score, write), after imports and loading the model, as in a
server that has loaded its model once; peak RSS covers the whole process.
"""
from __future__ import annotations

import json
import resource
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
MODEL = ROOT / "models" / "loan_pipeline.joblib"


def floor():
    """The in-process floor: read_csv -> predict_proba -> write ID, label, probability."""
    import joblib
    import numpy as np
    import pandas as pd

    pipeline = joblib.load(MODEL)

    def run(path: Path, out: Path) -> int:
        frame = pd.read_csv(path)
        probability = pipeline.predict_proba(frame)[:, 1]
        pd.DataFrame({"Loan_ID": frame["Loan_ID"], "Loan_Status": np.where(probability >= 0.5, "Y", "N"),
                      "Approval_Probability": probability}).to_csv(out, index=False, float_format="%.4f")
        return len(frame)

    return run


def core(without_drift: bool = False):
    """The core in process: read, score, write CSV. `without_drift` drops the card's training
    distribution, so the difference between the two is what drift checks cost."""
    import dataclasses

    from webapp.core.scoring import score
    from webapp.core.writing import write_csv
    from webapp.model.loading import load_model

    model = load_model(MODEL)
    if without_drift:
        model = dataclasses.replace(model, card={k: v for k, v in model.card.items() if k != "training_distribution"})

    def run(path: Path, out: Path) -> int:
        with open(path, "rb") as source, open(out, "wb") as sink:
            scoring = score(source, model)
            write_csv(scoring, sink)
        return scoring.summary.rows

    return run


def openpyxl_read():
    import pandas as pd

    return lambda path, out: len(pd.read_excel(path, engine="openpyxl"))


def calamine_read():
    from webapp.core.reading import open_table

    def run(path: Path, out: Path) -> int:
        with open(path, "rb") as source:
            return sum(len(chunk) for chunk in open_table(source).chunks())

    return run


WORKLOADS = {"floor": floor, "core": core, "core_without_drift": lambda: core(without_drift=True), "openpyxl_read": openpyxl_read,
             "calamine_read": calamine_read}

if __name__ == "__main__":
    name, source = sys.argv[1], Path(sys.argv[2])
    out = Path(sys.argv[3]) if len(sys.argv) > 3 else Path("/dev/null")
    run = WORKLOADS[name]()
    started = time.perf_counter()
    rows = run(source, out)
    seconds = time.perf_counter() - started
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({"workload": name, "rows": rows, "seconds": round(seconds, 3), "peak_rss_mb": round(peak, 1)}))
