"""Drivers: one transport each (vsphere, redfish, ssh, probe), typed results, no pytest."""
