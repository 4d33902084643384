import pytest

from linli import testing as t
from linli.staff.models import Role

PAGES = ["community", "building", "unit", "parkingspace", "person", "occupancy"]


@pytest.mark.parametrize("model", PAGES)
def test_manager_list_pages_render_in_chinese(client, estate, model):
    user = t.make_staff(estate["company_a"], Role.MANAGER, [estate["a1"]])
    client.force_login(user)
    response = client.get(f"/console/estate/{model}/")
    assert response.status_code == 200
    assert 'lang="zh-hans"' in response.content.decode()
