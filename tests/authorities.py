"""Test-only ways to get the read gate's authority (custody.authority): never a forged one.

``readback(prop)`` is the system authority ``system.test_readback``: the gate makes it only for modules under
tests/ and never while a web request is being handled. Tests that prove forged or mismatched authorities fail build
those themselves, visibly.
"""

from __future__ import annotations

from custody import authority
from custody.authority import ReadAuthority
from custody.properties.models import Property


def readback(prop: Property) -> ReadAuthority:
    """Read back, through the vault, what a test wrote at this property (any record, any field; audited)."""
    return authority.system(prop, authority.SYSTEM_TEST_READBACK)
