"""The allure children index (harness/pytest_plugin/allure_children.py): same results, O(1) `in`,
and no containers of nothing."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import allure_commons
import attr
import pytest
from allure_commons.model2 import TestResultContainer as Container
from allure_pytest.listener import AllureListener

from harness.pytest_plugin.allure_children import (
    PLUGIN_NAME,
    BackgroundWriter,
    IndexedList,
    index_children,
    look_up_fixtures_once,
    write_in_background,
)

# Fixtures of every scope, a parametrized one, one with a finalizer, tests that pass, fail,
# skip and error: each kind of container allure writes, with children shared by many tests.
PROJECT = """
    import pytest

    @pytest.fixture(scope="session")
    def shared():
        yield 1

    @pytest.fixture(scope="session")
    def other(shared):
        return shared + 1

    @pytest.fixture(scope="module")
    def per_module(request):
        request.addfinalizer(lambda: None)
        return 2

    @pytest.fixture(params=["a", "b"])
    def flavour(request):
        return request.param

    @pytest.fixture
    def broken():
        raise ValueError("no")

    @pytest.mark.parametrize("n", range(12))
    def test_many(shared, other, per_module, n):
        assert n < 11

    def test_flavours(shared, flavour):
        pass

    @pytest.fixture(scope="class")
    def per_class(shared):
        return 3

    class TestGroup:
        def test_one(self, per_class):
            pass

        def test_two(self, per_class, other):
            pytest.skip("not here")

    def test_broken(broken, shared):
        pass
"""


def _normalised(results: Path) -> dict[str, Any]:
    """The allure-results with what differs run to run (uuids, times, thread) taken out: uuids
    become the name of the test they stand for."""
    tests: dict[str, dict[str, Any]] = {}
    containers: list[dict[str, Any]] = []
    for path in sorted(results.glob("*.json")):
        data = json.loads(path.read_text(encoding="utf-8"))
        if path.name.endswith("-result.json"):
            tests[data.pop("uuid")] = data
        elif path.name.endswith("-container.json"):
            containers.append(data)

    def scrub(value: Any) -> Any:
        if isinstance(value, dict):
            return {k: scrub(v) for k, v in value.items() if k not in ("start", "stop", "uuid")}
        if isinstance(value, list):
            return [scrub(v) for v in value]
        return value

    names = {uuid: f"{t['fullName']}[{t.get('parameters')}]" for uuid, t in tests.items()}
    out_tests = sorted(json.dumps(scrub(t), sort_keys=True) for t in tests.values())
    out_containers = []
    for c in containers:
        c["children"] = [names[u] for u in c.get("children", [])]
        out_containers.append(json.dumps(scrub(c), sort_keys=True))
    return {"tests": out_tests, "containers": sorted(out_containers)}


# A second module with fixtures of the same names as the first's, and a class that overrides
# one: a fixture name resolves per module and class, never across them.
OTHER = """
    import pytest

    @pytest.fixture(scope="module")
    def per_module():
        return "other"

    @pytest.fixture
    def flavour():
        return "plain"

    def test_here(per_module, flavour):
        pass

    class TestOverride:
        @pytest.fixture
        def per_module(self):
            return "class"

        def test_there(self, per_module):
            pass
"""


def test_results_are_the_same_with_and_without_the_index(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_project=PROJECT, test_other=OTHER)
    runs = {}
    for label, extra in (("indexed", []), ("plain", ["-p", f"no:{PLUGIN_NAME}"])):
        out = pytester.path / f"allure-{label}"
        reprec = pytester.inline_run(f"--alluredir={out}", *extra)
        passed, skipped, failed = reprec.listoutcomes()
        assert (len(passed), len(skipped), len(failed)) == (16, 1, 2)
        config = reprec.getcall("pytest_sessionstart").session.config
        assert (config.pluginmanager.get_plugin(PLUGIN_NAME) is not None) == (label == "indexed")
        runs[label] = _normalised(out)
    assert len(runs["indexed"]["tests"]) == 19
    containers = runs["indexed"]["containers"]
    assert any('"shared"' in c and c.count("test_many") == 12 for c in containers)
    # plain allure also writes a container of no test for each parametrize argument (n)
    childless = [c for c in runs["plain"]["containers"] if json.loads(c)["children"] == []]
    assert len(childless) == 12 and all('"name": "n"' in c for c in childless)
    assert runs["indexed"]["tests"] == runs["plain"]["tests"]
    assert runs["indexed"]["containers"] == [c for c in runs["plain"]["containers"]
                                             if c not in childless]


def test_the_listener_of_this_allure_gets_indexed_containers() -> None:
    # If a new allure renames what this relies on, index_children returns False: this fails
    # and says to look again at allure_pytest/listener.py.
    listener = AllureListener(config=None)
    assert index_children(listener)
    assert look_up_fixtures_once(listener)  # the attributes its lookup replaces are there
    group = Container(uuid="g")
    listener.allure_logger.start_group("g", group)
    assert isinstance(group.children, IndexedList)
    listener.allure_logger.update_group("g", children="t1")
    listener.allure_logger.update_group("g", children="t2")
    assert "t1" in group.children and "t3" not in group.children
    assert attr.asdict(group)["children"] == ["t1", "t2"]
    assert type(attr.asdict(group)["children"]) is list
    written: list[Any] = []

    class Sink:
        @allure_commons.hookimpl
        def report_container(self, container: Any) -> None:
            written.append(container.uuid)

    sink = Sink()
    allure_commons.plugin_manager.register(sink)
    try:
        listener.allure_logger.start_group("empty", Container(uuid="empty"))
        listener.allure_logger.stop_group("empty")
        listener.allure_logger.stop_group("g")
    finally:
        allure_commons.plugin_manager.unregister(sink)
    assert written == ["g"]
    assert listener.allure_logger.get_item("empty") is None


def test_index_children_leaves_an_unknown_listener_alone() -> None:
    class Other:
        allure_logger = object()

    assert not index_children(Other())
    assert not look_up_fixtures_once(Other())


def test_indexed_list_membership_follows_every_change() -> None:
    items = IndexedList(["a", "b"])
    items.append("c")
    items.extend(["d", "a"])
    items.insert(0, "e")
    items += ["f"]
    items.remove("a")  # the second "a" stays
    assert "a" in items
    items.remove("a")
    assert "a" not in items
    items.pop()
    assert "f" not in items
    items[0] = "g"
    assert "e" not in items and "g" in items
    del items[0]
    assert "g" not in items
    assert items == ["b", "c", "d"] and all(x in items for x in items)
    items.clear()
    assert "b" not in items and items == []


def test_the_writer_writes_what_allure_would_and_raises_what_failed(tmp_path: Path) -> None:
    """Result files written by the thread are allure's own, under allure's name pattern, all on
    disk once closed; a write that fails is raised by the next report and by close."""
    from allure_commons.logger import AllureFileLogger
    from allure_commons.model2 import TestResult

    plain_dir, threaded_dir = tmp_path / "plain", tmp_path / "threaded"
    plain, threaded = AllureFileLogger(plain_dir), AllureFileLogger(threaded_dir)
    allure_commons.plugin_manager.register(threaded)
    try:
        writer = write_in_background(str(threaded_dir))
        assert writer is not None and write_in_background(str(threaded_dir)) is None  # once
    finally:
        allure_commons.plugin_manager.unregister(threaded)
    assert write_in_background(str(tmp_path / "nobody")) is None
    results = [TestResult(uuid=f"u{i}", name=f"test_{i}", status="passed", start=i, stop=i,
                          parameters=[], labels=[]) for i in range(50)]
    for result in results:
        plain.report_result(result)
        threaded.report_result(result)
    writer.close()

    def files(where: Path) -> list[dict[str, Any]]:
        assert all(p.name.endswith("-result.json") for p in where.iterdir())
        return sorted((json.loads(p.read_text()) for p in where.iterdir()),
                      key=lambda d: d["uuid"])

    assert len(files(threaded_dir)) == 50 and files(threaded_dir) == files(plain_dir)

    gone = tmp_path / "gone"
    logger = AllureFileLogger(gone)
    failing = BackgroundWriter(logger)
    gone.rmdir()  # the results directory vanished (or its disk filled up)
    logger.report_result(results[0])
    with pytest.raises(FileNotFoundError):
        failing.close()
    with pytest.raises(FileNotFoundError):
        logger.report_result(results[1])
