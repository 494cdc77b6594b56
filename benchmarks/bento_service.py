"""The same artifact served the way a BentoML 1.4 user would write it, for benchmarks/peers.py.

Runs only in benchmarks/.venv-bentoml (bentoml is never a dependency of the service):

    PYTHONPATH=. benchmarks/.venv-bentoml/bin/bentoml serve benchmarks.bento_service:LoanScoring

The artifact unpickles `webapp.model.transformers`, hence the repository on PYTHONPATH. Two APIs:
`POST /predict` takes `{"df": [{column: value, …}]}` (a DataFrame, orient=records) and `POST
/predict_csv` a multipart `file`; both answer the approval probabilities as a JSON list.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated

import bentoml
import joblib
import numpy as np
import pandas as pd
from bentoml.validators import DataframeSchema

MODEL = Path(os.environ.get("MODEL_PATH") or Path(__file__).resolve().parent.parent / "models" / "loan_pipeline.joblib")


@bentoml.service(workers=2, traffic={"timeout": 900})
class LoanScoring:
    def __init__(self) -> None:
        self.model = joblib.load(MODEL)

    @bentoml.api
    def predict(self, df: Annotated[pd.DataFrame, DataframeSchema(orient="records")]) -> np.ndarray:
        return self.model.predict_proba(df)[:, 1]

    @bentoml.api
    def predict_csv(self, file: Path) -> np.ndarray:
        return self.model.predict_proba(pd.read_csv(file))[:, 1]
