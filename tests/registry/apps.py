"""The app on a given database with the registry's store in tmp_path and test roles."""
from __future__ import annotations

from tests.conftest import BufferedClient
from webapp import create_app

ROLES = {"ada@bank.example": "model_admin", "bo@bank.example": "model_admin", "root@bank.example": "admin",
         "clerk@bank.example": "analyst"}


def registry_app(model_path, tmp_path, database_url):
    uploads = tmp_path / "uploads"
    uploads.mkdir(exist_ok=True)
    app = create_app({"TESTING": True, "SECRET_KEY": "test", "MODEL_PATH": str(model_path),
                      "UPLOAD_FOLDER": str(uploads), "DATABASE_URL": database_url,
                      "MODEL_STORE": str(tmp_path / "store")})
    app.extensions["role_of"] = ROLES.get  # what the accounts package will supply
    app.test_client_class = BufferedClient
    return app
