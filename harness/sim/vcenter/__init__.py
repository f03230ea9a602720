"""The simulated vCenter: govmomi's simulator extended by our Go program (`lh-vcsim`, in this
folder), and the Python side that builds it, derives its spec from a lab and runs it."""

from harness.sim.vcenter.launcher import (
    VcsimBuildError,
    VcsimError,
    VcsimProcess,
    VcsimSpecError,
    VcsimStartError,
    build_binary,
    build_govc,
    spec_from_lab,
)

__all__ = [
    "VcsimBuildError",
    "VcsimError",
    "VcsimProcess",
    "VcsimSpecError",
    "VcsimStartError",
    "build_binary",
    "build_govc",
    "spec_from_lab",
]
