from django.contrib.auth import views as auth_views
from django.urls import path

from loans import views

app_name = "loans"
urlpatterns = [
    path("", views.home, name="home"),
    path("accounts/login/", auth_views.LoginView.as_view(), name="login"),
    path("accounts/logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("language/", views.language, name="language"),
    path("review/", views.review_queue, name="review_queue"),
    path("review/<int:pk>/claim/", views.review_claim, name="review_claim"),
    path("review/<int:pk>/release/", views.review_release, name="review_release"),
    path("applications/<int:pk>/", views.application, name="application"),
    path("applications/<int:pk>/approve/", views.approve, name="approve"),
    path("applications/<int:pk>/propose/", views.propose, name="propose"),
    path("applications/<int:pk>/reject/", views.reject, name="reject"),
    path("applications/<int:pk>/reveal/", views.reveal, name="reveal"),
    path("applications/<int:pk>/documents/", views.document_upload, name="document_upload"),
    path("documents/<int:pk>/verify/", views.document_verify, name="document_verify"),
    path("documents/<int:pk>/", views.document_file, name="document_file"),
    path("countersign/", views.countersign_queue, name="countersign_queue"),
    path("disbursements/", views.disbursement_queue, name="disbursement_queue"),
    path("disbursements/disburse/", views.disburse, name="disburse"),
    path("loans/<int:pk>/", views.loan_page, name="loan"),
    path("portfolio/", views.portfolio_page, name="portfolio"),
    path("portfolio.csv", views.portfolio_csv, name="portfolio_csv"),
]
