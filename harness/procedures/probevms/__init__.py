"""Probe VMs for a real or nested lab: plan, deploy, remove (journaled) and verify.

`plan` compares the lab's switches and uplinks with what vCenter has; `apply` makes (and
undoes) the changes through the vSphere driver, journaling each one (`journal`); `verify`
proves the probe VMs work: SSH, python3 and scapy, the right NICs, tagged frames both ways.
"""
