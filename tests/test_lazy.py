"""``musicgraph.lazy``: the lazy and the moved-name module ``__getattr__`` factories."""

from __future__ import annotations

import pytest

from musicgraph.lazy import lazy_getattr, moved_getattr


def test_lazy_getattr_imports_the_named_module_on_use() -> None:
    get = lazy_getattr("pkg", {"OrderedDict": "collections"})
    from collections import OrderedDict

    assert get("OrderedDict") is OrderedDict
    with pytest.raises(AttributeError, match="module 'pkg' has no attribute 'nope'"):
        get("nope")


def test_moved_getattr_warns_and_returns_the_new_object_under_its_new_name() -> None:
    get = moved_getattr("old.mod", {"Dict": "collections:OrderedDict"})
    from collections import OrderedDict

    with pytest.warns(DeprecationWarning, match=r"^old\.mod\.Dict is deprecated; use collections\.OrderedDict$"):
        assert get("Dict") is OrderedDict
    with pytest.raises(AttributeError, match="module 'old.mod' has no attribute 'OrderedDict'"):
        get("OrderedDict")  # only the old names are served, not the whole new module
