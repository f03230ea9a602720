"""labharness: a hardware-in-the-loop test harness for VMware vSphere labs and HPE server builds."""

__version__ = "0.1.0"
