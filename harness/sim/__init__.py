"""The simulated lab: data plane (namespaces, bridges, veth, VXLAN, nftables, lldpd, sshd),
scenarios (the field incidents as faults) and the lifecycle that brings it up and down."""
