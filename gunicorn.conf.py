"""gunicorn settings for `make run`; the environment variables are declared in the settings table
(`webapp/config.py`), which checks them all before anything starts."""
import os
import shutil
import tempfile
from pathlib import Path

# Metrics: every worker writes its counts to files in this directory, and a scrape adds them up
# (prometheus-client's multiprocess mode). It must be set before the app, and prometheus-client
# with it, is imported; it is emptied at start (stale counts from an earlier run would add up) and
# removed at exit when it was made here.
_made_metrics_dir = not os.environ.get("PROMETHEUS_MULTIPROC_DIR")
_metrics_dir = Path(os.environ.get("PROMETHEUS_MULTIPROC_DIR") or tempfile.mkdtemp(prefix="loan-metrics-"))
_metrics_dir.mkdir(parents=True, exist_ok=True)
for _stale in _metrics_dir.glob("*.db"):
    _stale.unlink()
os.environ["PROMETHEUS_MULTIPROC_DIR"] = str(_metrics_dir)


# Imported after the metrics directory is set (see above).
from webapp.config import load_or_exit as _load_settings  # noqa: E402  (a name gunicorn ignores)

try:
    _settings = _load_settings()  # every setting, the app's too: one line on a bad value
except SystemExit:
    if _made_metrics_dir:
        shutil.rmtree(_metrics_dir, ignore_errors=True)
    raise

bind = _settings["BIND"]
# Scoring is CPU-bound (pandas + scikit-learn): one worker process per core. Each worker is a gevent
# event loop, so a client trickling its headers or an upload body (a slow VPN, or an attack) waits on
# a cheap greenlet instead of holding one of a few threads: with gthread, six such uploads made
# /healthz time out (tests/web/test_slow_clients.py holds eighty). A request being scored holds its
# worker's loop until it answers; the other worker takes new connections meanwhile. In production put
# a buffering proxy in front as well (README: "Behind a proxy").
workers = _settings["WEB_CONCURRENCY"] or os.cpu_count() or 2
worker_class = "gevent"
worker_connections = 1000
threads = _settings["GUNICORN_THREADS"]  # used only if GUNICORN_CMD_ARGS picks --worker-class gthread
# A 100 MB file takes tens of seconds end to end; the per-request time budget is enforced by the app.
timeout = _settings["GUNICORN_TIMEOUT"]
graceful_timeout = 30
keepalive = 5
# Recycle workers now and then, staggered, to bound memory growth from fragmentation.
max_requests = 500
max_requests_jitter = 50
# Load the app (and the model) once in the master; workers share it copy-on-write.
preload_app = True
accesslog = "-"
# The route rule the app put in the environ (`/results/<token>`), never the path or query (result
# links are capability URLs), the referrer or a Basic auth user (an API key sent that way).
access_log_format = ('%(h)s %(t)s "%(m)s %({webapp.route}e)s %(H)s" %(s)s %(b)s %(M)sms '
                     'request_id=%({x-request-id}o)s')
errorlog = "-"
loglevel = _settings["LOG_LEVEL"]


def pre_fork(server, worker):
    # In the master, the app (and the model) loaded: its objects frozen out of the collector's way,
    # in the workers' collections and their copy-on-write pages alike (webapp/utils/heap.py).
    from webapp.utils.heap import freeze_startup_heap

    freeze_startup_heap()


def child_exit(server, worker):
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(worker.pid)


def on_exit(server):
    if _made_metrics_dir:
        shutil.rmtree(_metrics_dir, ignore_errors=True)
