"""The previous run of the lab, as this session compares with it: its facts (a facts.json).

`labharness run` finds the last run of the lab in the history database and hands its facts to
the session as a file (`--previous-facts`); a plain pytest run can point at any run's
facts.json. The session only reads what it compares with, as facts: the checks never open the
history themselves.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from harness.errors import OptionError
from harness.facts.flat import VSPHERE


@dataclass(frozen=True)
class PreviousRun:
    """What the previous run of this lab read that this session compares with.

    Attributes:
        source: where these facts come from (for notes and evidence).
        boot_times: host -> runtime.bootTime as that run read it.
    """

    source: str
    boot_times: dict[str, datetime] = field(default_factory=dict)


def load_previous(path: Path) -> PreviousRun:
    """Read a run's facts.json.

    Raises:
        OptionError: the file is missing or not a facts.json (says which and what is needed).
    """
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise OptionError(f"--previous-facts {path}: {exc.strerror}; give the facts.json of an "
                          "earlier run of this lab") from None
    except ValueError as exc:
        raise OptionError(f"--previous-facts {path}: not JSON ({exc})") from None
    layer = data.get(VSPHERE, {}) if isinstance(data, dict) else None
    if not isinstance(layer, dict):
        raise OptionError(f"--previous-facts {path}: not a facts.json (an object of layers, "
                          f"with {VSPHERE!r} -> subject -> facts)")
    boots: dict[str, datetime] = {}
    for subject, facts in layer.items():
        text = facts.get("boot_time") if isinstance(facts, dict) else None
        if not text:
            continue
        try:
            when = datetime.fromisoformat(str(text))
        except ValueError:
            raise OptionError(f"--previous-facts {path}: {VSPHERE}.{subject}.boot_time "
                              f"{text!r} is not an ISO 8601 time") from None
        boots[subject] = when if when.tzinfo else when.replace(tzinfo=UTC)
    return PreviousRun(str(path), boots)
