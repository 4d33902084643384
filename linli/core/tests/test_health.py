"""/healthz answers 200 only when the database and the job store really answer.

The failure cases point the view at a real store that cannot be reached (nothing
listens on port 1; a database file in a folder that does not exist), not at a mock."""

import huey
import pytest
from django.db import connection
from django.db.utils import ConnectionHandler

from linli.core import views


@pytest.mark.django_db
def test_healthz_ok(client):
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"ok": True, "database": True, "jobs": True}
    assert "no-cache" in response["Cache-Control"]


@pytest.mark.django_db
def test_healthz_503_when_job_store_unreachable(client, monkeypatch):
    unreachable = huey.RedisHuey("linli", url="redis://127.0.0.1:1/0")
    monkeypatch.setattr(views, "HUEY", unreachable)
    response = client.get("/healthz")
    assert response.status_code == 503
    assert response.json() == {"ok": False, "database": True, "jobs": False}


@pytest.fixture
def unreachable_database(tmp_path):
    """A connection configured like the real one but aimed at nothing."""
    settings = dict(connection.settings_dict)
    if connection.vendor == "sqlite":
        settings["NAME"] = str(tmp_path / "no-such-folder" / "linli.sqlite3")
    else:
        settings.update(HOST="127.0.0.1", PORT="1")
    handler = ConnectionHandler({"default": settings})
    yield handler["default"]
    handler.close_all()


@pytest.mark.django_db
def test_healthz_503_when_database_unreachable(client, monkeypatch, unreachable_database):
    monkeypatch.setattr(views, "connection", unreachable_database)
    response = client.get("/healthz")
    assert response.status_code == 503
    assert response.json() == {"ok": False, "database": False, "jobs": True}


def test_healthz_answers_only_safe_methods(client):
    assert client.post("/healthz").status_code == 405
