"""The docs are kept true by test (as datasette's tests/test_docs.py): every route and query
parameter is in /openapi.json, every environment variable in the settings table, and the README's
configuration table is the one the settings table generates (defaults and all)."""
import re
from pathlib import Path

import pytest

import webapp
from webapp import config
from webapp.config import PROJECT_ROOT

WEB = Path(webapp.__file__).parent / "web"
CONFIG_SOURCES = [*sorted(Path(webapp.__file__).parent.rglob("*.py")), PROJECT_ROOT / "gunicorn.conf.py"]


def openapi_path(rule: str) -> str:
    """/results/<token>/predictions.<fmt> -> /results/{token}/predictions.{fmt}"""
    return re.sub(r"<(?:\w+:)?(\w+)>", r"{\1}", rule)


def test_every_route_and_method_is_in_the_openapi_document(app, client):
    spec = client.get("/openapi.json").json
    missing = []
    for rule in app.url_map.iter_rules():
        if rule.endpoint == "static":
            continue
        operations = spec["paths"].get(openapi_path(rule.rule), {})
        missing += [f"{method} {rule.rule}" for method in sorted(rule.methods - {"HEAD", "OPTIONS"})
                    if method.lower() not in operations]
    assert missing == []


def query_parameters_read_by(module: Path) -> set[str]:
    source = module.read_text(encoding="utf-8")
    return set(re.findall(r'request\.args\.get\("(\w+)"', source)) | set(re.findall(r'_flag\("(\w+)"\)', source))


@pytest.mark.parametrize("module", sorted(WEB.glob("*.py")), ids=lambda p: p.name)
def test_every_query_parameter_is_documented(client, module):
    spec = client.get("/openapi.json").json
    documented = {p["name"] for methods in spec["paths"].values() for operation in methods.values()
                  for p in operation.get("parameters", []) if p["in"] == "query"}
    assert query_parameters_read_by(module) - documented == set()


def environment_variables() -> set[str]:
    """The variables read by name anywhere outside the settings table (which reads them all)."""
    found = set()
    for path in CONFIG_SOURCES:
        source = path.read_text(encoding="utf-8")
        found |= set(re.findall(r'(?:environ(?:\.get\(|\[)|getenv\()"([A-Z_]+)"', source))
    return found


def readme_configuration_table() -> str:
    readme = (PROJECT_ROOT / "README.md").read_text(encoding="utf-8")
    section = readme[readme.index("## Configuration"):]
    section = section[:section.index("\n## ", 3)]
    return "".join(line + "\n" for line in section.splitlines() if line.startswith("|"))


def test_every_environment_variable_read_by_name_is_in_the_settings_table():
    variables = environment_variables()
    assert {"PROMETHEUS_MULTIPROC_DIR", "DASK_SCHEDULER_ADDRESS"} <= variables  # the scan finds them
    assert variables - set(config.BY_NAME) == set()


def test_the_readme_configuration_table_is_the_generated_one():
    """Regenerate it with `python -m webapp.config --markdown`."""
    assert readme_configuration_table() == config.markdown()


def test_every_environment_variable_is_in_the_readme_configuration_table():
    table = readme_configuration_table()
    variables = environment_variables() | set(config.BY_NAME)
    assert {"MAX_ROWS", "SECRET_KEY", "BIND"} <= variables  # the scan finds them
    assert {name for name in variables if f"`{name}`" not in table} == set()
