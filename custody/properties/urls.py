from django.urls import path

from custody.properties import views

app_name = "properties"
urlpatterns = [
    path("settings/", views.property_edit, name="property_edit"),
    path("floors/", views.floor_list, name="floor_list"),
    path("floors/new/", views.floor_create, name="floor_create"),
    path("floors/<int:pk>/", views.floor_edit, name="floor_edit"),
    path("floors/<int:pk>/delete/", views.floor_delete, name="floor_delete"),
    path("floors/<int:pk>/plan/", views.floor_plan, name="floor_plan"),
    path("areas/", views.area_list, name="area_list"),
    path("areas/new/", views.area_create, name="area_create"),
    path("areas/<int:pk>/", views.area_edit, name="area_edit"),
    path("areas/<int:pk>/delete/", views.area_delete, name="area_delete"),
    path("rooms/", views.room_list, name="room_list"),
    path("rooms/new/", views.room_create, name="room_create"),
    path("rooms/<int:pk>/", views.room_edit, name="room_edit"),
    path("rooms/<int:pk>/delete/", views.room_delete, name="room_delete"),
]
