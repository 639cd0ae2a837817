"""Every page × every role: allowed (200) or refused (403); anonymous users go to the login page."""

import pytest

ROLES = ("officer", "credit_manager", "collector", "collections_manager", "product_admin")
ALL = set(ROLES)
PAGES = [
    # (name, url builder, roles allowed)
    ("review queue", lambda w: "/review/", {"officer", "credit_manager"}),
    ("application", lambda w: f"/applications/{w['application'].pk}/", {"officer", "credit_manager"}),
    ("countersign queue", lambda w: "/countersign/", {"credit_manager"}),
    ("disbursement queue", lambda w: "/disbursements/", {"credit_manager"}),
    ("loan page", lambda w: f"/loans/{w['active'].pk}/", ALL),
    ("portfolio", lambda w: "/portfolio/", {"credit_manager", "collections_manager"}),
    ("portfolio csv", lambda w: "/portfolio.csv", {"credit_manager", "collections_manager"}),
    ("worklist", lambda w: "/collections/worklist/", {"collector", "collections_manager"}),
    ("case", lambda w: f"/collections/cases/{w['case'].pk}/", {"collector", "collections_manager"}),
    ("team", lambda w: "/collections/team/", {"collections_manager"}),
    ("document download", lambda w: f"/documents/{w['document'].pk}/", {"officer", "credit_manager"}),
    ("product admin", lambda w: "/admin/loans/loanproduct/", {"product_admin"}),
]
POSTS = [
    ("claim", lambda w: f"/review/{w['application'].pk}/claim/", {"officer", "credit_manager"}),
    ("approve", lambda w: f"/applications/{w['application'].pk}/approve/", {"officer", "credit_manager"}),
    ("reject", lambda w: f"/applications/{w['application'].pk}/reject/", {"officer", "credit_manager"}),
    ("reveal", lambda w: f"/applications/{w['application'].pk}/reveal/", {"credit_manager"}),
    ("disburse", lambda w: "/disbursements/disburse/", {"credit_manager"}),
    ("contact", lambda w: f"/collections/cases/{w['case'].pk}/contact/", {"collector", "collections_manager"}),
    ("reassign", lambda w: "/collections/team/reassign/", {"collections_manager"}),
]


@pytest.mark.django_db
@pytest.mark.parametrize("role", ROLES)
def test_every_page_for_every_role(client, world, role):
    client.force_login(world[role])
    for name, url, allowed in PAGES:
        status = client.get(url(world)).status_code
        if name == "product admin" and role not in allowed:
            assert status in (302, 403), (name, role, status)  # Django admin sends non-staff to its login
        else:
            assert status == (200 if role in allowed else 403), (name, role, status)


@pytest.mark.django_db
@pytest.mark.parametrize("role", ROLES)
def test_every_action_for_every_role(client, world, role):
    client.force_login(world[role])
    for name, url, allowed in POSTS:
        status = client.post(url(world), {}).status_code
        if role in allowed:
            assert status != 403, (name, role, status)
        else:
            assert status == 403, (name, role, status)


@pytest.mark.django_db
def test_anonymous_users_are_sent_to_sign_in(client, world):
    for name, url, _ in PAGES[:-1]:
        response = client.get(url(world))
        assert response.status_code == 302 and "/accounts/login/" in response["Location"], name


@pytest.mark.django_db
def test_csrf_is_enforced(world):
    from django.test import Client

    client = Client(enforce_csrf_checks=True)
    client.force_login(world["officer"])
    assert client.post(f"/review/{world['application'].pk}/claim/").status_code == 403


@pytest.mark.django_db
def test_collectors_never_see_unmasked_identity(client, world):
    client.force_login(world["collector"])
    borrower = world["active"].borrower
    for url in (f"/loans/{world['active'].pk}/", "/collections/worklist/", f"/collections/cases/{world['case'].pk}/"):
        page = client.get(url).content.decode()
        assert borrower.id_number not in page and borrower.phone.removeprefix("+86") not in page
