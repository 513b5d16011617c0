"""Audit event kinds. The dotted names are a stable, public format: never rename one, only add."""

from __future__ import annotations

from django.db import models
from django.utils.translation import gettext_lazy as _


class Action(models.TextChoices):
    ACCESS_DENIED = "access.denied", _("Access refused")
    # sign-in and accounts
    AUTH_LOGIN = "auth.login", _("Signed in")
    AUTH_LOGIN_FAILED = "auth.login.failed", _("Sign-in refused")
    AUTH_LOCKED_OUT = "auth.locked_out", _("Sign-in locked out")
    AUTH_LOGOUT = "auth.logout", _("Signed out")
    AUTH_TWO_FACTOR_VERIFIED = "auth.two_factor.verified", _("Second factor accepted")
    AUTH_TWO_FACTOR_FAILED = "auth.two_factor.failed", _("Second factor refused")
    AUTH_TWO_FACTOR_ENROLLED = "auth.two_factor.enrolled", _("Authenticator enrolled")
    AUTH_RECOVERY_CODES_ISSUED = "auth.recovery_codes.issued", _("Recovery codes issued")
    AUTH_PASSWORD_CHANGED = "auth.password.changed", _("Password changed")
    STAFF_CREATED = "staff.created", _("Staff account created")
    STAFF_UPDATED = "staff.updated", _("Staff account or roles changed")
    STAFF_DISABLED = "staff.disabled", _("Staff account disabled")
    STAFF_ENABLED = "staff.enabled", _("Staff account enabled")
    STAFF_TWO_FACTOR_RESET = "staff.two_factor.reset", _("Staff two-factor reset")
    STAFF_LIST_VIEWED = "staff.list.viewed", _("Staff list viewed")
    STAFF_VIEWED = "staff.viewed", _("Staff account viewed")
    # property structure
    PROPERTY_UPDATED = "property.updated", _("Property settings changed")
    FLOOR_SAVED = "structure.floor.saved", _("Floor saved")
    FLOOR_DELETED = "structure.floor.deleted", _("Floor deleted")
    AREA_SAVED = "structure.area.saved", _("Area saved")
    AREA_DELETED = "structure.area.deleted", _("Area deleted")
    ROOM_SAVED = "structure.room.saved", _("Room saved")
    ROOM_DELETED = "structure.room.deleted", _("Room deleted")
    # guest registry (custody.guests.vault)
    GUEST_CREATED = "guest.created", _("Guest created")
    GUEST_UPDATED = "guest.updated", _("Guest details changed")
    GUEST_RECORD_READ = "guest.record.read", _("Guest record read")
    GUEST_ERASED = "guest.erased", _("Guest erased (data key destroyed)")
    GUEST_DOCUMENT_ADDED = "guest.document.added", _("Identity document added")
    GUEST_DOCUMENT_UPDATED = "guest.document.updated", _("Identity document changed")
    GUEST_DOCUMENT_READ = "guest.document.read", _("Identity document read")
    STAY_CREATED = "stay.created", _("Stay created")
    STAY_UPDATED = "stay.updated", _("Stay changed")
    STAY_RECORD_READ = "stay.record.read", _("Stay record read")
    REGISTRATION_CREATED = "registration.created", _("Guest registered (check-in record)")
    REGISTRATION_READ = "registration.read", _("Registration record read")
    GUEST_LIST_READ = "guest.list.read", _("Guest list read")
    STAY_LOOKUP = "stay.lookup", _("Stay looked up by booking reference")
    # PMS import of stays (custody.guests.importer)
    IMPORT_UPLOADED = "import.stays.uploaded", _("Stay import file uploaded")
    IMPORT_CHECKED = "import.stays.checked", _("Stay import checked (dry run)")
    IMPORT_COMMITTED = "import.stays.committed", _("Stay import committed")
    IMPORT_FAILED = "import.stays.failed", _("Stay import refused or failed")
    IMPORT_DISCARDED = "import.stays.discarded", _("Stay import discarded")
    # the audit log itself
    AUDIT_LOG_VIEWED = "audit.log.viewed", _("Audit log viewed")
    AUDIT_LOG_EXPORTED = "audit.log.exported", _("Audit log exported")
    AUDIT_ENTRY_VIEWED = "audit.entry.viewed", _("Audit entry and proof viewed")
    AUDIT_TREE_HEAD_SIGNED = "audit.tree_head.signed", _("Tree head signed")
    # keys (custody keys rotate)
    KEYS_KEK_ROTATED = "keys.kek.rotated", _("Key-encryption key rotated")


class Outcome(models.TextChoices):
    ALLOWED = "allowed", _("Allowed")
    DENIED = "denied", _("Denied")
