"""The staff page: a company admin creates and changes their company's staff."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import User
from django.urls import reverse

from linli import testing as t
from linli.core.models import AuditEvent
from linli.staff.models import Role, StaffMember
from linli.staff.roles import group_name

LIST = reverse("admin:staff_staffmember_changelist")
ADD = reverse("admin:staff_staffmember_add")
NEW_PASSWORD = "Qiu-shui-2026!"


def change_url(member: StaffMember) -> str:
    return reverse("admin:staff_staffmember_change", args=[member.pk])


@pytest.fixture
def company_admin(client, estate):
    user = t.make_staff(estate["company_a"], Role.COMPANY_ADMIN)
    client.force_login(user)
    return user


def add_data(estate, **overrides) -> dict:
    data = {
        "username": "cashier.li",
        "password": NEW_PASSWORD,
        "display_name": "李收费",
        "mobile": "138 1234 5678",
        "role": Role.CASHIER,
        "communities": [estate["a1"].pk],
    }
    data.update(overrides)
    return data


def change_data(member: StaffMember, **overrides) -> dict:
    data = {
        "display_name": member.display_name,
        "mobile": member.mobile,
        "role": member.role,
        "communities": [c.pk for c in member.communities.all()],
        "is_active": "on",
        "new_password": "",
    }
    data.update(overrides)
    return {k: v for k, v in data.items() if v is not None}


def groups(user: User) -> set[str]:
    return set(user.groups.values_list("name", flat=True))


def test_company_admin_creates_a_staff_member_who_can_then_log_in(client, estate, company_admin):
    response = client.post(ADD, add_data(estate))
    assert response.status_code == 302, response.context["adminform"].form.errors
    member = StaffMember.objects.get(user__username="cashier.li")
    assert (member.company, member.role, member.display_name, member.mobile) == (
        estate["company_a"], Role.CASHIER, "李收费", "13812345678"
    )
    assert list(member.communities.all()) == [estate["a1"]]
    assert groups(member.user) == {group_name(Role.CASHIER)}
    assert member.user.is_staff and not member.user.is_superuser
    event = AuditEvent.objects.get(action=AuditEvent.Action.CREATE, object_id=str(member.pk))
    assert event.actor == company_admin
    assert event.changes["role"] == [None, Role.CASHIER]
    assert NEW_PASSWORD not in str(event.changes)

    client.logout()
    assert client.login(username="cashier.li", password=NEW_PASSWORD)
    units = client.get(reverse("admin:estate_unit_changelist")).context["cl"].result_list
    assert {u.community_id for u in units} == {estate["a1"].pk}


def test_add_form_has_login_name_and_password_and_no_raw_user_field(client, estate, company_admin):
    form = client.get(ADD).context["adminform"].form
    assert {"username", "password", "display_name", "mobile", "role", "communities"} <= set(
        form.fields
    )
    assert "user" not in form.fields and "company" not in form.fields
    offered = {c.pk for c in form.fields["communities"].queryset}
    assert offered == {estate["a1"].pk, estate["a2"].pk}


def test_another_companys_community_cannot_be_assigned(client, estate, company_admin):
    response = client.post(ADD, add_data(estate, communities=[estate["a1"].pk, estate["b1"].pk]))
    assert response.status_code == 200
    assert "communities" in response.context["adminform"].form.errors
    assert not User.objects.filter(username="cashier.li").exists()


@pytest.mark.parametrize(
    "overrides,field",
    [
        ({"communities": []}, "communities"),
        ({"password": "123"}, "password"),
        ({"username": "has space"}, "username"),
        ({"mobile": "12345"}, "mobile"),
        ({"role": "root"}, "role"),
    ],
)
def test_add_form_refuses_bad_input(client, estate, company_admin, overrides, field):
    response = client.post(ADD, add_data(estate, **overrides))
    assert response.status_code == 200
    assert field in response.context["adminform"].form.errors
    assert not StaffMember.objects.filter(display_name="李收费").exists()


def test_login_names_are_unique_ignoring_case(client, estate, company_admin):
    t.make_staff(estate["company_b"], Role.CASHIER, [estate["b1"]], username="Cashier.Li")
    response = client.post(ADD, add_data(estate))
    assert "username" in response.context["adminform"].form.errors


def test_company_admin_needs_no_communities(client, estate, company_admin):
    response = client.post(ADD, add_data(estate, role=Role.COMPANY_ADMIN, communities=[]))
    assert response.status_code == 302
    member = StaffMember.objects.get(user__username="cashier.li")
    assert groups(member.user) == {group_name(Role.COMPANY_ADMIN)}


def test_changing_role_and_communities_resyncs_group_and_scope(client, estate, company_admin):
    member = t.make_staff(estate["company_a"], Role.CASHIER, [estate["a1"]]).staff
    response = client.post(
        change_url(member), change_data(member, role=Role.FINANCE, communities=[estate["a2"].pk])
    )
    assert response.status_code == 302, response.context["adminform"].form.errors
    member.refresh_from_db()
    assert member.role == Role.FINANCE
    assert list(member.communities.all()) == [estate["a2"]]
    assert groups(member.user) == {group_name(Role.FINANCE)}
    event = AuditEvent.objects.get(action=AuditEvent.Action.CHANGE, object_id=str(member.pk))
    assert event.actor == company_admin
    assert event.changes["role"] == [Role.CASHIER, Role.FINANCE]
    assert event.changes["communities"] == [[estate["a1"].name], [estate["a2"].name]]

    client.force_login(member.user)
    units = client.get(reverse("admin:estate_unit_changelist")).context["cl"].result_list
    assert {u.community_id for u in units} == {estate["a2"].pk}


def test_deactivating_and_resetting_a_password(client, estate, company_admin):
    member = t.make_staff(estate["company_a"], Role.CASHIER, [estate["a1"]]).staff
    response = client.post(change_url(member), change_data(member, new_password=NEW_PASSWORD))
    assert response.status_code == 302
    member.user.refresh_from_db()
    assert member.user.check_password(NEW_PASSWORD)

    response = client.post(change_url(member), change_data(member, is_active=None))
    assert response.status_code == 302
    member.user.refresh_from_db()
    assert not member.user.is_active
    client.logout()
    assert not client.login(username=member.user.username, password=NEW_PASSWORD)
    changes = [e.changes for e in AuditEvent.objects.filter(action="change").order_by("id")]
    assert changes[0] == {"password": ["", "••••"]}
    assert changes[1] == {"is_active": [True, False]}


def test_company_admin_cannot_demote_or_deactivate_themselves(client, estate, company_admin):
    me = company_admin.staff
    response = client.post(
        change_url(me), change_data(me, role=Role.CASHIER, communities=[estate["a1"].pk])
    )
    assert "role" in response.context["adminform"].form.errors
    response = client.post(change_url(me), change_data(me, is_active=None))
    assert "is_active" in response.context["adminform"].form.errors
    company_admin.refresh_from_db()
    assert company_admin.is_active and groups(company_admin) == {group_name(Role.COMPANY_ADMIN)}


def test_company_admin_never_sees_another_companys_staff(client, estate, company_admin):
    foreign = t.make_staff(estate["company_b"], Role.MANAGER, [estate["b1"]]).staff
    colleague = t.make_staff(estate["company_a"], Role.MANAGER, [estate["a2"]]).staff
    shown = {m.pk for m in client.get(LIST).context["cl"].result_list}
    assert colleague.pk in shown and foreign.pk not in shown
    assert client.get(change_url(foreign)).status_code == 404
    response = client.post(change_url(foreign), change_data(foreign, role=Role.CASHIER))
    assert response.status_code == 404
    foreign.refresh_from_db()
    assert foreign.role == Role.MANAGER


def test_staff_are_deactivated_not_deleted(client, estate, company_admin):
    member = t.make_staff(estate["company_a"], Role.CASHIER, [estate["a1"]]).staff
    url = reverse("admin:staff_staffmember_delete", args=[member.pk])
    assert client.post(url, {"post": "yes"}).status_code == 403
    assert StaffMember.objects.filter(pk=member.pk).exists()


@pytest.mark.parametrize("role", [Role.MANAGER, Role.CASHIER, Role.FINANCE, Role.SERVICE])
def test_other_roles_cannot_reach_the_staff_page(client, estate, role):
    user = t.make_staff(estate["company_a"], role, [estate["a1"]])
    client.force_login(user)
    assert client.get(LIST).status_code == 403
    assert client.get(ADD).status_code == 403
    assert client.post(ADD, add_data(estate)).status_code == 403
    assert client.get(change_url(user.staff)).status_code == 403  # not even their own
    assert not User.objects.filter(username="cashier.li").exists()


def test_superuser_creates_staff_for_any_company(client, estate):
    client.force_login(User.objects.create_superuser("root", "", t.PASSWORD))
    form = client.get(ADD).context["adminform"].form
    assert "company" in form.fields
    mismatch = add_data(estate, company=estate["company_a"].pk, communities=[estate["b1"].pk])
    assert "communities" in client.post(ADD, mismatch).context["adminform"].form.errors
    response = client.post(
        ADD, add_data(estate, company=estate["company_b"].pk, communities=[estate["b1"].pk])
    )
    assert response.status_code == 302
    assert StaffMember.objects.get(user__username="cashier.li").company == estate["company_b"]


def test_communities_column_uses_a_translated_label():
    from linli.staff.admin import StaffMemberAdmin

    description = StaffMemberAdmin.communities_list.short_description
    assert type(description).__name__ == "__proxy__"  # gettext_lazy, not a plain str
