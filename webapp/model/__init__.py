"""The model: the pipeline's shape and its custom transformers, training, loading an artifact with
its card, the numpy fast path and the explanations of each score.

May import: the standard library, numpy, pandas, scipy, scikit-learn, joblib, `webapp.core` (the
input contract and errors), `webapp.stats` and `webapp.utils`. Never Flask, the web layer or the engines. Pickled
artifacts refer to `webapp.model.transformers`: moving it means retraining.
"""
