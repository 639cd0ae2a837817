from django.contrib.auth.decorators import login_required
from django.shortcuts import render

from lender import roles


@login_required
def home(request):
    my_roles = [r for r in roles.ALL if roles.has_role(request.user, r)]
    return render(request, "loans/home.html", {"roles": my_roles})
