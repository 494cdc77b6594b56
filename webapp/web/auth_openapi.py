"""The accounts routes' part of the OpenAPI document: sign-in pages, the account page, the
first-start setup link, single sign-on and the events API."""
from __future__ import annotations

HTML = {"text/html": {"schema": {"type": "string"}}}
NEXT = {"name": "next", "in": "query", "required": False, "schema": {"type": "string"},
        "description": "A path on this site to return to after signing in"}
PROBLEM = {"$ref": "#/components/responses/Problem"}


def _page(operation: str, summary: str, statuses: dict, parameters=(), form: dict | None = None) -> dict:
    spec = {"operationId": operation, "summary": summary, "tags": ["pages"], "parameters": list(parameters),
            "responses": {str(code): {"description": text, "content": HTML} for code, text in statuses.items()}}
    if form is not None:
        properties = {name: {"type": "string"} for name in (*form, "csrf_token")}
        spec["requestBody"] = {"content": {"application/x-www-form-urlencoded": {
            "schema": {"type": "object", "properties": properties}}}}
    return spec


def paths() -> dict:
    token = {"name": "token", "in": "query", "required": True, "schema": {"type": "string"},
             "description": "The one-time token printed at first start"}
    key_id = {"name": "key_id", "in": "path", "required": True, "schema": {"type": "integer"}}
    event = {"type": "object", "properties": {k: {"type": "string"} for k in ("at", "actor", "action", "detail",
                                                                               "client")} | {"id": {"type": "integer"}}}
    return {
        "/login": {"get": _page("login_page", "The sign-in form", {200: "The form"}, [NEXT]),
                   "post": _page("login", "Sign in (email, password, CSRF token)",
                                 {303: "Signed in: to `next`", 200: "Wrong email or password", 400: "Form error",
                                  429: "Too many failed sign-ins (the 6th in 15 minutes)"}, [NEXT],
                                 form=("email", "password"))},
        "/logout": {"post": _page("logout", "Sign out", {303: "To the sign-in page"}, form=())},
        "/account": {"get": _page("account_page", "Your account: API keys and password", {200: "The page"})},
        "/account/password": {"post": _page("change_password", "Change your password",
                                            {303: "Changed", 400: "Form error"}, form=("current", "new", "confirm"))},
        "/account/keys": {"post": _page("create_key", "Create an API key (shown once)", {200: "The new key"},
                                        form=("name",))},
        "/account/keys/{key_id}/revoke": {"post": _page("revoke_key", "Revoke one of your keys",
                                                        {303: "Revoked", 404: "No such key of yours"}, [key_id],
                                                        form=())},
        "/setup": {"get": _page("setup_page", "First start: create the first admin", {200: "The form",
                                                                                      404: "Not a valid link"}, [token]),
                   "post": _page("setup", "Create the first admin", {303: "Created and signed in", 400: "Form error",
                                                                    404: "Not a valid link"}, [token],
                                 form=("email", "password"))},
        "/login/sso": {"get": _page("sso_login", "Sign in with the company's OpenID provider",
                                    {302: "To the provider", 404: "SSO not configured"}, [NEXT])},
        "/login/sso/callback": {"get": _page("sso_callback", "Where the OpenID provider returns",
                                             {303: "Signed in", 403: "Refused"})},
        "/api/v1/events": {"get": {
            "operationId": "events", "summary": "The events log, newest first (admins and auditors)",
            "security": [{"bearer": []}],
            "responses": {"200": {"description": "Events", "content": {"application/json": {"schema": {
                "type": "object", "properties": {"events": {"type": "array", "items": event}}}}}},
                "401": PROBLEM, "403": PROBLEM}}},
    }
