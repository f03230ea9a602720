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

Two more costs of allure-pytest that grow with the number of tests are cut here, with the same
files as the result:
- `_update_fixtures_children` looks up every fixture of the test in pytest's fixture manager,
  twice per test. The fixtures a name resolves to are the same for every test of one module or
  class (pytest matches them by the node's parents), so each (name, parent) is looked up once.
- `AllureFileLogger` writes each result as the test ends: `json.dump` (pure-Python streaming)
  into a new file, then a rename. The result is serialised as before but with `json.dumps` (the
  C encoder, same text), and the file is written and renamed by a writer thread. Together they
  were about 4 s of the main thread in a 32-host run. The files are all on disk before pytest
  returns (a cleanup waits for the writer); a write that fails is raised in the session as
  allure's own would have been.
"""

from __future__ import annotations

import json
import os
import queue
import threading
import uuid
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any, SupportsIndex

import allure_commons
import attr
import pytest
from allure_commons.logger import AllureFileLogger

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


def look_up_fixtures_once(listener: Any) -> bool:
    """Make `listener._update_fixtures_children` resolve each fixture name once per module or
    class instead of once per test and phase. Returns whether it did."""
    cache: Any = getattr(listener, "_cache", None)
    reporter: Any = getattr(listener, "allure_logger", None)
    if cache is None or reporter is None or not hasattr(listener, "_update_fixtures_children"):
        return False
    from allure_commons.model2 import TestResultContainer
    from allure_pytest.compat import getfixturedefs

    resolved: dict[tuple[str, Any], tuple[Any, ...]] = {}

    def fixturedefs(item: Any) -> Iterable[Any]:
        request = getattr(item, "_request", None)
        manager = item.session._fixturemanager
        for name in getattr(request, "fixturenames", ()):
            key = (name, item.parent)  # pytest matches fixtures by the item's parents
            if key not in resolved:
                resolved[key] = tuple(getfixturedefs(manager, name, item) or ())
            yield from resolved[key]

    def update_fixtures_children(item: Any) -> None:  # allure's, with the lookup above
        test_uuid = cache.get(item.nodeid)
        for fixturedef in fixturedefs(item):
            group_uuid = cache.get(fixturedef)
            if group_uuid:
                group = reporter.get_item(group_uuid)
            else:
                group_uuid = cache.push(fixturedef)
                group = TestResultContainer(uuid=group_uuid)
                reporter.start_group(group_uuid, group)
            if test_uuid not in group.children:
                reporter.update_group(group_uuid, children=test_uuid)

    listener._update_fixtures_children = update_fixtures_children
    return True


class BackgroundWriter:
    """Writes what an `AllureFileLogger` reports on a thread (see the module's docstring)."""

    def __init__(self, logger: AllureFileLogger) -> None:
        self._dir = Path(logger._report_dir)
        self._todo: queue.SimpleQueue[tuple[str, str] | None] = queue.SimpleQueue()
        self._failed: OSError | None = None
        self._thread = threading.Thread(target=self._write_all, name="lh-allure-writer",
                                         daemon=True)
        self._thread.start()
        logger._report_item = self.report_item  # type: ignore[method-assign]

    def report_item(self, item: Any) -> None:
        """allure's `_report_item`: the same file name pattern and content, written later."""
        if self._failed is not None:
            raise self._failed
        indent = 4 if os.environ.get("ALLURE_INDENT_OUTPUT") else None
        filename = item.file_pattern.format(prefix=uuid.uuid4())
        data = attr.asdict(item, filter=lambda _, v: v or v is False)
        self._todo.put((filename, json.dumps(data, indent=indent, ensure_ascii=False)))

    def _write_all(self) -> None:
        while (job := self._todo.get()) is not None:
            if self._failed is not None:
                continue
            filename, text = job
            try:
                tmp = self._dir / f"{filename}.tmp"
                tmp.write_text(text, encoding="utf8")
                os.replace(tmp, self._dir / filename)
            except OSError as exc:
                self._failed = exc

    def close(self) -> None:
        """Wait until every reported file is on disk; raise the first write that failed."""
        self._todo.put(None)
        self._thread.join()
        if self._failed is not None:
            raise self._failed


def write_in_background(report_dir: str) -> BackgroundWriter | None:
    """A writer for the `AllureFileLogger` allure registered for `report_dir`, or None."""
    target = Path(os.path.abspath(report_dir))
    for plugin in allure_commons.plugin_manager.get_plugins():
        if (type(plugin) is AllureFileLogger and getattr(plugin, "_report_dir", None) == target
                and "_report_item" not in vars(plugin)):
            return BackgroundWriter(plugin)
    return None


class AllureChildrenIndex:
    """The pytest plugin: patches the session's allure listener once it is registered."""

    @pytest.hookimpl(tryfirst=True)
    def pytest_sessionstart(self, session: pytest.Session) -> None:
        # allure registers its listener in its own pytest_configure (only with --alluredir);
        # by session start every plugin is configured and no fixture has run yet.
        listener = session.config.pluginmanager.get_plugin("allure_listener")
        if listener is None:
            return
        index_children(listener)
        look_up_fixtures_once(listener)
        report_dir = getattr(session.config.option, "allure_report_dir", None)
        writer = write_in_background(report_dir) if report_dir else None
        if writer is not None:  # runs before allure's own cleanup unregisters its logger
            session.config.add_cleanup(writer.close)
