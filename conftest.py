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
