from django.urls import path

from custody.guests import views

app_name = "desk"
urlpatterns = [
    path("", views.today, name="today"),
    path("check-in/", views.check_in, name="check_in"),
    path("lookup/", views.lookup, name="lookup"),
    path("stays/<uuid:stay_id>/", views.stay_detail, name="stay"),
    path("stays/<uuid:stay_id>/unmask/", views.unmask, name="unmask"),
]
