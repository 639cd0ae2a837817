"""Writes of the project package: staff users and their authority."""

from decimal import Decimal

from django.contrib.auth.models import Group, User
from django.db import transaction

from lender.audit import audit
from lender.errors import InvalidInput
from lender.models import StaffProfile


@transaction.atomic
def staff_user_create(
    *, username: str, password: str, roles: list[str], approval_limit: Decimal = Decimal("0.00"), is_staff: bool = False
) -> User:
    """Create a staff user in the given groups with an approval limit; raises InvalidInput."""
    if User.objects.filter(username=username).exists():
        raise InvalidInput(f"The username {username} is taken.", field="username")
    groups = list(Group.objects.filter(name__in=roles))
    if len(groups) != len(set(roles)):
        raise InvalidInput(f"Unknown roles in {roles}.", field="roles")
    user = User.objects.create_user(username=username, password=password, is_staff=is_staff)
    user.groups.set(groups)
    StaffProfile.objects.create(user=user, approval_limit=approval_limit)
    return user


@transaction.atomic
def staff_approval_limit_set(*, user_id: int, approval_limit: Decimal, by) -> StaffProfile:
    """Change a user's approval limit (audited with before and after)."""
    if approval_limit < 0:
        raise InvalidInput("An approval limit cannot be negative.", field="approval_limit")
    profile, _ = StaffProfile.objects.select_for_update().get_or_create(user_id=user_id)
    before = profile.approval_limit
    profile.approval_limit = approval_limit
    profile.save(update_fields=["approval_limit"])
    audit(target=profile, action="approval_limit_changed", actor=by, before=str(before), after=str(approval_limit))
    return profile


@transaction.atomic
def staff_language_set(*, user, language: str) -> StaffProfile:
    """The language a staff user reads the back office in."""
    if language not in ("en", "zh-hans"):
        raise InvalidInput("Choose English or Simplified Chinese.", field="language")
    profile, _ = StaffProfile.objects.select_for_update().get_or_create(user=user)
    profile.language = language
    profile.save(update_fields=["language"])
    return profile
