"""The scoring core: the input contract, reading files, validating rows, scoring, writing results,
the batch entry point, limits and the input-error family.

May import: the standard library, numpy, pandas, pyarrow, python-calamine, openpyxl, defusedxml, and
`webapp.stats` and `webapp.utils`. Never Flask, the web layer (`webapp.web`), the model package (`webapp.model`: the
core scores with any object that has the members of `scoring.ScoringModel`) or the engines.
"""
