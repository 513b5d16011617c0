from django.urls import path

from custody.footage import playback_views as views

app_name = "playback"
urlpatterns = [
    path("<uuid:grant_pk>/", views.timeline, name="timeline"),
    path("<uuid:grant_pk>/start/", views.start, name="start"),
    path("<uuid:grant_pk>/stream/<str:token>/", views.stream, name="stream"),
    path("<uuid:grant_pk>/watched/<str:token>/", views.watched, name="watched"),
]
