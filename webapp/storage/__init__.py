"""Result storage: scored answers kept for the results page and for jobs, behind one small
interface (`ResultStore`), on a local folder (the default: owner-only files) or any fsspec URL
(`RESULTS_URL`, e.g. `s3://bucket/prefix`; `memory://` in tests), so that several servers can serve
each other's results.

May import: the standard library and fsspec. Nothing else of `webapp`: callers hand in bytes and
plain dicts. Faults of the backend (full disk, read-only folder, a path that is a file) surface as
`StorageFault`, which the layers above answer with a 503 naming the problem.
"""
from webapp.storage.results import (ResultExpired, ResultNotFound, ResultStore, StorageFault, StoredResult, modified_at,
                                    open_store)

__all__ = ["ResultExpired", "ResultNotFound", "ResultStore", "StorageFault", "StoredResult", "modified_at",
           "open_store"]
