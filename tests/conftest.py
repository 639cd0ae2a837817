from decimal import Decimal

import pytest
from celery.contrib.testing.worker import start_worker
from hypothesis import settings as hypothesis_settings

from lender import roles
from lender.celery import app as celery_app

hypothesis_settings.register_profile("default", deadline=None, max_examples=200)
hypothesis_settings.load_profile("default")


@pytest.fixture(autouse=True)
def _celery_eager(request):
    """Unit tests run queued tasks inline; integration tests use a real worker and broker."""
    eager = "integration" not in request.keywords
    previous = celery_app.conf.task_always_eager
    celery_app.conf.task_always_eager = eager
    celery_app.conf.task_eager_propagates = eager
    yield
    celery_app.conf.task_always_eager = previous


@pytest.fixture(autouse=True)
def _media_root_and_cache(settings, tmp_path_factory):
    """Uploaded documents go to a temporary folder; each test computes figures afresh (no shared cache)."""
    settings.MEDIA_ROOT = tmp_path_factory.getbasetemp() / "media"
    settings.CACHES = {"default": {"BACKEND": "django.core.cache.backends.dummy.DummyCache"}}


@pytest.fixture
def worker():
    """A real Celery worker in this process, on every queue, against the real broker."""
    with start_worker(
        celery_app, pool="solo", perform_ping_check=False, queues=["celery", "batch", "notifications", "decisions"],
        shutdown_timeout=30,
    ) as w:  # fmt: skip
        yield w


@pytest.fixture
def make_staff(db):
    from lender.services import staff_user_create

    counter = {"n": 0}

    def make(role: str, limit: str = "0.00", **kwargs):
        counter["n"] += 1
        return staff_user_create(
            username=f"{role.replace(' ', '_')}_{counter['n']}",
            password="pw-for-tests-only",
            roles=[role],
            approval_limit=Decimal(limit),
            **kwargs,
        )

    return make


@pytest.fixture
def officer(make_staff):
    return make_staff(roles.LOAN_OFFICER, "50000.00")


@pytest.fixture
def officer2(make_staff):
    return make_staff(roles.LOAN_OFFICER, "50000.00")


@pytest.fixture
def junior_officer(make_staff):
    return make_staff(roles.LOAN_OFFICER, "20000.00")


@pytest.fixture
def credit_manager(make_staff):
    return make_staff(roles.CREDIT_MANAGER, "500000.00")


@pytest.fixture
def product_admin(make_staff):
    return make_staff(roles.PRODUCT_ADMIN, is_staff=True)
