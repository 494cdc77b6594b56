"""Caches keyed by an object's identity, for objects made once and kept (schemas, dtypes' categories)
whose hash costs more than the work cached: a pyarrow schema's hash is 17 us."""
from __future__ import annotations

import functools

MAX_OBJECTS = 64  # a process sees a handful of layouts; a cache past this starts afresh


def per_object(make):
    """`make(obj)` cached by the object's identity, holding the object so its id is not reused."""
    made: dict[int, tuple] = {}

    @functools.wraps(make)
    def cached(obj):
        known = made.get(id(obj))
        if known is not None and known[0] is obj:
            return known[1]
        if len(made) >= MAX_OBJECTS:
            made.clear()
        value = make(obj)
        made[id(obj)] = (obj, value)
        return value
    return cached
