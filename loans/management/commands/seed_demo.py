"""Demo data: products, one staff user per role, ~200 borrowers and applications in every
pre-disbursement state. Deterministic with --seed; running it twice creates nothing twice."""

import random
from datetime import timedelta
from decimal import Decimal

from django.conf import settings
from django.contrib.auth.models import User
from django.core.files.base import ContentFile
from django.core.management.base import BaseCommand
from django.db import transaction
from django.utils import timezone

from lender import roles
from lender.services import staff_user_create
from loans import demo, selectors, services
from loans.models import Borrower, BorrowerKind, CreditLine, DegreeLevel, EmploymentKind, Loan, LoanProduct

DEMO_STAFF = [
    # username, roles, approval limit, is_staff (Django admin access)
    ("officer", [roles.LOAN_OFFICER], Decimal("50000.00"), False),
    ("officer2", [roles.LOAN_OFFICER], Decimal("20000.00"), False),
    ("credit_manager", [roles.CREDIT_MANAGER], Decimal("500000.00"), False),
    ("collector", [roles.COLLECTOR], Decimal("0.00"), False),
    ("collections_manager", [roles.COLLECTIONS_MANAGER], Decimal("0.00"), False),
    ("product_admin", [roles.PRODUCT_ADMIN], Decimal("0.00"), True),
]

SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗"
GIVEN = (
    "伟",
    "芳",
    "娜",
    "敏",
    "静",
    "丽",
    "强",
    "磊",
    "军",
    "洋",
    "勇",
    "艳",
    "杰",
    "娟",
    "涛",
    "明",
    "超",
    "秀英",
    "华",
    "慧",
)
SCHOOLS = [
    ("Peking University", True),
    ("Fudan University", True),
    ("Wuhan University", True),
    ("Shenzhen Polytechnic", False),
    ("Hangzhou Normal University", False),
    ("Chengdu University", False),
]
COMPANIES = ("Trading", "Catering", "Logistics", "Software", "Garments", "Hardware", "Printing", "Tea House")
PRODUCT_FOR = {
    BorrowerKind.INDIVIDUAL: ("consumer-installment", "revolving-line"),
    BorrowerKind.STUDENT: ("student-micro",),
    BorrowerKind.SMALL_BUSINESS: ("sme-credit",),
}
# Where each demo application ends up (all before disbursement).
OUTCOMES = (
    "submitted",
    "in_review",
    "in_review",
    "countersign",
    "approved",
    "approved",
    "rejected",
    "withdrawn",
    "cancelled",
)
# Disbursed demo loans and what their borrowers did since.
LOAN_STORIES = ("on_time",) * 12 + ("prepaid",) * 4 + ("overdue",) * 8 + ("settled",) * 5 + ("written_off",) * 3
LOAN_STORIES += ("reversal",) * 2
LINE_COUNT = 4
# A 1x1 PNG: the demo's stand-in for a scanned document.
PNG = bytes.fromhex(
    "89504e470d0a1a0a0000000d4948445200000001000000010806000000"
    "1f15c4890000000d49444154789c6360000002000100e221bc330000000049454e44ae426082"
)


class Command(BaseCommand):
    help = "Load demo products, staff users, borrowers and applications (idempotent)."

    def add_arguments(self, parser):
        parser.add_argument("--seed", type=int, default=2026)
        parser.add_argument("--borrowers", type=int, default=200)
        parser.add_argument("--quiet", action="store_true")

    def handle(self, *args, seed, borrowers, quiet, **options):
        rng = random.Random(seed)
        products = self._products()
        staff = self._staff()
        created_borrowers = created_loans = 0
        people = []
        for index in range(borrowers):
            borrower, created = self._borrower(rng, index)
            people.append(borrower)
            created_borrowers += created
            created_loans += self._application(rng, index, borrower, products, staff)
        # A separate generator, so the money stories never shift the applications above.
        money_rng = random.Random(seed + 1)
        individuals = [b for b in people if b.kind == BorrowerKind.INDIVIDUAL]
        created_money = sum(
            self._money_story(money_rng, index, story, individuals[index % len(individuals)], products, staff)
            for index, story in enumerate(LOAN_STORIES)
        )
        created_money += sum(
            self._credit_line(money_rng, index, individuals[-(index + 1)], products["revolving-line"])
            for index in range(LINE_COUNT)
        )
        if not quiet:
            self.stdout.write(
                f"demo data: {len(products)} products, {created_borrowers} new borrowers, {created_loans} new "
                f"applications, {created_money} new disbursed loans and lines"
            )
            self.stdout.write(f"demo users (password: {settings.DEMO_PASSWORD}):")
            for username, user_roles, limit, _ in DEMO_STAFF:
                self.stdout.write(f"  {username:<20} {', '.join(user_roles):<22} approval limit {limit}")

    def _products(self) -> dict[str, LoanProduct]:
        products = {}
        for code, fields in demo.DEMO_PRODUCTS.items():
            product = LoanProduct.objects.filter(code=code).first()
            if product is None:  # never overwrite what an admin changed since
                product, _ = services.product_upsert(code=code, **fields)
            products[code] = product
        return products

    def _staff(self) -> dict[str, User]:
        users = {}
        for username, user_roles, limit, is_staff in DEMO_STAFF:
            user = User.objects.filter(username=username).first() or staff_user_create(
                username=username,
                password=settings.DEMO_PASSWORD,
                roles=user_roles,
                approval_limit=limit,
                is_staff=is_staff,
            )
            users[username] = user
        return users

    def _borrower(self, rng: random.Random, index: int) -> tuple[Borrower, bool]:
        kind = (BorrowerKind.INDIVIDUAL, BorrowerKind.INDIVIDUAL, BorrowerKind.STUDENT, BorrowerKind.SMALL_BUSINESS)[
            index % 4
        ]
        born = (1998, 2006) if kind == BorrowerKind.STUDENT else (1965, 2002)
        id_number = demo.resident_id(rng, born_from=born[0], born_to=born[1])
        phone = demo.mobile(rng)
        name = rng.choice(SURNAMES) + rng.choice(GIVEN)
        profile = {}
        if kind == BorrowerKind.STUDENT:
            school, key = rng.choice(SCHOOLS)
            profile = dict(
                school=school,
                is_key_university=key,
                degree_level=rng.choice(DegreeLevel.values),
                employment_kind=EmploymentKind.STUDENT,
                monthly_income=Decimal(rng.randrange(800, 4000)),
            )
        elif kind == BorrowerKind.SMALL_BUSINESS:
            revenue = Decimal(rng.randrange(300, 20000) * 1000)
            profile = dict(
                company_name=f"{name}{rng.choice(COMPANIES)} Co., Ltd.",
                credit_code=demo.credit_code(rng),
                business_years=rng.randrange(1, 20),
                annual_revenue=revenue,
                monthly_bank_inflow=(revenue / 12 * Decimal(rng.randrange(60, 110)) / 100).quantize(Decimal("0.01")),
                employment_kind=EmploymentKind.BUSINESS_OWNER,
                employment_years=rng.randrange(1, 20),
                monthly_income=Decimal(rng.randrange(8000, 60000)),
                monthly_obligations=Decimal(rng.randrange(0, 8000)),
            )
        else:
            profile = dict(
                employment_kind=rng.choice([EmploymentKind.EMPLOYED] * 4 + [EmploymentKind.SELF_EMPLOYED]),
                employment_years=rng.randrange(0, 25),
                monthly_income=Decimal(rng.randrange(3000, 40000)),
                monthly_obligations=Decimal(rng.randrange(0, 6000)),
            )
        existing = services.borrower_find_by_id_number(id_number=id_number)
        if existing is not None:
            return existing, False
        return services.borrower_create(
            by=None, kind=kind, full_name=name, id_number=id_number, phone=phone, **profile
        ), True

    def _score(self, loan) -> None:
        """A submission score, when a model is active (`make run` trains one first)."""
        from risk import features
        from risk import services as risk_services
        from risk.models import ScoreStage

        try:
            risk_services.application_score(loan=loan, stage=ScoreStage.SUBMISSION)
        except features.FeatureError:
            pass

    def _documents(self, loan, staff) -> None:
        for kind in loan.product.required_documents:
            document = services.document_upload(
                loan_id=loan.pk, kind=kind, upload=ContentFile(PNG, name=f"{kind}.png"), by=staff["officer"]
            )
            services.document_verify(document_id=document.pk, by=staff["officer"])

    @transaction.atomic
    def _application(self, rng, index, borrower, products, staff) -> bool:
        product = products[rng.choice(PRODUCT_FOR[borrower.kind])]
        outcome = OUTCOMES[index % len(OUTCOMES)]
        method = rng.choice(product.allowed_methods)
        term = rng.randrange(product.term_min_months, product.term_max_months + 1)
        ceiling = min(product.amount_max, Decimal("150000.00"))
        amount = Decimal(rng.randrange(int(product.amount_min) // 100 + 1, int(ceiling) // 100 + 1) * 100)
        if outcome == "countersign":
            amount = min(product.amount_max, max(amount, Decimal("60000.00")))
            if amount <= staff["officer"].staff_profile.approval_limit:
                outcome = "in_review"
        purpose = rng.choice(["Home appliances", "Tuition", "Working capital", "Travel", "Renovation", "Stock"])
        channel = rng.choice(["branch", "app", "partner"])
        reject_reason = rng.choice(["high_debt_burden", "poor_credit_history"])
        # Every random draw happens before this check, so a second run draws the same sequence.
        reference = f"DEMO-{index + 1:04d}"
        if Loan.objects.filter(reference=reference).exists():
            return False
        loan = services.loan_submit(
            borrower_id=borrower.pk,
            product_id=product.pk,
            amount=amount,
            term_months=term,
            method=method,
            purpose=purpose,
            channel=channel,
            reference=reference,
            decide=False,
        )
        self._score(loan)
        if outcome == "submitted":
            return True
        if outcome == "rejected":
            services.loan_reject(loan_id=loan.pk, by=None, reason=reject_reason)
            return True
        services.loan_refer(loan_id=loan.pk, note="Demo: referred for manual review.")
        if outcome in ("countersign", "approved", "cancelled"):
            self._documents(loan, staff)
        if outcome == "withdrawn":
            services.loan_withdraw(loan_id=loan.pk, note="Demo: the applicant withdrew.")
        elif outcome == "countersign":
            services.loan_approval_propose(
                loan_id=loan.pk, by=staff["officer"], note="Demo: good income, above my limit."
            )
        elif outcome in ("approved", "cancelled"):
            services.loan_approve(loan_id=loan.pk, by=staff["credit_manager"], note="Demo approval.")
            if outcome == "cancelled":
                services.loan_cancel(
                    loan_id=loan.pk, by=staff["credit_manager"], note="Demo: the borrower declined the offer."
                )
        return True

    @transaction.atomic  # a story is written whole or not at all
    def _money_story(self, rng, index, story, borrower, products, staff) -> bool:
        """A disbursed loan some months ago and its repayments, as the story says."""
        product = products["consumer-installment"]
        term = rng.choice([6, 12, 18, 24])
        amount = Decimal(rng.randrange(50, 400) * 100)
        months_ago = rng.randrange(3, min(term, 10) + 1)
        reference = f"DEMO-L{index + 1:03d}"
        if Loan.objects.filter(reference=reference).exists():
            return False
        today = timezone.localdate()
        disbursed_on = today - timedelta(days=30 * months_ago + rng.randrange(0, 20))
        loan = services.loan_submit(
            borrower_id=borrower.pk,
            product_id=product.pk,
            amount=amount,
            term_months=term,
            method=rng.choice(product.allowed_methods),
            reference=reference,
            decide=False,
            channel="branch",
        )
        services.loan_refer(loan_id=loan.pk)
        self._documents(loan, staff)
        services.loan_approve(loan_id=loan.pk, by=staff["credit_manager"], note="Demo approval.")
        loan = services.loan_disburse(loan_id=loan.pk, by=staff["credit_manager"], on=disbursed_on)
        stop_after = {"overdue": rng.randrange(0, 2), "written_off": 0}.get(story)
        for row in loan.installments.order_by("number"):
            if row.due_date > today or (stop_after is not None and row.number > stop_after):
                break
            services.repayment_record(
                loan_id=loan.pk,
                amount=row.total_due,
                paid_on=row.due_date - timedelta(days=rng.randrange(0, 3)),
                external_reference=f"{reference}-{row.number}",
                channel="bank",
            )
        if story == "prepaid":
            services.repayment_record(
                loan_id=loan.pk,
                amount=(amount / 4).quantize(Decimal("0.01")),
                paid_on=today,
                external_reference=f"{reference}-prepay",
                channel="app",
            )
        elif story == "settled":
            loan.refresh_from_db()
            quote = selectors.loan_payoff_quote(loan=loan, on=today)
            services.repayment_record(
                loan_id=loan.pk,
                amount=quote.total,
                paid_on=today,
                external_reference=f"{reference}-payoff",
                channel="bank",
            )
        elif story == "reversal":
            bounced, _ = services.repayment_record(
                loan_id=loan.pk,
                amount=Decimal("200.00"),
                paid_on=today,
                external_reference=f"{reference}-bounced",
                channel="bank",
            )
            services.repayment_reverse(
                repayment_id=bounced.pk, by=staff["credit_manager"], reason="Demo: the bank returned the payment."
            )
        elif story in ("overdue", "written_off"):
            services.loan_mark_overdue(loan_id=loan.pk)
            if story == "written_off":
                services.loan_write_off(
                    loan_id=loan.pk, by=staff["collections_manager"], note="Demo: no contact for 90 days."
                )
        return True

    @transaction.atomic
    def _credit_line(self, rng, index, borrower, product) -> bool:
        limit = Decimal(rng.randrange(20, 100) * 500)
        draw = (limit * Decimal(rng.randrange(20, 80)) / 100).quantize(Decimal("1"))
        if CreditLine.objects.filter(borrower=borrower, product=product).exists():
            return False
        line = services.credit_line_open(borrower_id=borrower.pk, product_id=product.pk, limit=limit)
        services.credit_line_draw(
            credit_line_id=line.pk,
            amount=draw,
            term_months=1,
            method="bullet",
            on=timezone.localdate() - timedelta(days=rng.randrange(1, 25)),
        )
        return True
