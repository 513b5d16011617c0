from django.urls import path

from custody.core import views

app_name = "core"
urlpatterns = [
    path("", views.root, name="root"),
    path("switch-property", views.switch_property, name="switch_property"),
    path("p/<slug:code>/", views.home, name="home"),
]
