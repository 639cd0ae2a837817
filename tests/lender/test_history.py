"""lender.history: row-history context set once per transaction, as pghistory.context would attach it."""

from decimal import Decimal

import pghistory
import pytest
from django.db import connection, transaction

from lender.history import history_context
from loans import services
from loans.models import Borrower, LoanProduct
from tests.loans.factories import BorrowerFactory, ProductFactory

pytestmark = pytest.mark.django_db


def events(model, obj):
    return list(model.pgh_event_model.objects.filter(pgh_obj=obj).order_by("pgh_id"))


def test_the_context_reaches_the_rows_with_no_statement_of_its_own(django_assert_num_queries):
    product = ProductFactory()
    with transaction.atomic(), history_context(partner="acme", url="/api/v1/x"):
        with django_assert_num_queries(1):  # the settings travel with the update
            LoanProduct.objects.filter(pk=product.pk).update(name="Renamed")
        with history_context(user=None):  # adds nothing: no statement, same context
            with django_assert_num_queries(1):
                product.refresh_from_db()
        with history_context(user=7):
            product.grace_days = 5
            product.save(update_fields=["grace_days"])
    first, second = events(LoanProduct, product)[-2:]
    assert first.name == "Renamed" and second.grace_days == 5
    assert first.pgh_context_id == second.pgh_context_id  # one context, its metadata merged
    assert second.pgh_context.metadata == {"partner": "acme", "url": "/api/v1/x", "user": 7}


def test_statements_with_named_or_no_parameters_still_get_the_context():
    product = ProductFactory()
    with transaction.atomic(), history_context(user=3):
        with connection.cursor() as cursor:
            cursor.execute("UPDATE loans_loanproduct SET name = %(name)s WHERE id = %(id)s",
                           {"name": "Named", "id": product.pk})  # fmt: skip
            assert cursor.rowcount == 1  # the update's own result, not the settings'
    with transaction.atomic(), history_context(user=4):
        with connection.cursor() as cursor:
            cursor.execute(f"UPDATE loans_loanproduct SET grace_days = 9 WHERE id = {int(product.pk)}")
    named, plain = events(LoanProduct, product)[-2:]
    assert (named.name, named.pgh_context.metadata) == ("Named", {"user": 3})
    assert (plain.grace_days, plain.pgh_context.metadata) == (9, {"user": 4})


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_a_context_ends_with_its_transaction():
    product = ProductFactory()
    with transaction.atomic(), history_context(user=5):
        LoanProduct.objects.filter(pk=product.pk).update(name="Inside")
    with connection.cursor() as cursor:
        cursor.execute("SELECT current_setting('pghistory.context_id', true)")
        assert cursor.fetchone()[0] in ("", None)


def test_inside_a_tracked_request_it_joins_pghistory_context(product_admin):
    borrower = BorrowerFactory()
    with pghistory.context(url="/loans/1"):  # what the staff pages' middleware does
        services.borrower_update(borrower_id=borrower.pk, by=product_admin, monthly_income=Decimal("9000.00"))
    last = events(Borrower, borrower)[-1]
    assert last.pgh_context.metadata == {"url": "/loans/1", "user": product_admin.pk}


def test_a_nested_context_entered_before_anything_ran_keeps_its_metadata():
    product = ProductFactory()
    with transaction.atomic(), history_context(partner="acme"):
        with history_context(user=7):
            LoanProduct.objects.filter(pk=product.pk).update(name="Nested")  # list parameters
    assert events(LoanProduct, product)[-1].pgh_context.metadata == {"partner": "acme", "user": 7}


def test_nothing_of_an_earlier_context_carries_into_a_later_one():
    product = ProductFactory()
    with transaction.atomic():
        with history_context(user=5):
            LoanProduct.objects.filter(pk=product.pk).update(name="First")
        with history_context(user=None):
            LoanProduct.objects.filter(pk=product.pk).update(name="Second")
    first, second = events(LoanProduct, product)[-2:]
    assert first.pgh_context.metadata == {"user": 5}
    assert second.pgh_context.metadata == {} and second.pgh_context_id != first.pgh_context_id


def test_a_first_statement_on_a_named_cursor_sends_the_context_on_its_own():
    product = ProductFactory()
    with transaction.atomic(), history_context(user=8):
        assert product.pk in [p.pk for p in LoanProduct.objects.iterator(chunk_size=10)]  # a server-side cursor
        LoanProduct.objects.filter(pk=product.pk).update(name="After iterator")
    assert events(LoanProduct, product)[-1].pgh_context.metadata == {"user": 8}
