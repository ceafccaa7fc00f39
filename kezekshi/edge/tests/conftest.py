"""Fixtures of the edge tests: the access app's school (door, groups, turnstile, a pupil
with a card) and a gateway device of that school with its secret."""

from __future__ import annotations

import pytest
from django.test import Client

from kezekshi.access import services
from kezekshi.access.tests.conftest import (  # noqa: F401 - fixtures used by the tests
    Terminal,
    building,
    card,
    groups,
    main_door,
    shifts,
    turnstile,
)
from kezekshi.core.models import School


@pytest.fixture
def gateway(school: School) -> Terminal:
    device, secret = services.register_device(
        school=school, name="Edge gateway", kind="edge_gateway", door=None
    )
    return Terminal(device, secret, Client())
