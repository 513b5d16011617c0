from django.urls import include, path

from custody.api.api import api
from custody.core.views import set_language

urlpatterns = [
    path("", include("custody.core.urls")),
    path("accounts/", include("custody.accounts.urls")),
    path("p/<slug:code>/", include("custody.properties.urls")),
    path("p/<slug:code>/staff/", include("custody.accounts.staff_urls")),
    path("p/<slug:code>/audit/", include("custody.audit.urls")),
    path("p/<slug:code>/desk/", include("custody.guests.urls")),
    path("p/<slug:code>/imports/", include("custody.guests.import_urls")),
    path("api/v1/", api.urls),
    path("p/<slug:code>/requests/", include("custody.requests.urls")),
    path("p/<slug:code>/footage/", include("custody.footage.urls")),
    path("p/<slug:code>/play/", include("custody.footage.playback_urls")),
    path("p/<slug:code>/retention/", include("custody.retention.urls")),
    path("p/<slug:code>/evidence/", include("custody.evidence.urls")),
    path("i18n/setlang/", set_language, name="set_language"),
]
