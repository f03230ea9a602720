package main

import (
	"fmt"

	"github.com/vmware/govmomi/simulator"
	"github.com/vmware/govmomi/vim25/methods"
	"github.com/vmware/govmomi/vim25/mo"
	"github.com/vmware/govmomi/vim25/soap"
	"github.com/vmware/govmomi/vim25/types"
)

// NetworkSystem replaces the stock HostNetworkSystem of one host under the same moref. Its
// networkInfo IS the host's config.network (one struct, two property paths), so every change
// is seen through both, as on ESXi; the stock one is a stub that diverges from config.network.
//
// Every exported method is a SOAP method. Handlers run with this object locked by the
// dispatcher; they mutate the shared struct inside the host's lock too, because the
// PropertyCollector reads config.network under the host's lock.
type NetworkSystem struct {
	*simulator.HostNetworkSystem

	host          *simulator.HostSystem
	networkFolder types.ManagedObjectReference
	hostIndex     int
	nextPort      int
	env           *simEnv
	spec          HostSpec
}

func newNetworkSystem(r *simulator.Registry, h *simulator.HostSystem, networkFolder types.ManagedObjectReference, index int) *NetworkSystem {
	stock := r.Get(*h.ConfigManager.NetworkSystem).(*simulator.HostNetworkSystem)
	stock.NetworkInfo = h.Config.Network
	ns := &NetworkSystem{HostNetworkSystem: stock, host: h, networkFolder: networkFolder,
		hostIndex: index, nextPort: 33554440}
	net := ns.NetworkInfo
	for i := range net.Portgroup {
		ns.recompute(&net.Portgroup[i])
	}
	return ns
}

// publish tells WaitForUpdates about changed leaves of the network info, under both names.
// Leaf paths only: publishing "config.network" would make the simulator allocate a new
// struct and silently break the networkInfo == config.network aliasing.
func (s *NetworkSystem) publish(ctx *simulator.Context, leaves ...string) {
	var own, host []types.PropertyChange
	for _, leaf := range leaves {
		var val any
		switch leaf {
		case "vnic":
			val = s.NetworkInfo.Vnic
		case "vswitch":
			val = s.NetworkInfo.Vswitch
		case "portgroup":
			val = s.NetworkInfo.Portgroup
		case "proxySwitch":
			val = s.NetworkInfo.ProxySwitch
		default:
			panic("publish: unknown leaf " + leaf)
		}
		own = append(own, types.PropertyChange{Name: "networkInfo." + leaf, Val: val})
		host = append(host, types.PropertyChange{Name: "config.network." + leaf, Val: val})
	}
	ctx.Update(s, own)
	ctx.Update(s.host, host)
}

// mutate runs f with the host locked and publishes the leaves it reports as changed. A change
// that cuts the host's last working management path is undone with
// NetworkDisruptedAndConfigRolledBack when vCenter's network rollback is on, and otherwise
// leaves the host disconnected, as ESXi does (F01).
func (s *NetworkSystem) mutate(ctx *simulator.Context, f func() (types.BaseMethodFault, []string)) *soap.Fault {
	var fault types.BaseMethodFault
	if s.disconnected() {
		return simulator.Fault("", &types.HostNotConnected{})
	}
	ctx.WithLock(s.host, func() {
		saved := s.snapshot()
		var leaves []string
		fault, leaves = f()
		if fault == nil && s.env != nil {
			fault = s.env.guardManagement(ctx, []hostSnapshot{saved})
		}
		if fault == nil && len(leaves) > 0 {
			s.publish(ctx, leaves...)
		}
	})
	if fault != nil {
		return simulator.Fault("", fault)
	}
	return nil
}

// apply runs f with the host locked and publishes, without the management guard: for callers
// (DVS reconfigure) that guard several hosts at once.
func (s *NetworkSystem) apply(ctx *simulator.Context, f func() []string) {
	ctx.WithLock(s.host, func() {
		if leaves := f(); len(leaves) > 0 {
			s.publish(ctx, leaves...)
		}
	})
}

func (s *NetworkSystem) vswitch(name string) *types.HostVirtualSwitch {
	for i := range s.NetworkInfo.Vswitch {
		if s.NetworkInfo.Vswitch[i].Name == name {
			return &s.NetworkInfo.Vswitch[i]
		}
	}
	return nil
}

func (s *NetworkSystem) vswitchByKey(key string) *types.HostVirtualSwitch {
	for i := range s.NetworkInfo.Vswitch {
		if s.NetworkInfo.Vswitch[i].Key == key {
			return &s.NetworkInfo.Vswitch[i]
		}
	}
	return nil
}

func (s *NetworkSystem) portgroup(name string) *types.HostPortGroup {
	for i := range s.NetworkInfo.Portgroup {
		if s.NetworkInfo.Portgroup[i].Spec.Name == name {
			return &s.NetworkInfo.Portgroup[i]
		}
	}
	return nil
}

func (s *NetworkSystem) vnic(device string) (int, *types.HostVirtualNic) {
	for i := range s.NetworkInfo.Vnic {
		if s.NetworkInfo.Vnic[i].Device == device {
			return i, &s.NetworkInfo.Vnic[i]
		}
	}
	return -1, nil
}

// recompute sets a port group's computedPolicy from its switch's policy and its overrides.
func (s *NetworkSystem) recompute(pg *types.HostPortGroup) {
	vs := s.vswitch(pg.Spec.VswitchName)
	if vs == nil {
		return
	}
	pg.Vswitch = vs.Key
	pg.ComputedPolicy = computePolicy(vs.Spec.Policy, &pg.Spec.Policy)
}

func (s *NetworkSystem) recomputeSwitch(vs *types.HostVirtualSwitch) {
	for i := range s.NetworkInfo.Portgroup {
		if s.NetworkInfo.Portgroup[i].Spec.VswitchName == vs.Name {
			s.recompute(&s.NetworkInfo.Portgroup[i])
		}
	}
}

// checkBridge validates a switch spec's uplinks and team against the host's pnics.
func (s *NetworkSystem) checkBridge(name string, spec *types.HostVirtualSwitchSpec) types.BaseMethodFault {
	var nics []string
	if b, ok := spec.Bridge.(*types.HostVirtualSwitchBondBridge); ok {
		nics = b.NicDevice
	}
	inTeam := map[string]bool{}
	for _, n := range nics {
		if findPnic(s.NetworkInfo, n) == nil {
			return &types.NotFound{}
		}
		for _, other := range s.NetworkInfo.Vswitch {
			if other.Name == name {
				continue
			}
			for _, key := range other.Pnic {
				if key == "key-vim.host.PhysicalNic-"+n {
					return &types.ResourceInUse{Name: n}
				}
			}
		}
		inTeam[n] = true
	}
	if spec.Policy != nil && spec.Policy.NicTeaming != nil && spec.Policy.NicTeaming.NicOrder != nil {
		order := spec.Policy.NicTeaming.NicOrder
		for _, n := range append(append([]string{}, order.ActiveNic...), order.StandbyNic...) {
			if !inTeam[n] {
				return &types.InvalidArgument{InvalidProperty: "spec.policy.nicTeaming.nicOrder"}
			}
		}
	}
	return nil
}

// AddVirtualSwitch replaces the stock one, which adds a switch without key, spec or uplinks.
func (s *NetworkSystem) AddVirtualSwitch(ctx *simulator.Context, req *types.AddVirtualSwitch) soap.HasFault {
	body := &methods.AddVirtualSwitchBody{}
	body.Fault_ = s.mutate(ctx, func() (types.BaseMethodFault, []string) {
		if req.VswitchName == "" {
			return &types.InvalidArgument{InvalidProperty: "vswitchName"}, nil
		}
		if s.vswitch(req.VswitchName) != nil {
			return &types.AlreadyExists{Name: req.VswitchName}, nil
		}
		spec := types.HostVirtualSwitchSpec{NumPorts: 128}
		if req.Spec != nil {
			spec = *req.Spec
		}
		if spec.Policy == nil {
			spec.Policy = defaultSwitchPolicy(spec.Bridge)
		}
		if f := s.checkBridge(req.VswitchName, &spec); f != nil {
			return f, nil
		}
		vs := types.HostVirtualSwitch{Name: req.VswitchName, Key: "key-vim.host.VirtualSwitch-" + req.VswitchName}
		applySwitchSpec(&vs, spec)
		s.NetworkInfo.Vswitch = append(s.NetworkInfo.Vswitch, vs)
		return nil, []string{"vswitch"}
	})
	if body.Fault_ == nil {
		body.Res = &types.AddVirtualSwitchResponse{}
	}
	return body
}

// RemoveVirtualSwitch replaces the stock one so its port groups go with it; like ESXi it
// refuses while a vmknic is still on one of them.
func (s *NetworkSystem) RemoveVirtualSwitch(ctx *simulator.Context, req *types.RemoveVirtualSwitch) soap.HasFault {
	body := &methods.RemoveVirtualSwitchBody{}
	body.Fault_ = s.mutate(ctx, func() (types.BaseMethodFault, []string) {
		vs := s.vswitch(req.VswitchName)
		if vs == nil {
			return &types.NotFound{}, nil
		}
		for _, pg := range s.NetworkInfo.Portgroup {
			if pg.Spec.VswitchName == vs.Name && s.pgInUse(pg.Spec.Name) {
				return &types.ResourceInUse{Name: pg.Spec.Name}, nil
			}
		}
		var keep []types.HostPortGroup
		for _, pg := range s.NetworkInfo.Portgroup {
			if pg.Spec.VswitchName == vs.Name {
				s.unlinkNetwork(ctx, pg.Spec.Name)
				continue
			}
			keep = append(keep, pg)
		}
		s.NetworkInfo.Portgroup = keep
		var switches []types.HostVirtualSwitch
		for _, v := range s.NetworkInfo.Vswitch {
			if v.Name != req.VswitchName {
				switches = append(switches, v)
			}
		}
		s.NetworkInfo.Vswitch = switches
		return nil, []string{"vswitch", "portgroup"}
	})
	if body.Fault_ == nil {
		body.Res = &types.RemoveVirtualSwitchResponse{}
	}
	return body
}

// UpdateVirtualSwitch replaces the switch's spec (uplinks, MTU, policy) and recomputes the
// effective policy of every port group on it. An unset bridge or policy keeps the current one.
func (s *NetworkSystem) UpdateVirtualSwitch(ctx *simulator.Context, req *types.UpdateVirtualSwitch) soap.HasFault {
	body := &methods.UpdateVirtualSwitchBody{}
	body.Fault_ = s.mutate(ctx, func() (types.BaseMethodFault, []string) {
		vs := s.vswitch(req.VswitchName)
		if vs == nil {
			return &types.NotFound{}, nil
		}
		spec := req.Spec
		if spec.Bridge == nil {
			spec.Bridge = vs.Spec.Bridge
		}
		if spec.Policy == nil {
			spec.Policy = vs.Spec.Policy
		}
		if spec.NumPorts == 0 {
			spec.NumPorts = vs.Spec.NumPorts
		}
		if f := s.checkBridge(vs.Name, &spec); f != nil {
			return f, nil
		}
		applySwitchSpec(vs, spec)
		s.recomputeSwitch(vs)
		return nil, []string{"vswitch", "portgroup"}
	})
	if body.Fault_ == nil {
		body.Res = &types.UpdateVirtualSwitchResponse{}
	}
	return body
}

func applySwitchSpec(vs *types.HostVirtualSwitch, spec types.HostVirtualSwitchSpec) {
	vs.Spec = spec
	vs.NumPorts = spec.NumPorts
	vs.NumPortsAvailable = spec.NumPorts
	vs.Mtu = spec.Mtu
	if vs.Mtu == 0 {
		vs.Mtu = 1500 // ESXi's default when the spec leaves it unset
	}
	vs.Pnic = nil
	if b, ok := spec.Bridge.(*types.HostVirtualSwitchBondBridge); ok {
		vs.Pnic = pnicKeys(b.NicDevice)
	}
}

// AddPortGroup replaces the stock one, which faults DuplicateName as soon as a second host adds
// a port group of the same name (the vCenter Network entity already exists) and records names
// where ESXi records keys.
func (s *NetworkSystem) AddPortGroup(ctx *simulator.Context, req *types.AddPortGroup) soap.HasFault {
	body := &methods.AddPortGroupBody{}
	spec := req.Portgrp
	body.Fault_ = s.mutate(ctx, func() (types.BaseMethodFault, []string) {
		if spec.Name == "" {
			return &types.InvalidArgument{InvalidProperty: "portgrp.name"}, nil
		}
		if spec.VlanId < 0 || spec.VlanId > 4095 {
			return &types.InvalidArgument{InvalidProperty: "portgrp.vlanId"}, nil
		}
		vs := s.vswitch(spec.VswitchName)
		if vs == nil {
			return &types.NotFound{}, nil
		}
		if s.portgroup(spec.Name) != nil {
			return &types.AlreadyExists{Name: spec.Name}, nil
		}
		if f := s.linkNetwork(ctx, req); f != nil {
			return f, nil
		}
		key := "key-vim.host.PortGroup-" + spec.Name
		vs.Portgroup = append(vs.Portgroup, key)
		s.NetworkInfo.Portgroup = append(s.NetworkInfo.Portgroup, types.HostPortGroup{Key: key, Spec: spec})
		s.recompute(&s.NetworkInfo.Portgroup[len(s.NetworkInfo.Portgroup)-1])
		return nil, []string{"vswitch", "portgroup"}
	})
	if body.Fault_ == nil {
		body.Res = &types.AddPortGroupResponse{}
	}
	return body
}

// RemovePortGroup replaces the stock one, which removes the vCenter Network entity even while
// other hosts still have the port group. Like ESXi, it refuses while a vmknic uses it.
func (s *NetworkSystem) RemovePortGroup(ctx *simulator.Context, req *types.RemovePortGroup) soap.HasFault {
	body := &methods.RemovePortGroupBody{}
	body.Fault_ = s.mutate(ctx, func() (types.BaseMethodFault, []string) {
		pg := s.portgroup(req.PgName)
		if pg == nil {
			return &types.NotFound{}, nil
		}
		if s.pgInUse(req.PgName) {
			return &types.ResourceInUse{Name: req.PgName}, nil
		}
		if vs := s.vswitchByKey(pg.Vswitch); vs != nil {
			vs.Portgroup = without(vs.Portgroup, pg.Key)
		}
		var keep []types.HostPortGroup
		for _, p := range s.NetworkInfo.Portgroup {
			if p.Spec.Name != req.PgName {
				keep = append(keep, p)
			}
		}
		s.NetworkInfo.Portgroup = keep
		s.unlinkNetwork(ctx, req.PgName)
		return nil, []string{"vswitch", "portgroup"}
	})
	if body.Fault_ == nil {
		body.Res = &types.RemovePortGroupResponse{}
	}
	return body
}

// UpdatePortGroup replaces a port group's spec: VLAN, policy overrides, rename, move to
// another switch. Its computedPolicy is recomputed; other port groups keep theirs.
func (s *NetworkSystem) UpdatePortGroup(ctx *simulator.Context, req *types.UpdatePortGroup) soap.HasFault {
	body := &methods.UpdatePortGroupBody{}
	spec := req.Portgrp
	body.Fault_ = s.mutate(ctx, func() (types.BaseMethodFault, []string) {
		pg := s.portgroup(req.PgName)
		if pg == nil {
			return &types.NotFound{}, nil
		}
		if spec.Name == "" {
			spec.Name = req.PgName
		}
		if spec.VswitchName == "" {
			spec.VswitchName = pg.Spec.VswitchName
		}
		if spec.VlanId < 0 || spec.VlanId > 4095 {
			return &types.InvalidArgument{InvalidProperty: "portgrp.vlanId"}, nil
		}
		if spec.Name != req.PgName {
			if s.portgroup(spec.Name) != nil {
				return &types.AlreadyExists{Name: spec.Name}, nil
			}
			if s.pgInUse(req.PgName) {
				return &types.ResourceInUse{Name: req.PgName}, nil
			}
		}
		to := s.vswitch(spec.VswitchName)
		if to == nil {
			return &types.NotFound{}, nil
		}
		if t := spec.Policy.NicTeaming; t != nil && t.NicOrder != nil {
			team := map[string]bool{}
			if b, ok := to.Spec.Bridge.(*types.HostVirtualSwitchBondBridge); ok {
				for _, n := range b.NicDevice {
					team[n] = true
				}
			}
			for _, n := range append(append([]string{}, t.NicOrder.ActiveNic...), t.NicOrder.StandbyNic...) {
				if !team[n] {
					return &types.InvalidArgument{InvalidProperty: "portgrp.policy.nicTeaming.nicOrder"}, nil
				}
			}
		}
		if spec.Name != req.PgName {
			s.unlinkNetwork(ctx, req.PgName)
			if f := s.linkNetwork(ctx, &types.AddPortGroup{This: req.This, Portgrp: spec}); f != nil {
				return f, nil
			}
		}
		if from := s.vswitchByKey(pg.Vswitch); from != nil {
			from.Portgroup = without(from.Portgroup, pg.Key)
		}
		pg.Key = "key-vim.host.PortGroup-" + spec.Name
		pg.Spec = spec
		to.Portgroup = append(to.Portgroup, pg.Key)
		s.recompute(pg)
		return nil, []string{"vswitch", "portgroup"}
	})
	if body.Fault_ == nil {
		body.Res = &types.UpdatePortGroupResponse{}
	}
	return body
}

func (s *NetworkSystem) pgInUse(name string) bool {
	for _, v := range s.NetworkInfo.Vnic {
		if v.Portgroup == name {
			return true
		}
	}
	return false
}

// linkNetwork makes sure the vCenter Network entity of a standard port group exists and lists
// this host. The first host to add a name creates it (through the stock method, pointed at a
// scratch network info so it changes nothing of ours; nobody can observe the swap because this
// object is locked); later hosts join the existing entity instead of faulting.
func (s *NetworkSystem) linkNetwork(ctx *simulator.Context, req *types.AddPortGroup) types.BaseMethodFault {
	folder := ctx.Map.Get(s.networkFolder).(*simulator.Folder)
	existing := ctx.Map.FindByName(req.Portgrp.Name, folder.ChildEntity)
	if existing == nil {
		real := s.NetworkInfo
		s.NetworkInfo = &types.HostNetworkInfo{Vswitch: []types.HostVirtualSwitch{{Name: req.Portgrp.VswitchName}}}
		res := s.HostNetworkSystem.AddPortGroup(ctx, req)
		s.NetworkInfo = real
		if f := res.Fault(); f != nil {
			return f.VimFault().(types.BaseMethodFault)
		}
		existing = ctx.Map.FindByName(req.Portgrp.Name, folder.ChildEntity)
	}
	network, ok := existing.(*mo.Network)
	if !ok {
		return nil // a distributed port group of that name: nothing to link on the vCenter side
	}
	hostRef := s.host.Self
	ctx.WithLock(network, func() {
		network.Host = appendRef(network.Host, hostRef)
		ctx.Update(network, []types.PropertyChange{{Name: "host", Val: network.Host}})
	})
	s.host.Network = appendRef(s.host.Network, network.Self)
	ctx.Update(s.host, []types.PropertyChange{{Name: "network", Val: s.host.Network}})
	return nil
}

// unlinkNetwork drops this host from the port group's Network entity, and removes the entity
// once no host has the port group any more.
func (s *NetworkSystem) unlinkNetwork(ctx *simulator.Context, name string) {
	folder := ctx.Map.Get(s.networkFolder).(*simulator.Folder)
	network, ok := ctx.Map.FindByName(name, folder.ChildEntity).(*mo.Network)
	if !ok {
		return
	}
	var left int
	ctx.WithLock(network, func() {
		network.Host = withoutRef(network.Host, s.host.Self)
		left = len(network.Host)
		ctx.Update(network, []types.PropertyChange{{Name: "host", Val: network.Host}})
	})
	s.host.Network = withoutRef(s.host.Network, network.Self)
	ctx.Update(s.host, []types.PropertyChange{{Name: "network", Val: s.host.Network}})
	if left == 0 {
		ctx.WithLock(folder, func() {
			folder.ChildEntity = withoutRef(folder.ChildEntity, network.Self)
			ctx.Update(folder, []types.PropertyChange{{Name: "childEntity", Val: folder.ChildEntity}})
		})
		ctx.Map.Remove(ctx, network.Self)
	}
}

// AddVirtualNic creates the next free vmkN on a standard port group (portgroup) or a
// distributed port (nic.distributedVirtualPort, portgroup empty).
func (s *NetworkSystem) AddVirtualNic(ctx *simulator.Context, req *types.AddVirtualNic) soap.HasFault {
	body := &methods.AddVirtualNicBody{}
	var device string
	body.Fault_ = s.mutate(ctx, func() (types.BaseMethodFault, []string) {
		spec := req.Nic
		if f := s.checkVnicTarget(req.Portgroup, &spec); f != nil {
			return f, nil
		}
		s.env.takeDVPort(ctx, spec.DistributedVirtualPort)
		if spec.Ip == nil {
			return &types.InvalidArgument{InvalidProperty: "nic.ip"}, nil
		}
		for n := 0; ; n++ {
			if _, v := s.vnic(fmt.Sprintf("vmk%d", n)); v == nil {
				device = fmt.Sprintf("vmk%d", n)
				break
			}
		}
		if spec.Mac == "" {
			var n int
			_, _ = fmt.Sscanf(device, "vmk%d", &n)
			spec.Mac = macAddress(s.hostIndex, 0x40+n)
		}
		if spec.Mtu == 0 {
			spec.Mtu = 1500
		}
		if spec.NetStackInstanceKey == "" {
			spec.NetStackInstanceKey = "defaultTcpipStack"
		}
		if spec.TsoEnabled == nil {
			spec.TsoEnabled = types.NewBool(true)
		}
		spec.Portgroup = req.Portgroup
		v := types.HostVirtualNic{Device: device, Key: "key-vim.host.VirtualNic-" + device,
			Portgroup: req.Portgroup, Spec: spec}
		v.Port = s.attachPort(req.Portgroup, spec.Mac)
		s.NetworkInfo.Vnic = append(s.NetworkInfo.Vnic, v)
		return nil, []string{"vnic", "portgroup"}
	})
	if body.Fault_ == nil {
		body.Res = &types.AddVirtualNicResponse{Returnval: device}
	}
	return body
}

// UpdateVirtualNic merges the set fields of the spec into the vmknic, as ESXi does.
func (s *NetworkSystem) UpdateVirtualNic(ctx *simulator.Context, req *types.UpdateVirtualNic) soap.HasFault {
	body := &methods.UpdateVirtualNicBody{}
	body.Fault_ = s.mutate(ctx, func() (types.BaseMethodFault, []string) {
		_, v := s.vnic(req.Device)
		if v == nil {
			return &types.NotFound{}, nil
		}
		n := req.Nic
		cur := &v.Spec
		if n.DistributedVirtualPort != nil || (n.Portgroup != "" && n.Portgroup != v.Portgroup) {
			if f := s.checkVnicTarget(n.Portgroup, &n); f != nil {
				return f, nil
			}
			s.detachPort(v)
			cur.DistributedVirtualPort = n.DistributedVirtualPort
			s.env.takeDVPort(ctx, cur.DistributedVirtualPort)
			cur.Portgroup = n.Portgroup
			v.Portgroup = n.Portgroup
		}
		if n.Ip != nil {
			cur.Ip = n.Ip
		}
		if n.Mac != "" {
			cur.Mac = n.Mac
		}
		if n.Mtu != 0 {
			cur.Mtu = n.Mtu
		}
		if n.TsoEnabled != nil {
			cur.TsoEnabled = n.TsoEnabled
		}
		if n.PinnedPnic != "" {
			cur.PinnedPnic = n.PinnedPnic
		}
		if n.IpRouteSpec != nil {
			cur.IpRouteSpec = n.IpRouteSpec
		}
		if v.Port == "" {
			v.Port = s.attachPort(v.Portgroup, cur.Mac)
		}
		return nil, []string{"vnic", "portgroup"}
	})
	if body.Fault_ == nil {
		body.Res = &types.UpdateVirtualNicResponse{}
	}
	return body
}

// RemoveVirtualNic deletes a vmknic and frees its port.
func (s *NetworkSystem) RemoveVirtualNic(ctx *simulator.Context, req *types.RemoveVirtualNic) soap.HasFault {
	body := &methods.RemoveVirtualNicBody{}
	body.Fault_ = s.mutate(ctx, func() (types.BaseMethodFault, []string) {
		i, v := s.vnic(req.Device)
		if v == nil {
			return &types.NotFound{}, nil
		}
		s.detachPort(v)
		vnics := s.NetworkInfo.Vnic
		s.NetworkInfo.Vnic = append(append([]types.HostVirtualNic{}, vnics[:i]...), vnics[i+1:]...)
		return nil, []string{"vnic", "portgroup"}
	})
	if body.Fault_ == nil {
		body.Res = &types.RemoveVirtualNicResponse{}
	}
	return body
}

func (s *NetworkSystem) checkVnicTarget(portgroup string, spec *types.HostVirtualNicSpec) types.BaseMethodFault {
	switch {
	case spec.DistributedVirtualPort != nil && portgroup != "":
		return &types.InvalidArgument{InvalidProperty: "portgroup"}
	case spec.DistributedVirtualPort != nil:
		if spec.DistributedVirtualPort.SwitchUuid == "" {
			return &types.InvalidArgument{InvalidProperty: "nic.distributedVirtualPort.switchUuid"}
		}
		return nil
	case portgroup == "" || s.portgroup(portgroup) == nil:
		return &types.NotFound{}
	}
	return nil
}

// attachPort gives a vmknic a port on its standard port group, as ESXi lists them.
func (s *NetworkSystem) attachPort(portgroup, mac string) string {
	pg := s.portgroup(portgroup)
	if pg == nil {
		return ""
	}
	key := fmt.Sprintf("key-vim.host.PortGroup.Port-%d", s.nextPort)
	s.nextPort++
	pg.Port = append(pg.Port, types.HostPortGroupPort{Key: key, Mac: []string{mac}, Type: "host"})
	return key
}

func (s *NetworkSystem) detachPort(v *types.HostVirtualNic) {
	if pg := s.portgroup(v.Portgroup); pg != nil {
		var keep []types.HostPortGroupPort
		for _, p := range pg.Port {
			if p.Key != v.Port {
				keep = append(keep, p)
			}
		}
		pg.Port = keep
	}
	v.Port = ""
}

func without(list []string, item string) []string {
	var out []string
	for _, x := range list {
		if x != item {
			out = append(out, x)
		}
	}
	return out
}

func appendRef(list []types.ManagedObjectReference, ref types.ManagedObjectReference) []types.ManagedObjectReference {
	for _, r := range list {
		if r == ref {
			return list
		}
	}
	return append(list, ref)
}

func withoutRef(list []types.ManagedObjectReference, ref types.ManagedObjectReference) []types.ManagedObjectReference {
	var out []types.ManagedObjectReference
	for _, r := range list {
		if r != ref {
			out = append(out, r)
		}
	}
	return out
}
