from django.urls import path

from custody.guests import import_views

app_name = "imports"
urlpatterns = [
    path("", import_views.index, name="index"),
    path("<uuid:import_id>/", import_views.detail, name="detail"),
    path("<uuid:import_id>/check/", import_views.check, name="check"),
    path("<uuid:import_id>/commit/", import_views.commit, name="commit"),
    path("<uuid:import_id>/progress/", import_views.progress, name="progress"),
    path("<uuid:import_id>/discard/", import_views.discard, name="discard"),
]
