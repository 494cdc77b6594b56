"""Identity caches: made once per object (or objects), never for a long one, never mixed up."""
from webapp.utils.caching import MAX_OBJECTS, per_object


def counting(**options):
    calls = []

    @per_object(**options)
    def made(obj, *more):
        calls.append((obj, *more))
        return [len(obj), *more]
    return made, calls


def test_a_value_is_made_once_per_object_not_per_equal_object():
    made, calls = counting()
    first, equal = ("a", "b"), tuple(["a", "b"])
    assert made(first) is made(first)
    made(equal)
    assert len(calls) == 2  # equal but not the same object: made again


def test_every_argument_counts_by_identity():
    made, calls = counting()
    key, one, other = ("k",), ("x",), tuple(["x"])  # equal, but two objects
    assert made(key, one) is made(key, one)
    assert made(key, other) == [1, other] and len(calls) == 2


def test_an_object_longer_than_at_most_is_never_kept():
    made, calls = counting(at_most=2)
    long = ("a", "b", "c")
    made(long), made(long)
    short = ("a",)
    made(short), made(short)
    assert calls == [(long,), (long,), (short,)]


def test_the_cache_starts_afresh_past_its_size():
    made, calls = counting()
    kept = [(i,) for i in range(MAX_OBJECTS + 1)]
    for obj in kept:
        made(obj)
    made(kept[0])
    assert len(calls) == MAX_OBJECTS + 2
