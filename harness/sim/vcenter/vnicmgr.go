package main

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"

	"github.com/vmware/govmomi/simulator"
	"github.com/vmware/govmomi/vim25/methods"
	"github.com/vmware/govmomi/vim25/soap"
	"github.com/vmware/govmomi/vim25/types"
)

// What provisioning needs besides switches: the VMkernel NIC service tags (VirtualNicManager)
// and a local datastore per host to create VMs on.

// VirtualNicManager is a host's VMkernel NIC service tags (management, vMotion, ...). The stock
// one hands every host the same global netConfig slice and can only query it; this one keeps
// the host's own, which is also the host's config.virtualNicManagerInfo (one struct, two
// paths), and selects and deselects like ESXi.
//
// candidateVnic follows the host's vmknics whenever this object is called; selections of
// vmknics that no longer exist are dropped at the same time.
type VirtualNicManager struct {
	*simulator.HostVirtualNicManager

	host *simulator.HostSystem
}

// nicTypes are the types ESXi 6.5+ lists, each with the TCP/IP stacks whose vmknics may carry
// it (a vmknic on the vMotion stack can only do vMotion, and so on).
var nicTypes = []struct {
	name   string
	stacks []string
}{
	{"faultToleranceLogging", []string{"defaultTcpipStack"}},
	{"management", []string{"defaultTcpipStack"}},
	{"vSphereProvisioning", []string{"defaultTcpipStack", "vSphereProvisioning"}},
	{"vSphereReplication", []string{"defaultTcpipStack"}},
	{"vSphereReplicationNFC", []string{"defaultTcpipStack"}},
	{"vmotion", []string{"defaultTcpipStack", "vmotion"}},
	{"vsan", []string{"defaultTcpipStack"}},
	{"vsanWitness", []string{"defaultTcpipStack"}},
}

func vnicKey(nicType, device string) string {
	return nicType + ".key-vim.host.VirtualNic-" + device
}

func newVirtualNicManager(r *simulator.Registry, h *simulator.HostSystem) (*VirtualNicManager, error) {
	ref := h.ConfigManager.VirtualNicManager
	if ref == nil {
		return nil, fmt.Errorf("host has no VirtualNicManager")
	}
	stock, ok := r.Get(*ref).(*simulator.HostVirtualNicManager)
	if !ok {
		return nil, fmt.Errorf("VirtualNicManager %s is not the simulator's", ref.Value)
	}
	m := &VirtualNicManager{HostVirtualNicManager: stock, host: h}
	stock.Info = types.HostVirtualNicManagerInfo{}
	for _, t := range nicTypes {
		stock.Info.NetConfig = append(stock.Info.NetConfig, types.VirtualNicManagerNetConfig{
			NicType: t.name, MultiSelectAllowed: true})
	}
	// As installed, ESXi tags vmk0 for management.
	if _, v := m.vnic("vmk0"); v != nil {
		m.netConfig("management").SelectedVnic = []string{vnicKey("management", "vmk0")}
	}
	m.refresh()
	h.Config.VirtualNicManagerInfo = &stock.Info
	return m, nil
}

func (m *VirtualNicManager) vnic(device string) (int, *types.HostVirtualNic) {
	for i := range m.host.Config.Network.Vnic {
		if m.host.Config.Network.Vnic[i].Device == device {
			return i, &m.host.Config.Network.Vnic[i]
		}
	}
	return -1, nil
}

func (m *VirtualNicManager) netConfig(nicType string) *types.VirtualNicManagerNetConfig {
	for i := range m.Info.NetConfig {
		if m.Info.NetConfig[i].NicType == nicType {
			return &m.Info.NetConfig[i]
		}
	}
	return nil
}

// refresh recomputes every type's candidates from the host's vmknics and drops selections of
// vmknics that are gone or no longer eligible. Call it with the host locked.
func (m *VirtualNicManager) refresh() {
	for i, t := range nicTypes {
		nc := &m.Info.NetConfig[i]
		nc.CandidateVnic = nil
		eligible := map[string]bool{}
		for _, v := range m.host.Config.Network.Vnic {
			stack := v.Spec.NetStackInstanceKey
			if stack == "" {
				stack = "defaultTcpipStack"
			}
			if !slices.Contains(t.stacks, stack) {
				continue
			}
			var c types.HostVirtualNic
			deepCopy(&v, &c)
			c.Key = vnicKey(t.name, v.Device)
			nc.CandidateVnic = append(nc.CandidateVnic, c)
			eligible[c.Key] = true
		}
		var keep []string
		for _, key := range nc.SelectedVnic {
			if eligible[key] {
				keep = append(keep, key)
			}
		}
		nc.SelectedVnic = keep
	}
}

// publish announces the net config under both of its names (leaf paths keep the aliasing).
func (m *VirtualNicManager) publish(ctx *simulator.Context) {
	ctx.Update(m, []types.PropertyChange{{Name: "info.netConfig", Val: m.Info.NetConfig}})
	ctx.Update(m.host, []types.PropertyChange{{Name: "config.virtualNicManagerInfo.netConfig", Val: m.Info.NetConfig}})
}

// change runs f on one type's net config with the host locked, then publishes. An unknown
// type, or a device that is not a candidate for it, is InvalidArgument, as on ESXi.
func (m *VirtualNicManager) change(ctx *simulator.Context, nicType, device string,
	f func(nc *types.VirtualNicManagerNetConfig, key string) types.BaseMethodFault) *soap.Fault {
	var fault types.BaseMethodFault
	ctx.WithLock(m.host, func() {
		m.refresh()
		nc := m.netConfig(nicType)
		if nc == nil {
			fault = &types.InvalidArgument{InvalidProperty: "nicType"}
			return
		}
		key := vnicKey(nicType, device)
		if !slices.ContainsFunc(nc.CandidateVnic, func(c types.HostVirtualNic) bool { return c.Key == key }) {
			fault = &types.InvalidArgument{InvalidProperty: "device"}
			return
		}
		if fault = f(nc, key); fault == nil {
			m.publish(ctx)
		}
	})
	if fault != nil {
		return simulator.Fault("", fault)
	}
	return nil
}

// SelectVnicForNicType tags a vmknic for a service (selecting it twice changes nothing).
func (m *VirtualNicManager) SelectVnicForNicType(ctx *simulator.Context, req *types.SelectVnicForNicType) soap.HasFault {
	body := &methods.SelectVnicForNicTypeBody{}
	body.Fault_ = m.change(ctx, req.NicType, req.Device, func(nc *types.VirtualNicManagerNetConfig, key string) types.BaseMethodFault {
		if !slices.Contains(nc.SelectedVnic, key) {
			if !nc.MultiSelectAllowed {
				nc.SelectedVnic = nil
			}
			nc.SelectedVnic = append(nc.SelectedVnic, key)
		}
		return nil
	})
	if body.Fault_ == nil {
		body.Res = &types.SelectVnicForNicTypeResponse{}
	}
	return body
}

// DeselectVnicForNicType removes a service tag; the vmknic must carry it (else InvalidArgument).
func (m *VirtualNicManager) DeselectVnicForNicType(ctx *simulator.Context, req *types.DeselectVnicForNicType) soap.HasFault {
	body := &methods.DeselectVnicForNicTypeBody{}
	body.Fault_ = m.change(ctx, req.NicType, req.Device, func(nc *types.VirtualNicManagerNetConfig, key string) types.BaseMethodFault {
		if !slices.Contains(nc.SelectedVnic, key) {
			return &types.InvalidArgument{InvalidProperty: "device"}
		}
		nc.SelectedVnic = without(nc.SelectedVnic, key)
		return nil
	})
	if body.Fault_ == nil {
		body.Res = &types.DeselectVnicForNicTypeResponse{}
	}
	return body
}

// QueryNetConfig returns one type's current net config.
func (m *VirtualNicManager) QueryNetConfig(ctx *simulator.Context, req *types.QueryNetConfig) soap.HasFault {
	body := &methods.QueryNetConfigBody{}
	ctx.WithLock(m.host, func() {
		m.refresh()
		if nc := m.netConfig(req.NicType); nc != nil {
			var out types.VirtualNicManagerNetConfig
			deepCopy(nc, &out)
			body.Res = &types.QueryNetConfigResponse{Returnval: &out}
		}
	})
	if body.Res == nil {
		body.Fault_ = simulator.Fault("", &types.InvalidArgument{InvalidProperty: "nicType"})
	}
	return body
}

// ---------------------------------------------------------------------------------------------
// Local datastore

// addLocalDatastore gives a host its own local datastore, as an ESXi install has one, so VMs
// can be created on it. Its directory lives under the simulator's home (vcsim.home), which the
// model removes when the simulator stops.
func addLocalDatastore(model *simulator.Model, h *simulator.HostSystem, name string) error {
	ctx := model.Service.Context
	home := ""
	for _, o := range ctx.Map.OptionManager().Setting {
		if v := o.GetOptionValue(); v.Key == "vcsim.home" {
			home, _ = v.Value.(string)
		}
	}
	if home == "" {
		return fmt.Errorf("datastore %s: the simulator has no vcsim.home directory", name)
	}
	dir := filepath.Join(home, "datastores", name)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("datastore %s: %w", name, err)
	}
	dss, ok := ctx.Map.Get(*h.ConfigManager.DatastoreSystem).(*simulator.HostDatastoreSystem)
	if !ok {
		return fmt.Errorf("datastore %s: host has no datastore system", name)
	}
	res := dss.CreateLocalDatastore(ctx, &types.CreateLocalDatastore{This: dss.Self, Name: name, Path: dir})
	if f := res.Fault(); f != nil {
		return fmt.Errorf("datastore %s: %s", name, f.String)
	}
	return nil
}
