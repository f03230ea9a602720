"""A script written the way pyvmomi-community-samples' get_hosts_vswitch.py and
get_hosts_vnic.py are (argparse -s/-o/-u/-p, SmartConnect with default TLS verification,
a ContainerView of hosts, attribute walks) runs unchanged against the configured simulator, and
what it prints agrees with the driver's snapshot."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

from harness.drivers.vsphere import VsphereDriver
from harness.sim.vcenter import VcsimProcess
from tests.vsphere.conftest import PASSWORD, USER

SCRIPT = textwrap.dedent('''\
    #!/usr/bin/env python
    """List every host's vSwitches and VMkernel NICs."""
    import argparse
    import atexit
    import sys

    from pyVim.connect import Disconnect, SmartConnect
    from pyVmomi import vim


    def get_args():
        parser = argparse.ArgumentParser(description="Standard Arguments for talking to vCenter")
        parser.add_argument("-s", "--host", required=True, action="store")
        parser.add_argument("-o", "--port", type=int, default=443, action="store")
        parser.add_argument("-u", "--user", required=True, action="store")
        parser.add_argument("-p", "--password", required=False, action="store")
        return parser.parse_args()


    def get_vm_hosts(content):
        host_view = content.viewManager.CreateContainerView(content.rootFolder,
                                                            [vim.HostSystem],
                                                            True)
        hosts = list(host_view.view)
        host_view.Destroy()
        return hosts


    def main():
        args = get_args()
        si = SmartConnect(host=args.host, user=args.user, pwd=args.password, port=args.port)
        atexit.register(Disconnect, si)
        content = si.RetrieveContent()
        for host in get_vm_hosts(content):
            print(f"Host: {host.name}")
            for vswitch in host.config.network.vswitch:
                print(f"vSwitch {vswitch.name} mtu {vswitch.mtu} pnics {len(vswitch.pnic)}")
            for vnic in host.config.network.vnic:
                print(f"Device is {vnic.device}")
                print(f"Portgroup is {vnic.portgroup}")
                print(f"IP address is {vnic.spec.ip.ipAddress}")
                print(f"Subnet mask is {vnic.spec.ip.subnetMask}")
                print(f"MTU is {vnic.spec.mtu}")


    if __name__ == "__main__":
        sys.exit(main())
    ''')


def test_community_style_listing_runs_unchanged(vcsim: VcsimProcess, driver: VsphereDriver,
                                                tmp_path: Path) -> None:
    script = tmp_path / "get_hosts_vswitch_vnic.py"
    script.write_text(SCRIPT, encoding="utf-8")
    # The script verifies TLS with Python's defaults; trust the simulator's certificate.
    env = {**os.environ, "SSL_CERT_FILE": str(vcsim.cert_file)}
    result = subprocess.run(
        [sys.executable, str(script), "-s", vcsim.host, "-o", str(vcsim.port), "-u", USER,
         "-p", PASSWORD], env=env, capture_output=True, text=True, timeout=120, check=False)
    assert result.returncode == 0, result.stderr
    expected: list[str] = []
    snap = driver.snapshot()
    for name in sorted(snap.hosts):
        host = snap.hosts[name]
        expected.append(f"Host: {name}")
        for vs in host.vswitches.values():
            expected.append(f"vSwitch {vs.name} mtu {vs.mtu} pnics {len(vs.uplinks)}")
        for vmk in host.vmknics.values():
            assert vmk.ip is not None
            expected += [f"Device is {vmk.device}", f"Portgroup is {vmk.port_group or ''}",
                         f"IP address is {vmk.ip.ip}", f"Subnet mask is {vmk.ip.netmask}",
                         f"MTU is {vmk.mtu}"]
    blocks = result.stdout.split("Host: ")[1:]
    got = [line for block in sorted(blocks) for line in f"Host: {block}".splitlines()]
    assert got == expected
