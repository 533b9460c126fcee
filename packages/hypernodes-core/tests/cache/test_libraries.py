"""Library detection: library code is represented by its version, user code is walked."""

from __future__ import annotations

import io
import sys
import threading

import pytest

from hypernodes.cache import _libraries
from hypernodes.cache._libraries import library_base, library_marker, opaque_base, qualified_name


def test_all_is_pinned() -> None:
    assert _libraries.__all__ == sorted(_libraries.__all__)
    assert set(_libraries.__all__) == {"library_base", "library_marker", "opaque_base", "qualified_name"}


def test_library_marker_names_the_distribution_or_stdlib() -> None:
    assert library_marker("json.decoder") == f"stdlib@{sys.version_info[0]}.{sys.version_info[1]}"
    assert library_marker("_pytest.fixtures") == f"pytest=={pytest.__version__}"
    assert library_marker(__name__) is None  # user code


class UserClass:
    pass


class UserBuffer(io.StringIO):
    pass


def test_opaque_base_names_the_first_class_implemented_in_c() -> None:
    assert opaque_base(UserClass) is None
    assert opaque_base(UserBuffer) == "_io.StringIO"
    assert opaque_base(type(threading.Lock())) == "_thread.lock"


def test_library_base_names_the_first_library_class() -> None:
    assert library_base(UserClass) is None
    assert library_base(pytest.MonkeyPatch) == qualified_name(pytest.MonkeyPatch)


def test_qualified_name_of_functions_classes_modules_and_instances() -> None:
    assert qualified_name(test_all_is_pinned) == f"{__name__}.test_all_is_pinned"
    assert qualified_name(UserClass) == f"{__name__}.UserClass"
    assert qualified_name(UserClass()) == f"{__name__}.UserClass"
    assert qualified_name(sys) == "sys"
