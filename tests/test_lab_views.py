"""Lab views worked out once per lab object (harness/lab/views.py `_derived`)."""

from __future__ import annotations

import gc

from harness.lab import load_lab
from harness.lab.views import (
    _DERIVED,
    _expected_neighbours,
    _host_port_groups,
    expected_neighbours,
    host_port_groups,
)
from tests.conftest import SIM_LAB


def test_kept_views_are_the_computed_ones_and_callers_get_their_own_copy() -> None:
    lab = load_lab(SIM_LAB)
    host = next(iter(lab.hosts))
    first = host_port_groups(lab, host)
    assert first == _host_port_groups(lab, host) and first
    first.clear()
    assert host_port_groups(lab, host) == _host_port_groups(lab, host)
    cabled = expected_neighbours(lab)
    assert cabled == _expected_neighbours(lab) and cabled
    cabled.popitem()
    assert expected_neighbours(lab) == _expected_neighbours(lab)


def test_a_changed_copy_of_a_lab_gets_its_own_views() -> None:
    lab = load_lab(SIM_LAB)
    before = expected_neighbours(lab)
    cable = lab.cabling[0]
    (host, vmnic), (switch, _) = cable.ends
    moved = cable.model_copy(update={"b": f"{switch}/Moved1/0/99"})
    changed = lab.model_copy(update={"cabling": [moved, *lab.cabling[1:]]})
    assert expected_neighbours(changed)[(host, vmnic)][1] == "Moved1/0/99"
    assert expected_neighbours(lab) == before


def test_a_collected_lab_leaves_nothing_behind() -> None:
    lab = load_lab(SIM_LAB)
    expected_neighbours(lab)
    address = id(lab)
    assert address in _DERIVED
    del lab
    gc.collect()
    assert address not in _DERIVED
