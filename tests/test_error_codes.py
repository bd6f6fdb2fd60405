"""Each area defines its own error codes; the GraphQL enum UserErrorCode is their union."""

import importlib
import pkgutil
from collections import Counter

from tandem import domain
from tandem.domain.shared.errors import ErrorCode
from tandem.schema.errors import AREA_ERROR_CODES, UserErrorCode


def test_every_area_code_is_a_user_error_code():
    # given every code of every area
    values = {code.value for area in AREA_ERROR_CODES for code in area}
    # then the GraphQL enum has each, and nothing else
    assert {c.value for c in UserErrorCode} == values


def test_no_code_is_defined_twice():
    counts = Counter(code.value for area in AREA_ERROR_CODES for code in area)
    assert [value for value, n in counts.items() if n > 1] == []


def test_every_area_enum_is_listed():
    # given every enum of error codes an area's errors module defines
    for module in pkgutil.walk_packages(domain.__path__, "tandem.domain."):
        if module.name.endswith(".errors"):
            importlib.import_module(module.name)
    defined = set(ErrorCode.__subclasses__())
    # then the schema builds UserErrorCode from each of them
    assert defined == set(AREA_ERROR_CODES)
