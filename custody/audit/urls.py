from django.urls import path

from custody.audit import views

app_name = "audit"
urlpatterns = [
    path("", views.audit_log, name="log"),
    path("export.csv", views.audit_export, name="export"),
    path("verify/", views.audit_verify_now, name="verify"),
    path("<int:seq>/", views.audit_entry, name="entry"),
]
