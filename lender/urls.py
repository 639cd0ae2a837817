from django.contrib import admin
from django.http import HttpResponse
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularRedocView, SpectacularSwaggerView

from loans import api


def health(request):
    return HttpResponse("ok", content_type="text/plain")


handler404 = "lender.api.handler404"
handler500 = "lender.api.handler500"

api_v1 = [
    path("quotes", api.QuoteApi.as_view(), name="api-quote"),
    path("applications", api.ApplicationCreateApi.as_view(), name="api-application-create"),
    path("applications/<str:reference>", api.ApplicationApi.as_view(), name="api-application"),
    path(
        "applications/<str:reference>/withdraw", api.ApplicationWithdrawApi.as_view(), name="api-application-withdraw"
    ),
    path("loans/<str:reference>", api.LoanApi.as_view(), name="api-loan"),
    path("loans/<str:reference>/repayments", api.RepaymentCreateApi.as_view(), name="api-repayment-create"),
    path("webhooks", api.WebhookCreateApi.as_view(), name="api-webhook-create"),
]

urlpatterns = [
    path("api/v1/", include(api_v1)),
    path("admin/", admin.site.urls),
    path("healthz", health, name="health"),
    path("i18n/", include("django.conf.urls.i18n")),
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    path("api/docs/", SpectacularSwaggerView.as_view(url_name="schema"), name="swagger-ui"),
    path("api/redoc/", SpectacularRedocView.as_view(url_name="schema"), name="redoc"),
    path("collections/", include("collection.urls")),
    path("", include("loans.urls")),
]
