"""The package layout is the architecture: each subpackage imports only what its docstring allows.

The rules below restate the "May import" lines of each subpackage's `__init__.py`; the test walks
every module's imports (those under `if TYPE_CHECKING:` are annotations, not dependencies).
"""
import ast
from pathlib import Path

import pytest

import webapp

PACKAGE = Path(webapp.__file__).parent
WEB_FRAMEWORK = {"flask", "flask_wtf", "wtforms", "werkzeug", "jinja2", "markupsafe", "gunicorn", "prometheus_client"}

DATABASE = {"sqlalchemy", "alembic", "psycopg"}
QUEUE = {"huey", "redis"}

# subpackage -> (parts of webapp it may import, third-party roots it must not import). The layers, from
# the bottom: helpers that know nothing of loans (utils, which every layer may use); statistics; the
# core and the model; storage and the database; the capabilities built on the database (records,
# accounts, registry, notices); the scoring service (the one door); the engines and the jobs that call
# it; the web layer on top, which reaches data only through those packages.
RULES = {
    "utils": ({"utils"}, {"numpy", "pandas", "pyarrow", "sklearn"} | WEB_FRAMEWORK | DATABASE | QUEUE),
    "stats": ({"utils", "stats"}, WEB_FRAMEWORK | DATABASE | QUEUE | {"dask", "distributed"}),
    "core": ({"utils", "core", "stats"},
             WEB_FRAMEWORK | DATABASE | QUEUE | {"sklearn", "joblib", "dask", "distributed"}),
    "model": ({"utils", "model", "core", "stats"}, WEB_FRAMEWORK | DATABASE | QUEUE | {"dask", "distributed"}),
    "storage": ({"utils", "storage"}, WEB_FRAMEWORK | DATABASE | QUEUE),
    "db": ({"utils", "db"}, WEB_FRAMEWORK | QUEUE),
    "records": ({"utils", "records", "db", "core", "stats", "storage"}, WEB_FRAMEWORK | QUEUE),
    "accounts": ({"utils", "accounts", "db"}, WEB_FRAMEWORK | QUEUE),
    "registry": ({"utils", "registry", "db", "model", "core", "stats", "storage"}, WEB_FRAMEWORK | QUEUE),
    "notices": ({"utils", "notices", "records", "db", "core"}, (WEB_FRAMEWORK - {"jinja2", "markupsafe"}) | QUEUE),
    "service": ({"utils", "service", "core", "model", "stats", "storage", "records", "registry", "db"},
                WEB_FRAMEWORK | QUEUE | {"dask", "distributed"}),
    "engines": ({"utils", "engines", "service", "core", "model", "stats", "storage"},
                WEB_FRAMEWORK | DATABASE | QUEUE),
    "jobs": ({"utils", "jobs", "service", "engines", "records", "accounts", "registry", "storage", "db", "core",
              "model", "stats"}, WEB_FRAMEWORK),
    # The web layer never builds queries: no SQLAlchemy, no `webapp.db`.
    "web": ({"utils", "web", "core", "model", "stats", "config", "service", "storage", "records", "accounts",
             "registry", "notices", "jobs"}, DATABASE | {"dask", "distributed"}),
}
TOP_LEVEL_MODULES = {"__init__.py", "config.py", "cli.py"}


def imports_of(path: Path) -> set[str]:
    """Absolute module names imported by `path`, outside `if TYPE_CHECKING:` blocks."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    skipped = {id(node) for block in ast.walk(tree) if isinstance(block, ast.If)
               and getattr(block.test, "id", getattr(block.test, "attr", "")) == "TYPE_CHECKING"
               for node in ast.walk(block)}
    names = set()
    for node in ast.walk(tree):
        if id(node) in skipped:
            continue
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module)
            if node.module == "webapp":  # `from webapp import cli` imports webapp.cli
                names.update(f"webapp.{alias.name}" for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level:
            pytest.fail(f"{path}: relative import; write imports absolutely so this test can read them")
    return names


def modules_of(subpackage: str) -> list[Path]:
    return sorted((PACKAGE / subpackage).rglob("*.py"))


@pytest.mark.parametrize("subpackage", [name for name in RULES if (PACKAGE / name).is_dir()])
def test_each_subpackage_imports_only_what_it_may(subpackage):
    allowed_parts, forbidden_roots = RULES[subpackage]
    broken = []
    for path in modules_of(subpackage):
        for name in imports_of(path):
            root, _, rest = name.partition(".")
            part = rest.split(".")[0]
            if root == "webapp" and part not in allowed_parts:
                broken.append(f"{path.relative_to(PACKAGE)} imports {name}")
            elif root in forbidden_roots:
                broken.append(f"{path.relative_to(PACKAGE)} imports {name}")
    assert broken == []


@pytest.mark.parametrize("subpackage", [name for name in RULES if (PACKAGE / name).is_dir()])
def test_each_subpackage_says_what_lives_there_and_what_it_may_import(subpackage):
    docstring = ast.get_docstring(ast.parse((PACKAGE / subpackage / "__init__.py").read_text(encoding="utf-8")))
    assert docstring and "May import:" in docstring


def test_only_the_factory_its_config_and_the_cli_stay_at_the_top():
    assert {p.name for p in PACKAGE.glob("*.py")} == TOP_LEVEL_MODULES
    assert {p.name for p in PACKAGE.iterdir() if p.is_dir() and p.name != "__pycache__"} <= set(RULES)


def test_every_module_opens_with_a_docstring_saying_what_it_is():
    missing = [str(p.relative_to(PACKAGE)) for p in PACKAGE.rglob("*.py")
               if not ast.get_docstring(ast.parse(p.read_text(encoding="utf-8")))]
    assert missing == []
