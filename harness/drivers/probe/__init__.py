"""Probe driver: persistent scapy agents in lab namespaces, or on probe hosts over SSH.

`client` is the harness side (`AgentPool`, `AgentClient`, typed results), `host` forks one
agent per local network namespace, `agent` is the agent loop itself, `remote` runs the same
agent on a Linux probe host over SSH, `transport` carries the JSON lines, `errors` is the
exception family. Nothing is imported here, so that `agent` stays importable on a probe host
that has only python3 and scapy.
"""
