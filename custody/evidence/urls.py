from django.urls import path

from custody.evidence import views

app_name = "evidence"
urlpatterns = [
    path("", views.export_list, name="list"),
    path("new/<uuid:pk>/", views.new, name="new"),  # pk: the footage-export grant
    path("<uuid:pk>/", views.detail, name="detail"),
    path("<uuid:pk>/progress/", views.progress, name="progress"),
    path("<uuid:pk>/retry/", views.retry, name="retry"),
    path("<uuid:pk>/links/", views.create_link, name="create_link"),
    path("download/<str:token>/", views.download, name="download"),
]
