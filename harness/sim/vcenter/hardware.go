package main

import (
	"strconv"
	"strings"

	"github.com/vmware/govmomi/simulator"
	"github.com/vmware/govmomi/vim25/types"
)

// setSystem gives a host its server's identity, processors and memory wherever vCenter reports
// them (summary.hardware, hardware.systemInfo/cpuInfo/cpuPkg/memorySize) and keeps the
// cluster's totals, which the simulator summed from the template when the host joined, the
// sum of its hosts'. The host's UUID becomes the server's: vCenter's and the BMC's agree.
func setSystem(r *simulator.Registry, h *simulator.HostSystem, s *SystemSpec, version string) {
	old := *h.Summary.Hardware
	hw := h.Summary.Hardware // the host's own copy (NewHostSystem copies the template's)
	cores := s.CPUPackages * s.CoresPerPackage
	threads := cores * s.ThreadsPerCore
	memory := s.MemoryMb << 20
	ids := identifiers(s.Serial)

	hw.Vendor, hw.Model, hw.Uuid = s.Vendor, s.Model, s.UUID
	hw.OtherIdentifyingInfo = ids
	hw.CpuModel, hw.CpuMhz, hw.MemorySize = s.CPUModel, s.CPUMhz, memory
	hw.NumCpuPkgs, hw.NumCpuCores, hw.NumCpuThreads = s.CPUPackages, cores, threads
	hw.NumNics = int32(len(h.Config.Network.Pnic))

	info := h.Hardware // also the host's own shallow copy: replace, never write through slices
	info.SystemInfo = types.HostSystemInfo{Vendor: s.Vendor, Model: s.Model, Uuid: s.UUID,
		OtherIdentifyingInfo: identifiers(s.Serial)}
	if versionAtLeast(version, 6, 7) { // hardware.systemInfo.serialNumber is new in 6.7
		info.SystemInfo.SerialNumber = s.Serial
	}
	hz := int64(s.CPUMhz) * 1_000_000
	info.CpuInfo = types.HostCpuInfo{NumCpuPackages: s.CPUPackages, NumCpuCores: cores,
		NumCpuThreads: threads, Hz: hz}
	pkgs := make([]types.HostCpuPackage, 0, s.CPUPackages)
	for p := int16(0); p < s.CPUPackages; p++ {
		tids := make([]int16, 0, s.CoresPerPackage*s.ThreadsPerCore)
		for t := int16(0); t < s.CoresPerPackage*s.ThreadsPerCore; t++ {
			tids = append(tids, p*s.CoresPerPackage*s.ThreadsPerCore+t)
		}
		pkgs = append(pkgs, types.HostCpuPackage{Index: p, Vendor: "intel", Hz: hz,
			BusHz: 100_000_000, Description: s.CPUModel, ThreadId: tids})
	}
	info.CpuPkg = pkgs
	info.MemorySize = memory

	if h.Parent == nil {
		return
	}
	if cr, ok := r.Get(*h.Parent).(*simulator.ClusterComputeResource); ok {
		sum := cr.Summary.GetComputeResourceSummary()
		sum.TotalCpu += hw.CpuMhz - old.CpuMhz
		sum.EffectiveCpu += hw.CpuMhz - old.CpuMhz
		sum.TotalMemory += hw.MemorySize - old.MemorySize
		sum.EffectiveMemory += hw.MemorySize - old.MemorySize
		sum.NumCpuCores += hw.NumCpuCores - old.NumCpuCores
		sum.NumCpuThreads += hw.NumCpuThreads - old.NumCpuThreads
	}
}

// identifiers is otherIdentifyingInfo as ESXi fills it from SMBIOS on an HPE server: the
// asset tag (unset) and the serial number as the service tag.
func identifiers(serial string) []types.HostSystemIdentificationInfo {
	tag := func(key, label, summary string) *types.ElementDescription {
		return &types.ElementDescription{Key: key,
			Description: types.Description{Label: label, Summary: summary}}
	}
	return []types.HostSystemIdentificationInfo{
		{IdentifierValue: " ", IdentifierType: tag("AssetTag", "Asset Tag", "Asset tag of the system")},
		{IdentifierValue: serial, IdentifierType: tag("ServiceTag", "Service tag", "Service tag of the system")},
	}
}

// versionAtLeast compares an X.Y[.Z] version with major.minor.
func versionAtLeast(version string, major, minor int) bool {
	m := versionRe.FindStringSubmatch(strings.TrimSpace(version))
	if m == nil {
		return false
	}
	x, _ := strconv.Atoi(m[1])
	y, _ := strconv.Atoi(m[2])
	return x > major || (x == major && y >= minor)
}
