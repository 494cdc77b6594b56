"""gunicorn settings for `make run`; every value can be overridden from the environment."""
import os

bind = os.environ.get("BIND", "127.0.0.1:8000")
# Scoring is CPU-bound (pandas + scikit-learn): one worker per core, a few threads each so that a
# large upload being received does not block quick requests.
workers = int(os.environ.get("WEB_CONCURRENCY", os.cpu_count() or 2))
worker_class = "gthread"
threads = int(os.environ.get("GUNICORN_THREADS", 4))
# A 100 MB file takes tens of seconds end to end; the per-request time budget is enforced by the app.
timeout = int(os.environ.get("GUNICORN_TIMEOUT", 300))
graceful_timeout = 30
keepalive = 5
# Recycle workers now and then, staggered, to bound memory growth from fragmentation.
max_requests = 500
max_requests_jitter = 50
# Load the app (and the model) once in the master; workers share it copy-on-write.
preload_app = True
accesslog = "-"
errorlog = "-"
loglevel = os.environ.get("LOG_LEVEL", "info")
