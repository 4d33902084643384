import pytest


@pytest.fixture
def estate(db):
    """Two companies; company A has communities A1 and A2, company B has B1.
    Each community has a unit with an owner and a parking space."""
    from linli import testing as t

    company_a, company_b = t.make_company("甲物业"), t.make_company("乙物业")
    a1, a2 = t.make_community(company_a, "翠湖"), t.make_community(company_a, "锦绣")
    b1 = t.make_community(company_b, "外司")
    data = {"company_a": company_a, "company_b": company_b, "a1": a1, "a2": a2, "b1": b1}
    for key, community in (("a1", a1), ("a2", a2), ("b1", b1)):
        unit = t.make_unit(community)
        person = t.make_person(community)
        data[f"{key}_unit"] = unit
        data[f"{key}_person"] = person
        data[f"{key}_occupancy"] = t.make_occupancy(unit, person)
        data[f"{key}_parking"] = t.make_parking(community, unit)
        data[f"{key}_building"] = unit.building
    return data


def pytest_configure(config):
    """The tests pay through the sandbox channel, which production refuses."""
    from django.conf import settings

    settings.LINLI_SANDBOX_PAYMENTS = True


def pytest_sessionstart(session):
    """Under CI's PostgreSQL run (LINLI_REQUIRE_SERVICES=1) a missing service is a
    failure, never a silent fallback to SQLite or a skipped test."""
    import os

    if not os.environ.get("LINLI_REQUIRE_SERVICES"):
        return
    from django.conf import settings

    engine = settings.DATABASES["default"]["ENGINE"]
    if "postgresql" not in engine:
        pytest.exit(f"LINLI_REQUIRE_SERVICES: database is {engine}, not PostgreSQL", returncode=3)
    if "Redis" not in settings.HUEY["huey_class"]:
        pytest.exit("LINLI_REQUIRE_SERVICES: job store is not Redis", returncode=3)
    from huey.contrib.djhuey import HUEY

    try:
        HUEY.storage.conn.ping()
    except Exception as exc:  # noqa: BLE001
        pytest.exit(f"LINLI_REQUIRE_SERVICES: Redis unreachable: {exc}", returncode=3)


def pytest_collection_modifyitems(config, items):
    """`@pytest.mark.postgres` tests skip on SQLite, except under LINLI_REQUIRE_SERVICES
    where SQLite is already refused above."""
    from django.conf import settings

    if "postgresql" in settings.DATABASES["default"]["ENGINE"]:
        return
    skip = pytest.mark.skip(reason="needs PostgreSQL (set DATABASE_URL)")
    for item in items:
        if "postgres" in item.keywords:
            item.add_marker(skip)
