"""Small helpers every layer may use, with no knowledge of loans, scoring or the web: identity
caches for objects made once and kept (`caching`); the start-up heap frozen out of the garbage
collector's way (`heap`); work on a native thread, under gevent too (`threads`).

May import: the standard library only. Nothing else of `webapp`, and no third-party package
(`threads` asks gevent for its thread pool only in a process gevent has already patched).
"""
