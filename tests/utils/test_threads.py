"""Work on a native thread beside the caller's: its value, or what it raised, when asked."""
import threading

import pytest

from webapp.utils.threads import Background, green


def test_background_work_runs_on_another_thread_and_gives_its_value():
    caller = threading.get_ident()
    work = Background(lambda a, b: (threading.get_ident(), a + b), 2, 3)
    ident, value = work.result()
    assert value == 5 and ident != caller


def test_what_background_work_raised_is_raised_when_its_result_is_asked_for():
    def fails():
        raise OSError(28, "No space left on device")

    with pytest.raises(OSError, match="No space left"):
        Background(fails).result()


def test_a_process_gevent_has_not_patched_is_not_green():
    assert green() is False


def test_under_gevent_background_work_runs_on_a_native_thread_of_the_hub():
    import subprocess
    import sys

    program = (
        "from gevent import monkey; monkey.patch_all()\n"
        "from gevent.monkey import get_original\n"
        "from webapp.utils.threads import Background, green\n"
        "native = get_original('threading', 'get_ident')\n"
        "caller = native()\n"
        "ident = Background(native).result()\n"
        "assert green() and ident != caller, (ident, caller)\n"
        "print('ok')\n")
    done = subprocess.run([sys.executable, "-c", program], capture_output=True, text=True, timeout=60)
    assert done.stdout.strip() == "ok", done.stderr
