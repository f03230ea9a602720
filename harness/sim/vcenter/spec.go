package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"regexp"
	"time"
)

// Spec is what the Python launcher derives from a lab: the inventory skeleton the simulator
// starts with. Host configuration (switches, vmknics, NTP...) is not part of it on purpose:
// the provisioner applies that through the vSphere API, exactly as on a nested lab.
type Spec struct {
	VCenter VCenterSpec `json:"vcenter"`
	Hosts   []HostSpec  `json:"hosts"`
}

// VCenterSpec names the vCenter, its product version and the datacenter and cluster.
type VCenterSpec struct {
	Name       string `json:"name"`
	Version    string `json:"version"`
	Build      int64  `json:"build"`
	APIVersion string `json:"api_version,omitempty"`
	Datacenter string `json:"datacenter"`
	Cluster    string `json:"cluster"`
	// NetworkRollback seeds config.vpxd.network.rollback (default true, as on vCenter): a host
	// network change that cuts the management path is undone with a
	// NetworkDisruptedAndConfigRolledBack fault; when false the host drops to disconnected (F01).
	NetworkRollback *bool `json:"network_rollback,omitempty"`
}

// HostSpec is one ESXi host of the cluster.
type HostSpec struct {
	Name       string   `json:"name"`
	Version    string   `json:"version"`
	Build      int64    `json:"build"`
	APIVersion string   `json:"api_version,omitempty"`
	Vmnics     []string `json:"vmnics,omitempty"`
	// BootTime is when the host last booted (runtime.bootTime). The same from one start of the
	// simulator to the next, as a real host's is between two nightly runs; nil: the start.
	BootTime *time.Time `json:"boot_time,omitempty"`
	// LogDir holds the host's logs as the sim writes them (hostd.log, vmksummary.log, ...):
	// the DiagnosticManager serves them (diagmgr.go); empty: the host offers no logs.
	LogDir string `json:"log_dir,omitempty"`
	// ClockOffsetS skews the host's clock as QueryDateTime reports it (NTP drift scenarios).
	ClockOffsetS float64 `json:"clock_offset_s,omitempty"`
	// AdvancedOptions seeds options on top of the ESXi defaults (numbers become longs).
	AdvancedOptions map[string]any `json:"advanced_options,omitempty"`
	// Uplinks says what each vmnic's upstream switch port carries (from the lab's cabling and
	// the data plane). A vmnic that is absent carries nothing; no map at all: every vmnic
	// carries every VLAN (a simulator without a data plane).
	Uplinks map[string]UplinkSpec `json:"uplinks,omitempty"`
	// Lldp points at the host's lldpd (receive-only, in its data-plane namespace):
	// QueryNetworkHint reads its neighbour table, so CDP/LLDP hints come from real frames.
	Lldp *LldpSpec `json:"lldp,omitempty"`
	// Netns is the host's data-plane namespace: esxcli's network commands run there
	// (esxcli.go), as ESXi runs them in its own network stack. Empty: no data plane, and
	// the commands that need one answer with a CLI fault.
	Netns string `json:"netns,omitempty"`
	// Netstacks maps each TCP/IP stack to the namespace's routing table that realises it
	// ("main" for defaultTcpipStack, a table number for the others).
	Netstacks map[string]string `json:"netstacks,omitempty"`
	// Nics describes each vmnic's hardware as ESXi's drivers report it (esxcli network nic).
	Nics map[string]NicSpec `json:"nics,omitempty"`
	// Hardware points at the server's applied adapter state, which the BMC emulator writes:
	// storage adapters and NIC firmware follow it (esxcli storage core adapter list).
	Hardware *HardwareSpec `json:"hardware,omitempty"`
	// System is the physical server the host runs on (hardware.go); none: a nested host, which
	// keeps the simulator's VMware virtual machine hardware.
	System *SystemSpec `json:"system,omitempty"`
}

// SystemSpec is the server a physical host runs on, as its SMBIOS tells ESXi: the simulator's
// template is a VMware virtual machine ("VMware Virtual Platform", 2 cores of an i7-3615QM,
// 4 GB), which is right only for a nested host.
type SystemSpec struct {
	Vendor          string `json:"vendor"` // SMBIOS manufacturer (HP, HPE)
	Model           string `json:"model"`  // SMBIOS product name (ProLiant DL360 Gen9)
	Serial          string `json:"serial"` // the chassis serial number, as the BMC reports it
	UUID            string `json:"uuid"`   // the SMBIOS UUID, as the BMC reports it
	CPUModel        string `json:"cpu_model"`
	CPUPackages     int16  `json:"cpu_packages"`
	CoresPerPackage int16  `json:"cores_per_package"`
	ThreadsPerCore  int16  `json:"threads_per_core"`
	CPUMhz          int32  `json:"cpu_mhz"`
	MemoryMb        int64  `json:"memory_mb"`
}

// NicSpec is one vmnic's adapter as the host's driver sees it.
type NicSpec struct {
	Model         string `json:"model"`                  // the lab's adapter model (534FLR-SFP+)
	Adapter       string `json:"adapter"`                // the lab's adapter name on the server (flexlom)
	Port          int    `json:"port"`                   // the adapter port number
	Description   string `json:"description"`            // PCI vendor and device, as ESXi lists it
	Driver        string `json:"driver"`                 // the NIC driver (qfle3, ntg3, ...)
	DriverVersion string `json:"driver_version"`         // its version string
	Firmware      string `json:"firmware"`               // used when no hardware state says otherwise
	SpeedMb       int    `json:"speed_mb"`               // link speed with carrier
	IscsiDriver   string `json:"iscsi_driver,omitempty"` // dependent iSCSI offload driver
	FcoeDriver    string `json:"fcoe_driver,omitempty"`  // FCoE offload driver
	Personality   string `json:"personality,omitempty"`  // as built: Ethernet | iSCSI | FCoE
}

// HardwareSpec is where the server's applied adapter state is (a JSON file the BMC emulator
// rewrites after each reset) and the server's name in it.
type HardwareSpec struct {
	File   string `json:"file"`
	Server string `json:"server"`
}

// UplinkSpec is what one vmnic's switch port carries.
type UplinkSpec struct {
	Vlans []int `json:"vlans"` // tagged VLANs the port forwards (0: untagged)
	Link  bool  `json:"link"`  // carrier and forwarding (false: a dead port)
}

// LldpSpec is the host's lldpd control socket and its interface -> vmnic names.
type LldpSpec struct {
	Socket     string            `json:"socket"`
	Interfaces map[string]string `json:"interfaces"`
	Command    string            `json:"command,omitempty"` // lldpcli (default: from PATH)
}

var (
	versionRe = regexp.MustCompile(`^(\d+)\.(\d+)(?:\.(\d+))?$`)
	vmnicRe   = regexp.MustCompile(`^vmnic\d+$`)
)

func loadSpec(path string) (*Spec, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	dec.UseNumber() // keep integers integral so advanced options become xsd:long, as on ESXi
	var spec Spec
	if err := dec.Decode(&spec); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if err := spec.validate(); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return &spec, nil
}

func (s *Spec) validate() error {
	v := &s.VCenter
	if v.Datacenter == "" || v.Cluster == "" {
		return fmt.Errorf("vcenter.datacenter and vcenter.cluster are required")
	}
	if !versionRe.MatchString(v.Version) || v.Build < 1 {
		return fmt.Errorf("vcenter.version %q must be X.Y[.Z] and vcenter.build >= 1", v.Version)
	}
	seen := map[string]bool{}
	for i, h := range s.Hosts {
		if h.Name == "" || seen[h.Name] {
			return fmt.Errorf("hosts[%d].name %q is empty or duplicated", i, h.Name)
		}
		seen[h.Name] = true
		if !versionRe.MatchString(h.Version) || h.Build < 1 {
			return fmt.Errorf("hosts[%d] (%s): version %q must be X.Y[.Z] and build >= 1", i, h.Name, h.Version)
		}
		for _, n := range h.Vmnics {
			if !vmnicRe.MatchString(n) {
				return fmt.Errorf("hosts[%d] (%s): vmnic %q is not vmnicN", i, h.Name, n)
			}
		}
	}
	return nil
}

// apiVersion follows VMware's scheme: 6.5.0 -> "6.5", 8.0.2 -> "8.0.2.0". pyVmomi negotiates
// its namespace from it, so it has to look like a real one.
func apiVersion(version, override string) string {
	if override != "" {
		return override
	}
	m := versionRe.FindStringSubmatch(version)
	if m[3] == "" || m[3] == "0" {
		return m[1] + "." + m[2]
	}
	return m[1] + "." + m[2] + "." + m[3] + ".0"
}

// licenseVersion is what ESXi and vCenter report as licenseProductVersion: 6.5 and 6.7 say 6.0.
func licenseVersion(version string) string {
	return versionRe.FindStringSubmatch(version)[1] + ".0"
}
