from django.urls import path

from custody.retention import views

app_name = "retention"
urlpatterns = [
    path("", views.hold_list, name="holds"),
    path("holds/new/", views.hold_new, name="hold_new"),
    path("holds/<uuid:pk>/", views.hold_detail, name="hold"),
    path("holds/<uuid:pk>/release/", views.hold_release, name="hold_release"),
    path("destruction/", views.record_list, name="records"),
    path("destruction/run/", views.run_now, name="run_now"),
    path("destruction/<uuid:pk>/", views.record_detail, name="record"),
    path("backups/", views.backup_list, name="backups"),
    path("backups/new/", views.backup_new, name="backup_new"),
    path("backups/<int:pk>/", views.backup_edit, name="backup_edit"),
    path("backups/register.csv", views.backup_csv, name="backups_csv"),
]
