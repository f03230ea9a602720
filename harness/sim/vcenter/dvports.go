package main

import (
	"sort"
	"strconv"

	"github.com/vmware/govmomi/simulator"
	"github.com/vmware/govmomi/vim25/methods"
	"github.com/vmware/govmomi/vim25/mo"
	"github.com/vmware/govmomi/vim25/soap"
	"github.com/vmware/govmomi/vim25/types"
)

// A distributed switch keys its ports uniquely across the switch (a port key names one port,
// whatever its port group), and lists which ports are connected and to what: FetchDVPorts is
// how clients (govc dvs.portgroup.info -connected, PowerCLI Get-VDPort) find a vmknic's or a
// VM NIC's port. The stock simulator numbers each port group's ports from 0 and never lists a
// connectee. Here every port group's ports get switch-wide keys as the switch lists the group,
// a vmknic put on a DV port group gets a free port of it (netsys.go), a VM NIC gets one the
// first time the switch's ports are read, and FetchDVPorts reports the connectees.

// portgroupsChanged renumbers the ports of port groups new to a switch. The stock
// AddDVPortgroup (CreateDVS's uplink group included) ends by publishing the switch's portgroup
// list, after the new groups have their ports.
func (h *objectHooks) portgroupsChanged(ctx *simulator.Context, d *mo.DistributedVirtualSwitch) {
	for _, ref := range d.Portgroup {
		pg, ok := ctx.Map.Get(ref).(*simulator.DistributedVirtualPortgroup)
		if !ok || h.env.keyed(ref) {
			continue
		}
		keys := h.env.allocatePorts(d.Uuid, len(pg.PortKeys))
		ctx.Update(pg, []types.PropertyChange{{Name: "portKeys", Val: keys}})
	}
}

// keyed tells whether a port group's ports have switch-wide keys, and marks it so.
func (e *simEnv) keyed(pg types.ManagedObjectReference) bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.keyedPortgroups[pg] {
		return true
	}
	e.keyedPortgroups[pg] = true
	return false
}

// allocatePorts hands out n port keys unique on one switch, skipping the uplink ports' range
// (uplinkKey: 1000 and up).
func (e *simEnv) allocatePorts(uuid string, n int) []string {
	e.mu.Lock()
	defer e.mu.Unlock()
	keys := make([]string, 0, n)
	for len(keys) < n {
		k := e.nextPort[uuid]
		e.nextPort[uuid] = k + 1
		if k >= 1000 && k < 1000+32*len(e.netsys) {
			continue
		}
		keys = append(keys, strconv.Itoa(k))
	}
	return keys
}

// dvPortConnectees maps each connected port of a switch to what is on it: vmknics, then VM
// NICs. A VM NIC without a port key gets the first free port of its group, which its backing
// then keeps (as vCenter assigns one when the NIC connects).
func (e *simEnv) dvPortConnectees(ctx *simulator.Context, uuid string) map[string]*types.DistributedVirtualSwitchPortConnectee {
	out := map[string]*types.DistributedVirtualSwitchPortConnectee{}
	for _, ns := range e.netsys {
		host := ns.host.Self
		for _, v := range ns.NetworkInfo.Vnic {
			if dp := v.Spec.DistributedVirtualPort; dp != nil && dp.SwitchUuid == uuid && dp.PortKey != "" {
				var ip string
				if v.Spec.Ip != nil {
					ip = v.Spec.Ip.IpAddress
				}
				out[dp.PortKey] = &types.DistributedVirtualSwitchPortConnectee{ConnectedEntity: &host,
					NicKey: v.Device, Type: "hostVmkVirtualNic", AddressHint: ip}
			}
		}
	}
	var pending []*types.DistributedVirtualSwitchPortConnection
	var pendingBy []*types.DistributedVirtualSwitchPortConnectee
	vms := ctx.Map.All("VirtualMachine")
	sort.Slice(vms, func(i, j int) bool { return vms[i].Reference().Value < vms[j].Reference().Value })
	for _, ent := range vms {
		vm, ok := ent.(*simulator.VirtualMachine)
		if !ok || vm.Config == nil {
			continue
		}
		ref := vm.Self
		for _, d := range vm.Config.Hardware.Device {
			nic, ok := d.(types.BaseVirtualEthernetCard)
			if !ok {
				continue
			}
			b, ok := nic.GetVirtualEthernetCard().Backing.(*types.VirtualEthernetCardDistributedVirtualPortBackingInfo)
			if !ok || b.Port.SwitchUuid != uuid {
				continue
			}
			c := &types.DistributedVirtualSwitchPortConnectee{ConnectedEntity: &ref,
				NicKey: strconv.Itoa(int(d.GetVirtualDevice().Key)), Type: "vmVnic"}
			if b.Port.PortKey == "" {
				pending, pendingBy = append(pending, &b.Port), append(pendingBy, c)
				continue
			}
			out[b.Port.PortKey] = c
		}
	}
	for i, port := range pending {
		if key := e.freePort(ctx, uuid, port.PortgroupKey, out); key != "" {
			port.PortKey = key
			out[key] = pendingBy[i]
		}
	}
	return out
}

// freePort is the first port of a port group that nothing in `used` is on ("" when full).
func (e *simEnv) freePort(ctx *simulator.Context, uuid, pgKey string, used map[string]*types.DistributedVirtualSwitchPortConnectee) string {
	e.mu.Lock()
	d := e.dvs[uuid]
	e.mu.Unlock()
	if d == nil {
		return ""
	}
	for _, ref := range d.Portgroup {
		pg, ok := ctx.Map.Get(ref).(*simulator.DistributedVirtualPortgroup)
		if !ok || pg.Key != pgKey {
			continue
		}
		for _, k := range pg.PortKeys {
			if used[k] == nil {
				return k
			}
		}
	}
	return ""
}

// FetchDVPorts lists the switch's ports with their connectees, filtered as the criteria say:
// port group keys (inside or outside), port keys, connected or not, uplink ports or not.
func (s *DVSwitch) FetchDVPorts(ctx *simulator.Context, req *types.FetchDVPorts) soap.HasFault {
	conn := s.env.dvPortConnectees(ctx, s.Uuid)
	uplinkGroups := map[types.ManagedObjectReference]bool{}
	for _, ref := range s.config().UplinkPortgroup {
		uplinkGroups[ref] = true
	}
	c := req.Criteria
	ports := []types.DistributedVirtualPort{}
	for _, ref := range s.Portgroup {
		pg, ok := ctx.Map.Get(ref).(*simulator.DistributedVirtualPortgroup)
		if !ok {
			continue
		}
		if c != nil && len(c.PortgroupKey) > 0 && c.Inside != nil &&
			contains(c.PortgroupKey, pg.Key) != *c.Inside {
			continue
		}
		if c != nil && c.UplinkPort != nil && uplinkGroups[ref] != *c.UplinkPort {
			continue
		}
		for _, key := range pg.PortKeys {
			if c != nil && len(c.PortKey) > 0 && !contains(c.PortKey, key) {
				continue
			}
			if c != nil && c.Connected != nil && (conn[key] != nil) != *c.Connected {
				continue
			}
			ports = append(ports, types.DistributedVirtualPort{DvsUuid: s.Uuid, Key: key,
				PortgroupKey: pg.Key, Connectee: conn[key],
				Config: types.DVPortConfigInfo{Setting: pg.Config.DefaultPortConfig}})
		}
	}
	return &methods.FetchDVPortsBody{Res: &types.FetchDVPortsResponse{Returnval: ports}}
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// takeDVPort gives a vmknic going onto a DV port group a free port of it when the spec names
// none, as the host does when it connects the vmknic.
func (e *simEnv) takeDVPort(ctx *simulator.Context, dp *types.DistributedVirtualSwitchPortConnection) {
	if dp == nil || dp.PortKey != "" || dp.PortgroupKey == "" {
		return
	}
	dp.PortKey = e.freePort(ctx, dp.SwitchUuid, dp.PortgroupKey, e.dvPortConnectees(ctx, dp.SwitchUuid))
}
