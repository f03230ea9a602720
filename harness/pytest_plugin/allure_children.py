"""Constant-time "is this test already a child of this fixture?" for allure-pytest.

allure-pytest (2.16.2, the latest release) calls `AllureListener._update_fixtures_children`
(allure_pytest/listener.py) after the setup and after the call of every test. For every fixture
the test uses it asks `if uuid not in group.children:` and appends the test's uuid if not.
`children` is a plain list of every test that used the fixture so far, so a session fixture used
by N tests costs O(N) per test and O(N^2) per session: ~26 s of CPU in a 9,000-test run of a
32-host lab, more than any of our own code.

The fix gives each fixture container, as allure creates it (`AllureReporter.start_group`), a
children list that also keeps a set of its items. It stays a list (allure appends to it because
`isinstance(attr, list)`; `attr.asdict` writes it as a plain list), same items in the same order,
so the allure-results files are the same; only `in` is O(1). It is a separate plugin,
registered as `labharness-allure-children`, so `-p no:labharness-allure-children` runs allure
untouched (tests/test_allure_children.py compares the two; bench/allure_children.py times them).
If allure's listener or reporter no longer has the attributes this relies on, nothing is patched.

The same plugin leaves out the fixture containers no test is a child of. allure-pytest makes a
container for every argument of `@pytest.mark.parametrize` (pytest gives each a pseudo-fixture)
but never links it to the test, because it looks fixtures up by name in pytest's fixture manager,
where pseudo-fixtures are not. Allure shows a container only through its children, so these
files say nothing; in a 32-host run they were 9,250 of the 18,600 files allure wrote, and writing
them was about 3 s of the session's one busy core.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any, SupportsIndex

import pytest

PLUGIN_NAME = "labharness-allure-children"


class IndexedList(list[Any]):
    """A list that answers `in` from a set of its items (which must be hashable).

    Every mutating method keeps the set in step; the list itself is what gets serialised.
    """

    def __init__(self, items: Iterable[Any] = ()) -> None:
        super().__init__(items)
        self._members: set[Any] = set(self)

    def __contains__(self, item: object) -> bool:
        return item in self._members

    def append(self, item: Any) -> None:
        super().append(item)
        self._members.add(item)

    def extend(self, items: Iterable[Any]) -> None:
        items = list(items)
        super().extend(items)
        self._members.update(items)

    def insert(self, index: SupportsIndex, item: Any) -> None:
        super().insert(index, item)
        self._members.add(item)

    def __iadd__(self, items: Iterable[Any]) -> IndexedList:  # type: ignore[misc]
        self.extend(items)
        return self

    # Removals may leave another copy of the item in the list: recount from the list.
    def remove(self, item: Any) -> None:
        super().remove(item)
        self._members = set(self)

    def pop(self, index: SupportsIndex = -1) -> Any:
        item = super().pop(index)
        self._members = set(self)
        return item

    def clear(self) -> None:
        super().clear()
        self._members.clear()

    def __setitem__(self, index: Any, value: Any) -> None:
        super().__setitem__(index, value)
        self._members = set(self)

    def __delitem__(self, index: Any) -> None:
        super().__delitem__(index)
        self._members = set(self)


def index_children(listener: Any) -> bool:
    """Make the fixture containers `listener` (an allure `AllureListener`) creates from now on
    keep an indexed children list. Returns whether it did (False: not the allure we know)."""
    reporter: Any = getattr(listener, "allure_logger", None)
    start_group: Callable[[Any, Any], None] | None = getattr(reporter, "start_group", None)
    if start_group is None or not hasattr(listener, "_update_fixtures_children"):
        return False

    def start_indexed_group(uuid: Any, group: Any) -> None:
        children = getattr(group, "children", None)
        if type(children) is list:
            group.children = IndexedList(children)
        start_group(uuid, group)

    reporter.start_group = start_indexed_group
    stop_group: Callable[..., None] | None = getattr(reporter, "stop_group", None)
    drop: Callable[[Any], Any] | None = getattr(getattr(reporter, "_items", None), "pop", None)
    get_item: Callable[[Any], Any] | None = getattr(reporter, "get_item", None)
    if stop_group is not None and drop is not None and get_item is not None:

        def stop_group_with_children(uuid: Any, **kwargs: Any) -> None:
            group = get_item(uuid)
            if group is not None and getattr(group, "children", None) == [] \
                    and not kwargs.get("children"):
                drop(uuid)  # a container of nothing: Allure would show it nowhere
                return
            stop_group(uuid, **kwargs)

        reporter.stop_group = stop_group_with_children
    return True


class AllureChildrenIndex:
    """The pytest plugin: patches the session's allure listener once it is registered."""

    @pytest.hookimpl(tryfirst=True)
    def pytest_sessionstart(self, session: pytest.Session) -> None:
        # allure registers its listener in its own pytest_configure (only with --alluredir);
        # by session start every plugin is configured and no fixture has run yet.
        listener = session.config.pluginmanager.get_plugin("allure_listener")
        if listener is not None:
            index_children(listener)
