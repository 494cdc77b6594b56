"""Caches keyed by an object's identity, for objects made once and kept (schemas, dtypes' categories)
whose hash costs more than the work cached: a pyarrow schema's hash is 17 us."""
from __future__ import annotations

import functools

MAX_OBJECTS = 64  # a process sees a handful of layouts; a cache past this starts afresh


def per_object(make=None, *, at_most: int | None = None):
    """`make(obj, *more)` cached by the identity of its arguments, holding them so no id is reused.
    `at_most`: a first argument longer than this is never kept (a cache must not hold a hostile
    file's values: a few categories are kept, an input's IDs are not). Use as `@per_object` or
    `@per_object(at_most=N)`."""
    if make is None:
        return functools.partial(per_object, at_most=at_most)
    made: dict = {}

    @functools.wraps(make)
    def cached(obj, *more):
        if at_most is not None and len(obj) > at_most:
            return make(obj, *more)
        key = (id(obj), *map(id, more)) if more else id(obj)
        known = made.get(key)
        if known is not None and known[0] is obj and (not more or all(a is b for a, b in zip(known[1], more))):
            return known[2]
        if len(made) >= MAX_OBJECTS:
            made.clear()
        value = make(obj, *more)
        made[key] = (obj, more, value)
        return value
    return cached
