"""Tests of the HPE iLO Redfish emulator (harness/sim/ilo) and of real clients against it."""
