import pytest


@pytest.mark.django_db
def test_healthz_ok(client):
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"ok": True, "database": True, "jobs": True}


@pytest.mark.django_db
def test_healthz_503_when_job_store_unreachable(client, monkeypatch):
    from linli.core import views

    def broken():
        raise ConnectionError("job store down")

    monkeypatch.setattr(views.HUEY, "pending_count", broken)
    response = client.get("/healthz")
    assert response.status_code == 503
    assert response.json()["jobs"] is False
