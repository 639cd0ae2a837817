"""Staff roles: Django groups created by a data migration (lender/migrations)."""

LOAN_OFFICER = "loan officer"
CREDIT_MANAGER = "credit manager"
COLLECTOR = "collector"
COLLECTIONS_MANAGER = "collections manager"
PRODUCT_ADMIN = "product admin"
ALL = (LOAN_OFFICER, CREDIT_MANAGER, COLLECTOR, COLLECTIONS_MANAGER, PRODUCT_ADMIN)


def has_role(user, role: str) -> bool:
    return user.is_authenticated and (user.is_superuser or user.groups.filter(name=role).exists())
