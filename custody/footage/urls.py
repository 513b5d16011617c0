from django.urls import path

from custody.footage import views

app_name = "footage"
urlpatterns = [
    path("cameras/", views.camera_list, name="camera_list"),
    path("cameras/new/", views.camera_new, name="camera_new"),
    path("cameras/<int:pk>/", views.camera_detail, name="camera_detail"),
    path("cameras/<int:pk>/edit/", views.camera_edit, name="camera_edit"),
    path("map/", views.camera_map, name="map"),
    path("map/<int:floor_pk>/", views.camera_map_floor, name="map_floor"),
    path("map/<int:floor_pk>/plan/", views.floor_plan, name="floor_plan"),
    path("watch/", views.watch_list, name="watch_list"),
    path("watch/new/", views.watch_new, name="watch_new"),
    path("watch/<int:pk>/", views.watch_edit, name="watch_edit"),
    path("upload/", views.upload, name="upload"),
    path("quarantine/", views.quarantine, name="quarantine"),
]
