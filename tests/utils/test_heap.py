"""The start-up heap frozen out of the collector's way (webapp/utils/heap.py)."""
import gc

from webapp.utils.heap import freeze_startup_heap


def test_freezing_moves_the_living_objects_out_of_the_collectors_generations():
    kept = [[] for _ in range(100)]
    try:
        frozen = freeze_startup_heap()
        assert frozen == gc.get_freeze_count() >= len(kept)
        assert all(not gc.is_finalized(o) for o in kept)
        assert not any(o is kept for o in gc.get_objects())  # the collector no longer walks them
    finally:
        gc.unfreeze()  # the test session's own objects go back to the collector


def test_objects_made_after_the_freeze_are_still_collected():
    try:
        freeze_startup_heap()
        cycle = []
        cycle.append(cycle)
        del cycle
        assert gc.collect() >= 1
    finally:
        gc.unfreeze()
