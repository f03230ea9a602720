package main

import (
	"encoding/json"
	"fmt"
	"os"
	"sort"
	"strings"

	"github.com/vmware/govmomi/vim25/types"
)

// esxcli's hardware commands: the host's physical NICs (network nic list / get) and storage
// adapters (storage core adapter list). The vmnics are the host's configured pnics; their
// link is the kernel's carrier on the data plane's vmnic interface; driver, description and
// speed are what ESXi's driver for the lab's adapter model reports (HostSpec.Nics); firmware
// and the storage functions follow the server's adapter state as the BMC emulator last
// applied it (HostSpec.Hardware): a FlexFabric port in iSCSI personality gives the host a
// dependent hardware iSCSI adapter, in FCoE personality an FCoE adapter instead, as ESXi
// enumerates the PCI functions the adapter presents after POST.

// hardwareState is the BMC emulator's applied adapter state (harness/sim/ilo/hardware.py).
type hardwareState struct {
	Servers map[string]struct {
		Power    string `json:"power"`
		Adapters []struct {
			Name     string `json:"name"`
			Model    string `json:"model"`
			Firmware string `json:"firmware"`
			Ports    []struct {
				Number      int    `json:"number"`
				Vmnic       string `json:"vmnic"`
				Personality string `json:"personality"`
			} `json:"ports"`
		} `json:"adapters"`
	} `json:"servers"`
}

// hwPort is one vmnic's adapter port as the hardware state says it is now.
type hwPort struct {
	firmware    string
	personality string
}

// hardware reads the applied state for this host's server (nil: no BMC emulator, then the
// spec's static values stand). A state file that exists but cannot be read is a fault: the
// host would otherwise report hardware the BMC does not have.
func (c *esxcliCall) hardware() (map[string]hwPort, *cliFault) {
	hw := c.ns.spec.Hardware
	if hw == nil || hw.File == "" {
		return nil, nil
	}
	raw, err := os.ReadFile(hw.File)
	if os.IsNotExist(err) {
		return nil, nil
	}
	if err != nil {
		return nil, faultf("reading the server's hardware state %s: %v", hw.File, err)
	}
	var st hardwareState
	if err := json.Unmarshal(raw, &st); err != nil {
		return nil, faultf("reading the server's hardware state %s: %v", hw.File, err)
	}
	server, ok := st.Servers[hw.Server]
	if !ok {
		return nil, nil
	}
	out := map[string]hwPort{}
	for _, a := range server.Adapters {
		for _, p := range a.Ports {
			if p.Vmnic != "" {
				out[p.Vmnic] = hwPort{firmware: a.Firmware, personality: p.Personality}
			}
		}
	}
	return out, nil
}

// pnicInfo is what the host's configuration says about one vmnic.
type pnicInfo struct {
	device, pci, driver, mac string
}

func (c *esxcliCall) pnics() []pnicInfo {
	var out []pnicInfo
	c.ctx.WithLock(c.host, func() {
		for _, p := range c.ns.NetworkInfo.Pnic {
			out = append(out, pnicInfo{device: p.Device, pci: p.Pci, driver: p.Driver, mac: p.Mac})
		}
	})
	sort.Slice(out, func(i, j int) bool { return vmnicIndex(out[i].device) < vmnicIndex(out[j].device) })
	return out
}

func vmnicIndex(name string) int {
	var n int
	_, _ = fmt.Sscanf(name, "vmnic%d", &n)
	return n
}

// nicState is one vmnic as esxcli shows it.
type nicState struct {
	pnicInfo
	spec    NicSpec
	admin   bool
	carrier bool
	mtu     int64
}

func (c *esxcliCall) nicStates() ([]nicState, *cliFault) {
	links := map[string]kernelLink{}
	if c.ns.spec.Netns != "" {
		var f *cliFault
		if links, f = c.links(); f != nil {
			return nil, f
		}
	}
	var out []nicState
	for _, p := range c.pnics() {
		s := nicState{pnicInfo: p, spec: c.ns.spec.Nics[p.device], mtu: c.vmnicMTU(p.device)}
		if s.spec.Driver == "" { // a vmnic the lab's hardware does not describe
			s.spec.Driver, s.spec.Description = p.driver, "VMware Inc. vmxnet3 Virtual Ethernet Controller"
			s.spec.SpeedMb = 10000
		}
		if c.ns.spec.Netns == "" { // no data plane: every port up, as a bare simulator shows them
			s.admin, s.carrier = true, true
		} else if l, ok := links[p.device]; ok {
			s.admin, s.carrier = l.has("UP"), l.has("LOWER_UP")
		} else {
			s.admin = true // an uncabled port: enabled, no link
		}
		out = append(out, s)
	}
	return out, nil
}

func upDown(v bool) string {
	if v {
		return "Up"
	}
	return "Down"
}

func runNicList(c *esxcliCall) (*esxcliResult, *cliFault) {
	nics, f := c.nicStates()
	if f != nil {
		return nil, f
	}
	res := &esxcliResult{array: true}
	for _, n := range nics {
		speed, duplex := int64(0), "Half"
		if n.carrier {
			speed, duplex = int64(n.spec.SpeedMb), "Full"
		}
		res.records = append(res.records, &record{kind: "Nic", fields: map[string]any{
			"Name": n.device, "PCIDevice": n.pci, "Driver": n.spec.Driver,
			"AdminStatus": upDown(n.admin), "LinkStatus": upDown(n.carrier), "Link": upDown(n.carrier),
			"Speed": long(speed), "Duplex": duplex, "MACAddress": n.mac, "MTU": long(n.mtu),
			"Description": n.spec.Description}})
	}
	return res, nil
}

func runNicGet(c *esxcliCall) (*esxcliResult, *cliFault) {
	name := c.args.Value("nicname")
	nics, f := c.nicStates()
	if f != nil {
		return nil, f
	}
	hw, f := c.hardware()
	if f != nil {
		return nil, f
	}
	for _, n := range nics {
		if n.device != name {
			continue
		}
		firmware := n.spec.Firmware
		if p, ok := hw[name]; ok && p.firmware != "" {
			firmware = p.firmware
		}
		fiber := n.spec.SpeedMb >= 10000
		cable, ports, modes := "Twisted Pair", []string{"TP"}, []string{"Auto", "1000BaseT/Full"}
		if fiber {
			cable, ports, modes = "FIBRE", []string{"FIBRE"}, []string{"Auto", "10000BaseSR/Full"}
		}
		info := &record{kind: "NICInfo", fields: map[string]any{
			"Name": name, "LinkStatus": upDown(n.carrier), "LinkDetected": boolean(n.carrier),
			"AdvertisedAutoNegotiation": boolean(!fiber), "AdvertisedLinkModes": modes,
			"AutoNegotiation": boolean(!fiber), "CableType": cable, "CurrentMessageLevel": "0",
			"PHYAddress": "0", "PauseAutonegotiate": boolean(!fiber), "PauseRX": boolean(true),
			"PauseTX": boolean(true), "SupportedPorts": ports,
			"SupportsAutoNegotiation": boolean(!fiber), "SupportsPause": boolean(true),
			"SupportsWakeon": boolean(!fiber), "Transceiver": "internal", "VirtualAddress": n.mac,
			"Wakeon": []string{"None"},
			"DriverInfo": &record{kind: "DriverInfo", fields: map[string]any{
				"BusInfo": n.pci, "Driver": n.spec.Driver, "Version": n.spec.DriverVersion,
				"FirmwareVersion": firmwareString(n.spec.Driver, firmware)}}}}
		return &esxcliResult{records: []*record{info}}, nil
	}
	return nil, faultf("Unable to find NIC %s", name)
}

// firmwareString is the adapter firmware the way each driver family prints it: the QLogic/
// Broadcom 57810 drivers show the boot code version ("bc 7.13.75"), tg3 the family firmware
// ("FFV20.16.41"), Intel drivers the NVM version as it is.
func firmwareString(driver, firmware string) string {
	switch {
	case firmware == "":
		return "N/A"
	case strings.HasPrefix(driver, "bnx2") || strings.HasPrefix(driver, "qfle3"):
		return "bc " + firmware
	case strings.HasSuffix(driver, "tg3"):
		return "FFV" + firmware
	}
	return firmware
}

// -- storage core adapter list ---------------------------------------------------------------

// runAdapterList lists the host's local HBAs (its configured storage device info) and, after
// them from vmhba32 up, the storage functions of its converged adapters: a dependent hardware
// iSCSI adapter for each port in iSCSI personality, an FCoE adapter for each port in FCoE
// personality (UID from the port's MAC: WWNN 10:00:<mac>, WWPN 20:00:<mac>).
func runAdapterList(c *esxcliCall) (*esxcliResult, *cliFault) {
	hw, f := c.hardware()
	if f != nil {
		return nil, f
	}
	nics, f := c.nicStates()
	if f != nil {
		return nil, f
	}
	res := &esxcliResult{array: true}
	c.ctx.WithLock(c.host, func() {
		if c.host.Config.StorageDevice == nil {
			return
		}
		for _, b := range c.host.Config.StorageDevice.HostBusAdapter {
			hba := b.GetHostHostBusAdapter()
			uid := "ide." + hba.Device
			if _, ok := b.(*types.HostParallelScsiHba); ok {
				uid = "pscsi." + hba.Device
			}
			res.records = append(res.records, &record{kind: "ScsiAdapter", fields: map[string]any{
				"HBAName": hba.Device, "Driver": hba.Driver, "LinkState": "link-n/a", "UID": uid,
				"Capabilities": "", "Description": fmt.Sprintf("(%s) %s", hba.Pci, hba.Model)}})
		}
	})
	next := 32
	for _, n := range nics {
		personality := n.spec.Personality // as built, until the BMC's applied state says
		if p, ok := hw[n.device]; ok {
			personality = p.personality
		}
		name := fmt.Sprintf("vmhba%d", next)
		switch {
		case personality == "iSCSI" && n.spec.IscsiDriver != "":
			res.records = append(res.records, &record{kind: "ScsiAdapter", fields: map[string]any{
				"HBAName": name, "Driver": n.spec.IscsiDriver, "LinkState": "online",
				"UID": "iscsi." + name, "Capabilities": "Second Level Lun ID",
				"Description": vendorOf(n.spec.IscsiDriver) + " iSCSI Adapter"}})
		case personality == "FCoE" && n.spec.FcoeDriver != "":
			mac := strings.ReplaceAll(n.mac, ":", "")
			state := "link-down"
			if n.carrier {
				state = "link-up"
			}
			res.records = append(res.records, &record{kind: "ScsiAdapter", fields: map[string]any{
				"HBAName": name, "Driver": n.spec.FcoeDriver, "LinkState": state,
				"UID": fmt.Sprintf("fcoe.1000%s:2000%s", mac, mac), "Capabilities": "Second Level Lun ID",
				"Description": vendorOf(n.spec.FcoeDriver) + " FCoE Adapter"}})
		default:
			continue
		}
		next++
	}
	return res, nil
}

func vendorOf(driver string) string {
	if strings.HasPrefix(driver, "qfle3") {
		return "QLogic"
	}
	return "Broadcom"
}
