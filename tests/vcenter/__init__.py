"""Tests of the simulated vCenter (lh-vcsim) driven through pyVmomi."""
