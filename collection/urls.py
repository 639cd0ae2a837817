from django.urls import path

from collection import views

app_name = "collection"
urlpatterns = [
    path("worklist/", views.worklist, name="worklist"),
    path("cases/<int:pk>/", views.case, name="case"),
    path("cases/<int:pk>/contact/", views.contact, name="contact"),
    path("cases/<int:pk>/write-off/", views.write_off, name="write_off"),
    path("team/", views.team, name="team"),
    path("team/reassign/", views.reassign, name="reassign"),
]
