"""Lists paginate and run a fixed number of queries, whether they hold 10 rows or 1,000."""

import pytest
from django.db import connection

from collection.models import CollectionCase
from loans.models import Loan


def clone_loan(loan: Loan, n: int, **overrides) -> None:
    """n copies of a loan row, by SQL (fast); each gets its own reference."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT column_name FROM information_schema.columns WHERE table_name = 'loans_loan' AND column_name <> 'id'"
        )
        columns = [c for (c,) in cursor.fetchall()]
        values = ["%(ref)s || '-' || g" if c == "reference" else (f"%({c})s" if c in overrides else c) for c in columns]
        cursor.execute(
            f"INSERT INTO loans_loan ({', '.join(columns)}) SELECT {', '.join(values)} "
            f"FROM loans_loan CROSS JOIN generate_series(1, %(n)s) g WHERE id = %(id)s",
            {"ref": loan.reference, "n": n, "id": loan.pk, **overrides},
        )


def clone_cases(case: CollectionCase, n: int) -> None:
    clone_loan(case.loan, n)
    with connection.cursor() as cursor:
        cursor.execute(
            """INSERT INTO collection_collectioncase (loan_id, status, assigned_to_id, bucket, days_past_due,
                      overdue_amount, broken_promises, is_escalated, next_action_on, opened_on, updated_at)
               SELECT l.id, c.status, c.assigned_to_id, c.bucket, c.days_past_due, c.overdue_amount,
                      c.broken_promises, c.is_escalated, c.next_action_on, c.opened_on, now()
                 FROM loans_loan l, collection_collectioncase c
                WHERE c.id = %(case)s AND l.reference LIKE %(prefix)s""",
            {"case": case.pk, "prefix": case.loan.reference + "-%"},
        )


@pytest.mark.django_db
@pytest.mark.parametrize("rows", [10, 1000])
def test_review_queue_queries_do_not_grow(client, world, rows, django_assert_max_num_queries):
    clone_loan(world["application"], rows)
    client.force_login(world["officer"])
    with django_assert_max_num_queries(14):
        response = client.get("/review/")
    assert response.status_code == 200
    body = response.content.decode()
    # One page of 25 rows: the original application and its copies.
    assert body.count(world["application"].reference) == min(rows + 1, 25)
    if rows > 25:
        assert client.get("/review/?page=2").content.decode().count(world["application"].reference) == 25


@pytest.mark.django_db
@pytest.mark.parametrize("rows", [10, 1000])
def test_worklist_queries_do_not_grow(client, world, rows, django_assert_max_num_queries):
    clone_cases(world["case"], rows)
    client.force_login(world["case"].assigned_to)
    with django_assert_max_num_queries(14):
        response = client.get("/collections/worklist/")
    assert response.status_code == 200
    assert f">{rows + 1}<" in response.content.decode()  # the day's count of open cases


@pytest.mark.django_db
@pytest.mark.parametrize("rows", [10, 1000])
def test_disbursement_and_countersign_queues_do_not_grow(client, world, rows, django_assert_max_num_queries):
    clone_loan(world["approved"], rows)
    client.force_login(world["credit_manager"])
    with django_assert_max_num_queries(12):
        assert client.get("/disbursements/").status_code == 200
    with django_assert_max_num_queries(12):
        assert client.get("/countersign/").status_code == 200


@pytest.mark.django_db
@pytest.mark.parametrize("rows", [10, 1000])
def test_team_page_queries_do_not_grow(client, world, rows, django_assert_max_num_queries):
    clone_cases(world["case"], rows)
    client.force_login(world["collections_manager"])
    with django_assert_max_num_queries(14):
        assert client.get("/collections/team/").status_code == 200
