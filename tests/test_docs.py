"""The docs are kept true by test (as datasette's tests/test_docs.py): every route and query
parameter is in /openapi.json, every environment variable in the README's configuration table."""
import re
from pathlib import Path

import pytest

import webapp
from webapp.config import PROJECT_ROOT

WEB = Path(webapp.__file__).parent / "web"
CONFIG_SOURCES = [PROJECT_ROOT / "webapp" / "config.py", PROJECT_ROOT / "gunicorn.conf.py"]


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
    found = set()
    for path in CONFIG_SOURCES:
        source = path.read_text(encoding="utf-8")
        found |= set(re.findall(r'(?:_int|_flag)\("([A-Z_]+)"', source))
        found |= set(re.findall(r'environ(?:\.get\(|\[)"([A-Z_]+)"', source))
    return found


def test_every_environment_variable_is_in_the_readme_configuration_table():
    readme = (PROJECT_ROOT / "README.md").read_text(encoding="utf-8")
    table = readme[readme.index("## Configuration"):]
    table = table[:table.index("\n## ", 3)]
    variables = environment_variables()
    assert {"MAX_ROWS", "SECRET_KEY", "BIND"} <= variables  # the scan finds them
    assert {name for name in variables if f"`{name}`" not in table} == set()
