from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError
from django.db import connection

from lender.errors import AuthorityError, InvalidInput
from lender.models import AuditEvent
from loans import services
from loans.models import Borrower

VALID_ID = "11010519491231002X"  # the GB 11643 example number


def create(**overrides):
    fields = dict(kind="individual", full_name="张三", id_number=VALID_ID, phone="13800138000")
    fields.update(overrides)
    return services.borrower_create(by=None, **fields)


@pytest.mark.django_db
def test_identity_is_encrypted_at_rest_and_found_by_its_blind_index():
    borrower = create(id_number="11010519491231002x", phone="+86 138 0013 8000")
    assert borrower.id_number == VALID_ID and borrower.phone == "+8613800138000"
    with connection.cursor() as cursor:
        cursor.execute("SELECT id_number, phone FROM loans_borrower WHERE id = %s", [borrower.pk])
        raw_id, raw_phone = cursor.fetchone()
    assert VALID_ID not in raw_id and "13800138000" not in raw_phone
    assert services.borrower_find_by_id_number(id_number=VALID_ID.lower()) == borrower
    assert str(borrower.birth_date) == "1949-12-31"


@pytest.mark.django_db
@pytest.mark.parametrize(
    "id_number, message",
    [
        ("11010519491231002", "18 characters"),
        ("110105194912310021", "check digit"),
        ("110105194913310021", "birth date"),
        ("110105210012310021", "birth date"),
    ],
)
def test_invalid_resident_ids_are_refused_and_nothing_is_written(id_number, message):
    with pytest.raises(ValidationError) as excinfo:
        create(id_number=id_number)
    assert message in " ".join(excinfo.value.message_dict["id_number"])
    assert Borrower.objects.count() == 0


@pytest.mark.django_db
@pytest.mark.parametrize("phone", ["12345", "010-12345678", "+1 415 555 0100"])
def test_only_mainland_mobile_numbers_are_accepted(phone):
    with pytest.raises(ValidationError) as excinfo:
        create(phone=phone)
    assert "phone" in excinfo.value.message_dict
    assert Borrower.objects.count() == 0


@pytest.mark.django_db
def test_small_business_needs_a_valid_credit_code():
    fields = dict(
        kind="small_business",
        company_name="Acme Trading Co.",
        business_years=3,
        annual_revenue=Decimal("1200000.00"),
        monthly_bank_inflow=Decimal("90000.00"),
    )
    with pytest.raises(ValidationError) as excinfo:
        create(credit_code="91110000600037341X", **fields)
    assert "check character" in " ".join(excinfo.value.message_dict["credit_code"])
    borrower = create(credit_code="91110000600037341L", **fields)
    assert borrower.credit_code == "91110000600037341L"


@pytest.mark.django_db
def test_student_needs_school_and_degree():
    with pytest.raises(ValidationError) as excinfo:
        create(kind="student")
    assert {"school", "degree_level"} <= set(excinfo.value.message_dict)


@pytest.mark.django_db
def test_duplicate_id_number_is_refused():
    create()
    with pytest.raises(ValidationError) as excinfo:
        create(phone="13900139000")
    assert "already exists" in excinfo.value.message_dict["id_number"][0]
    assert Borrower.objects.count() == 1


@pytest.mark.django_db
def test_identity_is_masked_by_default():
    borrower = create()
    assert borrower.masked_id_number == "1101**********002X"
    assert borrower.masked_phone == "138****8000"
    assert VALID_ID not in str(borrower)


@pytest.mark.django_db
def test_reveal_needs_permission_and_a_reason_and_is_audited(officer, credit_manager):
    borrower = create()
    with pytest.raises(AuthorityError):
        services.borrower_reveal(borrower_id=borrower.pk, by=officer, reason="checking")
    with pytest.raises(InvalidInput):
        services.borrower_reveal(borrower_id=borrower.pk, by=credit_manager, reason=" ")
    assert AuditEvent.objects.count() == 0
    shown = services.borrower_reveal(borrower_id=borrower.pk, by=credit_manager, reason="call to verify identity")
    assert shown == {"id_number": VALID_ID, "phone": "+8613800138000"}
    event = AuditEvent.objects.get()
    assert (event.action, event.actor, event.message) == ("pii_revealed", credit_manager, "call to verify identity")


@pytest.mark.django_db
def test_borrower_changes_keep_row_history_with_the_acting_user(product_admin):
    borrower = create()
    services.borrower_update(borrower_id=borrower.pk, by=product_admin, monthly_income=Decimal("23000.00"))
    events = list(Borrower.pgh_event_model.objects.filter(pgh_obj=borrower).order_by("pgh_id"))
    assert [e.pgh_label for e in events] == ["insert", "update"]
    assert events[-1].monthly_income == Decimal("23000.00")
    assert events[-1].pgh_context.metadata["user"] == product_admin.pk
