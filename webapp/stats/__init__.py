"""Statistics of a scored batch: approval parity across monitored groups (fairness), and — as they
arrive — evaluation against known outcomes and drift from the training data. Each is an accumulator
fed chunk by chunk and merged exactly across chunks or partitions, then reported as plain dicts.

May import: the standard library, numpy, pandas and scikit-learn's metrics, and `webapp.utils`.
Nothing else of `webapp` (callers hand in plain arrays and names), never Flask.
"""
