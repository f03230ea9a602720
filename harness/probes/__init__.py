"""Packet-level measurements that probe agents run inside the lab, one module per probe.

These modules run on the probe host, not in the harness: `harness.drivers.probe.remote` copies
them to a Linux host that has only python3 and scapy, so they import nothing but the standard
library, scapy (lazily, inside functions, so that the harness can import the result types
without paying for scapy) and each other through relative imports. Each probe module holds its
agent-side function and the typed result it returns; results travel as JSON through
`to_dict`/`from_dict`.
"""
