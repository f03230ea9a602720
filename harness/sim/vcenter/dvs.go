package main

import (
	"fmt"
	"reflect"
	"strconv"
	"strings"
	_ "unsafe" // go:linkname, see moTypes

	"github.com/vmware/govmomi/simulator"
	"github.com/vmware/govmomi/vim25/methods"
	"github.com/vmware/govmomi/vim25/mo"
	"github.com/vmware/govmomi/vim25/soap"
	"github.com/vmware/govmomi/vim25/types"
)

// The stock simulator's ReconfigureDvs_Task handles only host add/remove and ignores every
// other field (maxMtu, LLDP/CDP, defaultPortConfig), never keeps pnic backing and never shows
// a proxy switch on the host; its ReconfigureDVPortgroup_Task copies the spec verbatim, so a
// partial spec wipes fields. DVSwitch and DVPortgroup wrap the stock objects under the same
// moref (a registry hook swaps them in as the stock CreateDVS/AddDVPortgroup put them) and do
// what vCenter does. The registry keeps the stock objects (stock code type-asserts them); the
// registry's method Handler dispatches SOAP calls on them to our wrappers, and a registry hook
// indexes every new DVS by uuid for the management-path checks.

// handler routes method calls on DVS, DV port groups and the esxcli objects to the wrappers. An authenticated
// call prefers the session's registry over the handler's answer, so the wrapper is put there
// too (it shares the stock object's state; the global registry keeps the stock object).
func (e *simEnv) handler(ctx *simulator.Context, m *simulator.Method) (mo.Reference, types.BaseMethodFault) {
	var w mo.Reference
	switch o := ctx.Map.Get(m.This).(type) {
	case *simulator.DistributedVirtualSwitch:
		w = &DVSwitch{DistributedVirtualSwitch: o, env: e}
	case *simulator.DistributedVirtualPortgroup:
		w = &DVPortgroup{DistributedVirtualPortgroup: o, env: e}
	case *simulator.ManagedMethodExecuter: // esxcli (esxcli.go)
		w = &EsxCLI{ManagedMethodExecuter: o, env: e}
	case *simulator.DynamicTypeManager:
		w = &DTM{DynamicTypeManager: o}
	case *simulator.DistributedVirtualSwitchManager:
		w = &DVSManager{DistributedVirtualSwitchManager: o, env: e}
	default:
		return nil, nil
	}
	if ctx.Session != nil && ctx.Session.Registry.Get(m.This) == nil {
		ctx.Session.Registry.Put(w)
	}
	return w, nil
}

// objectHooks indexes distributed switches as they are registered.
type objectHooks struct {
	env *simEnv
}

var hooksRef = types.ManagedObjectReference{Type: "LabharnessHooks", Value: "lh-hooks"}

func (h *objectHooks) Reference() types.ManagedObjectReference { return hooksRef }

func (h *objectHooks) PutObject(ctx *simulator.Context, o mo.Reference) {
	switch x := o.(type) {
	case *simulator.DistributedVirtualSwitch:
		if x.Self.Type != vmwareDVSType {
			h.retype(ctx, x)
			return // the second Put (under the new moref) indexes it
		}
		h.env.mu.Lock()
		h.env.dvs[x.Uuid] = x
		h.env.mu.Unlock()
	case *simulator.DistributedVirtualPortgroup:
		h.markUplinkPortgroup(x)
	case *simulator.Task:
		x.Info.Name = wsdlTaskName(x.Info.Name, x.Info.DescriptionId)
	}
}

// wsdlTaskName is the WSDL method name a vCenter gives TaskInfo.name ("CreateVM_Task",
// "PowerOnVM_Task", "Destroy_Task"). The simulator names most tasks after its Go runner type
// ("CreateVm", "PowerOn", "Destroy": the vmodl method, with no "_Task" and "VM" spelled "Vm"),
// but clients resolve the name to a method by its WSDL name: pyVmomi decodes "CreateVm" as an
// unknown method, and pyVim's WaitForTask, which reads info.name.info.name while a task runs,
// then fails. The WSDL name is the first candidate govmomi has a request type for (every WSDL
// method has one under its own name); a virtual machine's own methods may end in "VM_Task".
func wsdlTaskName(name, descriptionID string) string {
	vm := strings.Replace(name, "Vm", "VM", 1)
	candidates := []string{name, vm}
	if !strings.HasSuffix(name, "_Task") {
		candidates = []string{name + "_Task", vm + "_Task"}
		if strings.HasPrefix(descriptionID, "VirtualMachine.") {
			candidates = append(candidates, name+"VM_Task")
		}
	}
	known := types.TypeFunc()
	for _, c := range candidates {
		if _, ok := known(c); ok {
			return c
		}
	}
	return name
}

// vmwareDVSType is the managed object type vCenter gives every switch it creates (the VMware
// DVS, the only kind a vCenter without third-party switch extensions makes).
const vmwareDVSType = "VmwareDistributedVirtualSwitch"

// moTypes is govmomi's managed-object type table (vim25/mo: type name -> Go struct), which
// mo.ApplyPropertyChange walks by field index. The simulator keeps every switch in a
// mo.DistributedVirtualSwitch (its stock code type-asserts *simulator.DistributedVirtualSwitch
// from the registry), so once the moref says VmwareDistributedVirtualSwitch, every property
// update (a task's recentTask, ReconfigureDvs) must be applied with that layout: the VMware
// type adds no property of its own, only one level of embedding that the stored struct lacks.
// The table is package state with no setter; go:linkname reaches it (allowed for non-std
// packages). Only this process's decoding is affected: clients decode as usual.
//
//go:linkname moTypes github.com/vmware/govmomi/vim25/mo.t
var moTypes map[string]reflect.Type

func init() {
	moTypes[vmwareDVSType] = reflect.TypeOf(mo.DistributedVirtualSwitch{})
}

// retype: the stock CreateDVS registers the switch under its Go type's name,
// "DistributedVirtualSwitch", where vCenter answers "VmwareDistributedVirtualSwitch". Clients
// decode objects by the moref's type, so govc (host.vnic.info reads the switch into a
// mo.VmwareDistributedVirtualSwitch) panics and `find -type VmwareDistributedVirtualSwitch`
// finds nothing. The switch is re-keyed as vCenter types it while CreateDVS is still putting
// it: before the folder's datacenter lists it (Datacenter.network holds networks, not switches,
// on a real vCenter) and before anything else holds the moref, except the folder's children.
func (h *objectHooks) retype(ctx *simulator.Context, x *simulator.DistributedVirtualSwitch) {
	old := x.Self
	x.Self.Type = vmwareDVSType
	if x.Parent != nil {
		if f, ok := ctx.Map.Get(*x.Parent).(*simulator.Folder); ok {
			for i, c := range f.ChildEntity {
				if c == old {
					f.ChildEntity[i] = x.Self
				}
			}
		}
	}
	ctx.Map.Remove(ctx, old)
	ctx.Map.Put(x)
}

// DVSManager answers the DVS manager's look-ups from the switches' uuid index: the stock one
// looks switches up by the moref type "DistributedVirtualSwitch" and so finds none of ours.
type DVSManager struct {
	*simulator.DistributedVirtualSwitchManager
	env *simEnv
}

func (m *DVSManager) switchByUUID(uuid string) *simulator.DistributedVirtualSwitch {
	m.env.mu.Lock()
	defer m.env.mu.Unlock()
	return m.env.dvs[uuid]
}

// DVSManagerLookupDvPortGroup finds a port group by its switch's uuid and its key.
func (m *DVSManager) DVSManagerLookupDvPortGroup(ctx *simulator.Context, req *types.DVSManagerLookupDvPortGroup) soap.HasFault {
	body := &methods.DVSManagerLookupDvPortGroupBody{}
	if d := m.switchByUUID(req.SwitchUuid); d != nil {
		for _, ref := range d.Portgroup {
			if pg, ok := ctx.Map.Get(ref).(*simulator.DistributedVirtualPortgroup); ok && pg.Key == req.PortgroupKey {
				ref := ref
				body.Res = &types.DVSManagerLookupDvPortGroupResponse{Returnval: &ref}
				return body
			}
		}
	}
	body.Fault_ = simulator.Fault("", &types.NotFound{})
	return body
}

// QueryDvsByUuid finds a switch by its uuid (PowerCLI and the host-side tools look switches
// up this way); an unknown uuid is NotFound, as on vCenter.
func (m *DVSManager) QueryDvsByUuid(ctx *simulator.Context, req *types.QueryDvsByUuid) soap.HasFault {
	body := &methods.QueryDvsByUuidBody{}
	if d := m.switchByUUID(req.Uuid); d != nil {
		ref := d.Self
		body.Res = &types.QueryDvsByUuidResponse{Returnval: &ref}
		return body
	}
	body.Fault_ = simulator.Fault("", &types.NotFound{})
	return body
}

// markUplinkPortgroup: the stock CreateDVS makes "<dvs>-DVUplinks-<n>" but neither lists it
// in the DVS's config.uplinkPortgroup nor tags it SYSTEM/DVS.UPLINKPG, as vCenter does, so
// clients cannot tell it from a VM port group. It is the last step of CreateDVS, so the new
// switch's config is complete here and gets vCenter's defaults too.
func (h *objectHooks) markUplinkPortgroup(pg *simulator.DistributedVirtualPortgroup) {
	h.env.mu.Lock()
	defer h.env.mu.Unlock()
	for _, d := range h.env.dvs {
		if !strings.HasPrefix(pg.Name, d.Name+"-DVUplinks") {
			continue
		}
		if cfg, ok := d.Config.(*types.VMwareDVSConfigInfo); ok && len(cfg.UplinkPortgroup) == 0 {
			cfg.UplinkPortgroup = []types.ManagedObjectReference{pg.Self}
			pg.Tag = append(pg.Tag, types.Tag{Key: "SYSTEM/DVS.UPLINKPG"})
			fillDVSDefaults(d, cfg)
		}
	}
}

// fillDVSDefaults sets what vCenter always reports for a new switch but the stock CreateDVS
// leaves unset when the create spec omits it: config.productInfo (vCenter completes the
// spec's version with name, vendor and forwarding class and reports it in config and summary),
// the multicast filtering mode (legacyFiltering), the NetFlow (IPFIX) settings with the API
// reference's defaults (active flow timeout 60 s, idle 15 s, sampling rate 0, all flows) and
// both health checks, off with a 1-minute interval. Clients read these without nil checks
// (Ansible's vmware_dvswitch_info reads config.ipfixConfig.collectorIpAddress).
func fillDVSDefaults(d *simulator.DistributedVirtualSwitch, cfg *types.VMwareDVSConfigInfo) {
	if p := d.Summary.ProductInfo; p != nil {
		if p.Name == "" {
			p.Name = "DVS"
		}
		if p.Vendor == "" {
			p.Vendor = "VMware, Inc."
		}
		if p.ForwardingClass == "" {
			p.ForwardingClass = "etherswitch"
		}
		if cfg.ProductInfo == (types.DistributedVirtualSwitchProductSpec{}) {
			cfg.ProductInfo = *p
		}
	}
	if cfg.MulticastFilteringMode == "" {
		cfg.MulticastFilteringMode = string(types.VMwareDvsMulticastFilteringModeLegacyFiltering)
	}
	if cfg.IpfixConfig == nil {
		cfg.IpfixConfig = &types.VMwareIpfixConfig{ActiveFlowTimeout: 60, IdleFlowTimeout: 15,
			SamplingRate: 0, InternalFlowsOnly: false}
	}
	if len(cfg.HealthCheckConfig) == 0 {
		off := types.VMwareDVSHealthCheckConfig{
			DVSHealthCheckConfig: types.DVSHealthCheckConfig{Enable: types.NewBool(false), Interval: 1}}
		cfg.HealthCheckConfig = []types.BaseDVSHealthCheckConfig{
			&types.VMwareDVSVlanMtuHealthCheckConfig{VMwareDVSHealthCheckConfig: off},
			&types.VMwareDVSTeamingHealthCheckConfig{VMwareDVSHealthCheckConfig: off},
		}
	}
}

// UpdateObject keys the ports of new port groups switch-wide (dvports.go).
func (h *objectHooks) UpdateObject(ctx *simulator.Context, o mo.Reference, changes []types.PropertyChange) {
	d, ok := o.(*mo.DistributedVirtualSwitch)
	if !ok {
		return
	}
	for _, c := range changes {
		if c.Name == "portgroup" {
			h.portgroupsChanged(ctx, d)
			return
		}
	}
}
func (h *objectHooks) RemoveObject(*simulator.Context, types.ManagedObjectReference) {}

// DVSwitch is a distributed switch with vCenter's host membership and pnic backing.
type DVSwitch struct {
	*simulator.DistributedVirtualSwitch
	env *simEnv
}

func (s *DVSwitch) config() *types.VMwareDVSConfigInfo {
	return s.Config.(*types.VMwareDVSConfigInfo)
}

// ReconfigureDvsTask applies a DVS config spec: host members (add, edit, remove with pnic
// backing), the generic fields, and the configVersion check and bump.
func (s *DVSwitch) ReconfigureDvsTask(ctx *simulator.Context, req *types.ReconfigureDvs_Task) soap.HasFault {
	task := simulator.CreateTask(s, "ReconfigureDvsTask", func(t *simulator.Task) (types.AnyType, types.BaseMethodFault) {
		spec := req.Spec.GetDVSConfigSpec()
		cfg := s.config()
		if spec.ConfigVersion != "" && spec.ConfigVersion != cfg.ConfigVersion {
			return nil, &types.ConcurrentAccess{}
		}
		// Validate every member change before touching anything: a failed spec changes nothing.
		inSpec := map[types.ManagedObjectReference]bool{}
		for _, m := range spec.Host {
			if inSpec[m.Host] {
				return nil, &types.InvalidArgument{InvalidProperty: "host"} // one entry per host
			}
			inSpec[m.Host] = true
			ns := s.env.netsys[m.Host]
			if ns == nil {
				return nil, &types.ManagedObjectNotFound{Obj: m.Host}
			}
			member := s.member(m.Host)
			switch types.ConfigSpecOperation(m.Operation) {
			case types.ConfigSpecOperationAdd:
				if member != nil {
					return nil, &types.AlreadyExists{Name: ns.host.Name}
				}
			case types.ConfigSpecOperationEdit, types.ConfigSpecOperationRemove:
				if member == nil {
					return nil, &types.NotFound{}
				}
			default:
				return nil, &types.InvalidArgument{InvalidProperty: "host.operation"}
			}
			if f := s.checkBacking(ns, m.Backing); f != nil {
				return nil, f
			}
		}
		// the hosts this change can touch: those in the spec, and every member when the
		// switch-wide policy changes
		touched := make([]types.ManagedObjectReference, 0, len(spec.Host))
		for _, m := range spec.Host {
			touched = append(touched, m.Host)
		}
		if spec.DefaultPortConfig != nil || spec.UplinkPortPolicy != nil {
			touched = append(touched, s.Summary.HostMember...)
		}
		saved := s.env.snapshotHosts(ctx, touched)
		var savedCfg types.VMwareDVSConfigInfo
		deepCopy(cfg, &savedCfg)
		for _, m := range spec.Host {
			s.applyMember(ctx, m)
		}
		applyDVSSpec(cfg, req.Spec)
		if f := s.env.guardManagement(ctx, saved); f != nil {
			s.restoreConfig(savedCfg)
			return nil, f
		}
		for _, m := range spec.Host {
			s.commitMember(ctx, m)
		}
		s.bumpVersion(ctx)
		return nil, nil
	})
	return &methods.ReconfigureDvs_TaskBody{Res: &types.ReconfigureDvs_TaskResponse{Returnval: task.Run(ctx)}}
}

func (s *DVSwitch) member(host types.ManagedObjectReference) *types.DistributedVirtualSwitchHostMember {
	cfg := s.config()
	for i := range cfg.Host {
		if h := cfg.Host[i].Config.Host; h != nil && *h == host {
			return &cfg.Host[i]
		}
	}
	return nil
}

func backingSpecs(b types.BaseDistributedVirtualSwitchHostMemberBacking) []types.DistributedVirtualSwitchHostMemberPnicSpec {
	if pb, ok := b.(*types.DistributedVirtualSwitchHostMemberPnicBacking); ok {
		return pb.PnicSpec
	}
	return nil
}

// checkBacking: every pnic exists on the host and is not used by another DVS.
func (s *DVSwitch) checkBacking(ns *NetworkSystem, b types.BaseDistributedVirtualSwitchHostMemberBacking) types.BaseMethodFault {
	specs := backingSpecs(b)
	if len(specs) > len(s.uplinkNames()) {
		return &types.InvalidArgument{InvalidProperty: "host.backing.pnicSpec"}
	}
	for _, p := range specs {
		if findPnic(ns.NetworkInfo, p.PnicDevice) == nil {
			return &types.InvalidArgument{InvalidProperty: "host.backing.pnicSpec.pnicDevice"}
		}
		for _, ps := range ns.NetworkInfo.ProxySwitch {
			if ps.DvsUuid == s.Uuid {
				continue
			}
			for _, k := range ps.Pnic {
				if k == pnicKeys([]string{p.PnicDevice})[0] {
					return &types.ResourceInUse{Type: "PhysicalNic", Name: p.PnicDevice}
				}
			}
		}
	}
	return nil
}

func (s *DVSwitch) uplinkNames() []string {
	if p, ok := s.config().UplinkPortPolicy.(*types.DVSNameArrayUplinkPortPolicy); ok {
		return p.UplinkPortName
	}
	return nil
}

// uplinkKey is the port key of uplink i of the host with the given index: stable and unique
// per DVS, as vCenter's uplink ports are.
func uplinkKey(hostIndex, i int) string {
	return strconv.Itoa(1000 + hostIndex*32 + i)
}

// applyMember adds, edits or removes one host in the DVS's config.host and the host's proxy
// switch, moving its pnics off standard switches as ESXi does. The membership lists that
// other objects show (host.network, summary.hostMember) follow in commitMember, once the
// management guard has passed.
func (s *DVSwitch) applyMember(ctx *simulator.Context, m types.DistributedVirtualSwitchHostMemberConfigSpec) {
	ns := s.env.netsys[m.Host]
	cfg := s.config()
	switch types.ConfigSpecOperation(m.Operation) {
	case types.ConfigSpecOperationAdd:
		host := m.Host
		cfg.Host = append(cfg.Host, types.DistributedVirtualSwitchHostMember{
			Config: types.DistributedVirtualSwitchHostMemberConfigInfo{
				Host: &host, MaxProxySwitchPorts: m.MaxProxySwitchPorts, Backing: m.Backing},
			Status: "up"})
	case types.ConfigSpecOperationEdit:
		if m.Backing != nil {
			s.member(m.Host).Config.Backing = m.Backing
		}
	case types.ConfigSpecOperationRemove:
		var keep []types.DistributedVirtualSwitchHostMember
		for _, h := range cfg.Host {
			if *h.Config.Host != m.Host {
				keep = append(keep, h)
			}
		}
		cfg.Host = keep
	}
	member := s.member(m.Host)
	ns.apply(ctx, func() []string {
		ns.setProxySwitch(s, member)
		return []string{"proxySwitch", "vswitch", "portgroup"}
	})
}

func (s *DVSwitch) commitMember(ctx *simulator.Context, m types.DistributedVirtualSwitchHostMemberConfigSpec) {
	host := s.env.netsys[m.Host].host
	switch types.ConfigSpecOperation(m.Operation) {
	case types.ConfigSpecOperationAdd:
		s.addMembership(ctx, host)
	case types.ConfigSpecOperationRemove:
		s.removeMembership(ctx, host)
	}
}

// setProxySwitch makes the host's proxySwitch entry for this DVS match its member config
// (nil member: the host left the DVS), moving backing pnics off standard switches.
func (ns *NetworkSystem) setProxySwitch(s *DVSwitch, member *types.DistributedVirtualSwitchHostMember) {
	net := ns.NetworkInfo
	var keep []types.HostProxySwitch
	for _, ps := range net.ProxySwitch {
		if ps.DvsUuid != s.Uuid {
			keep = append(keep, ps)
		}
	}
	net.ProxySwitch = keep
	if member == nil {
		return
	}
	names := s.uplinkNames()
	ps := types.HostProxySwitch{DvsUuid: s.Uuid, DvsName: s.Name,
		Key: "DvsPortset-" + strconv.Itoa(len(net.ProxySwitch)), NumPorts: 512,
		NumPortsAvailable: 512 - int32(len(names)), Mtu: s.config().MaxMtu,
		Spec: types.HostProxySwitchSpec{Backing: member.Config.Backing}}
	if ps.Mtu == 0 {
		ps.Mtu = 1500
	}
	specs := backingSpecs(member.Config.Backing)
	member.UplinkPortKey = nil
	for i, name := range names {
		key := uplinkKey(ns.hostIndex, i)
		ps.UplinkPort = append(ps.UplinkPort, types.KeyValue{Key: key, Value: name})
		member.UplinkPortKey = append(member.UplinkPortKey, key)
	}
	for i := range specs {
		p := &specs[i]
		// no uplinkPortKey: the next uplink in order, as vCenter assigns them
		if p.UplinkPortKey == "" && i < len(names) {
			p.UplinkPortKey = uplinkKey(ns.hostIndex, i)
		}
		ps.Pnic = append(ps.Pnic, pnicKeys([]string{p.PnicDevice})[0])
		ns.releasePnic(p.PnicDevice)
	}
	net.ProxySwitch = append(net.ProxySwitch, ps)
}

// releasePnic takes a vmnic off any standard switch (bridge, pnic list, teaming order).
func (ns *NetworkSystem) releasePnic(device string) {
	net := ns.NetworkInfo
	for i := range net.Vswitch {
		vs := &net.Vswitch[i]
		if b, ok := vs.Spec.Bridge.(*types.HostVirtualSwitchBondBridge); ok {
			b.NicDevice = without(b.NicDevice, device)
			vs.Pnic = pnicKeys(b.NicDevice)
		}
		if t := vs.Spec.Policy.NicTeaming; t != nil && t.NicOrder != nil {
			t.NicOrder.ActiveNic = without(t.NicOrder.ActiveNic, device)
			t.NicOrder.StandbyNic = without(t.NicOrder.StandbyNic, device)
		}
		ns.recomputeSwitch(vs)
	}
	for i := range net.Portgroup {
		pg := &net.Portgroup[i]
		if t := pg.Spec.Policy.NicTeaming; t != nil && t.NicOrder != nil {
			t.NicOrder.ActiveNic = without(t.NicOrder.ActiveNic, device)
			t.NicOrder.StandbyNic = without(t.NicOrder.StandbyNic, device)
		}
		ns.recompute(pg)
	}
}

func (s *DVSwitch) addMembership(ctx *simulator.Context, host *simulator.HostSystem) {
	members := append(s.Summary.HostMember, host.Self)
	ctx.WithLock(host, func() {
		ctx.Update(host, []types.PropertyChange{{Name: "network", Val: append(host.Network, s.Portgroup...)}})
	})
	for _, ref := range s.Portgroup {
		if pg, ok := ctx.Map.Get(ref).(*simulator.DistributedVirtualPortgroup); ok {
			ctx.Update(pg, []types.PropertyChange{{Name: "host", Val: append(pg.Host, host.Self)}})
		}
	}
	ctx.Update(s, []types.PropertyChange{{Name: "summary.hostMember", Val: members}})
}

func (s *DVSwitch) removeMembership(ctx *simulator.Context, host *simulator.HostSystem) {
	var members []types.ManagedObjectReference
	for _, m := range s.Summary.HostMember {
		if m != host.Self {
			members = append(members, m)
		}
	}
	ctx.WithLock(host, func() {
		var nets []types.ManagedObjectReference
		for _, n := range host.Network {
			if simulator.FindReference(s.Portgroup, n) == nil {
				nets = append(nets, n)
			}
		}
		ctx.Update(host, []types.PropertyChange{{Name: "network", Val: nets}})
	})
	for _, ref := range s.Portgroup {
		if pg, ok := ctx.Map.Get(ref).(*simulator.DistributedVirtualPortgroup); ok {
			ctx.Update(pg, []types.PropertyChange{{Name: "host", Val: withoutRef(pg.Host, host.Self)}})
		}
	}
	ctx.Update(s, []types.PropertyChange{{Name: "summary.hostMember", Val: members}})
}

// applyDVSSpec merges the generic fields vCenter honours; unset fields keep their values.
func applyDVSSpec(cfg *types.VMwareDVSConfigInfo, base types.BaseDVSConfigSpec) {
	spec := base.GetDVSConfigSpec()
	if spec.Name != "" {
		cfg.Name = spec.Name
	}
	if spec.Description != "" {
		cfg.Description = spec.Description
	}
	if spec.UplinkPortPolicy != nil {
		cfg.UplinkPortPolicy = spec.UplinkPortPolicy
	}
	if spec.DefaultPortConfig != nil {
		cfg.DefaultPortConfig = mergePortSetting(cfg.DefaultPortConfig, spec.DefaultPortConfig)
	}
	if v, ok := base.(*types.VMwareDVSConfigSpec); ok {
		if v.MaxMtu != 0 {
			cfg.MaxMtu = v.MaxMtu
		}
		if v.LinkDiscoveryProtocolConfig != nil {
			cfg.LinkDiscoveryProtocolConfig = v.LinkDiscoveryProtocolConfig
		}
	}
}

func (s *DVSwitch) bumpVersion(ctx *simulator.Context) {
	cfg := s.config()
	n, _ := strconv.Atoi(cfg.ConfigVersion)
	cfg.ConfigVersion = strconv.Itoa(n + 1)
	ctx.Update(s, []types.PropertyChange{{Name: "config", Val: s.Config}})
}

// restoreConfig undoes a rolled-back reconfigure (guardManagement restored the hosts).
func (s *DVSwitch) restoreConfig(cfg types.VMwareDVSConfigInfo) {
	*s.config() = cfg
}

// DVPortgroup is a DV port group whose reconfigure merges like vCenter's.
type DVPortgroup struct {
	*simulator.DistributedVirtualPortgroup
	env *simEnv
}

// ReconfigureDVPortgroupTask: unset spec fields keep their values, the default port
// config's sub-policies merge, configVersion is checked and bumped.
func (p *DVPortgroup) ReconfigureDVPortgroupTask(ctx *simulator.Context, req *types.ReconfigureDVPortgroup_Task) soap.HasFault {
	task := simulator.CreateTask(p, "ReconfigureDVPortgroupTask", func(t *simulator.Task) (types.AnyType, types.BaseMethodFault) {
		spec := req.Spec
		c := &p.Config
		if spec.ConfigVersion != "" && spec.ConfigVersion != c.ConfigVersion {
			return nil, &types.ConcurrentAccess{}
		}
		var saved types.DVPortgroupConfigInfo
		deepCopy(c, &saved)
		hosts := p.env.snapshotHosts(ctx, p.Host) // the member hosts of this port group
		if spec.Name != "" && spec.Name != c.Name {
			c.Name = spec.Name
			p.Name = spec.Name
		}
		if spec.NumPorts != 0 {
			c.NumPorts = spec.NumPorts
			p.growPorts(ctx)
		}
		if spec.Type != "" {
			c.Type = spec.Type
		}
		if spec.Description != "" {
			c.Description = spec.Description
		}
		if spec.AutoExpand != nil {
			c.AutoExpand = spec.AutoExpand
		}
		if spec.Policy != nil {
			c.Policy = spec.Policy
		}
		if spec.DefaultPortConfig != nil {
			c.DefaultPortConfig = mergePortSetting(c.DefaultPortConfig, spec.DefaultPortConfig)
		}
		if f := p.env.guardManagement(ctx, hosts); f != nil {
			p.Config = saved
			return nil, f
		}
		n, _ := strconv.Atoi(c.ConfigVersion)
		c.ConfigVersion = strconv.Itoa(n + 1)
		ctx.Update(p, []types.PropertyChange{{Name: "config", Val: p.Config}, {Name: "name", Val: p.Name},
			{Name: "portKeys", Val: p.PortKeys}})
		return nil, nil
	})
	return &methods.ReconfigureDVPortgroup_TaskBody{Res: &types.ReconfigureDVPortgroup_TaskResponse{Returnval: task.Run(ctx)}}
}

// growPorts adds switch-wide keyed ports up to config.numPorts (a port group grows, it never
// renumbers its ports).
func (p *DVPortgroup) growPorts(ctx *simulator.Context) {
	n := int(p.Config.NumPorts) - len(p.PortKeys)
	if n <= 0 || p.Config.DistributedVirtualSwitch == nil {
		return
	}
	if d, ok := ctx.Map.Get(*p.Config.DistributedVirtualSwitch).(*simulator.DistributedVirtualSwitch); ok {
		p.PortKeys = append(p.PortKeys, p.env.allocatePorts(d.Uuid, n)...)
	}
}

// DestroyTask: vCenter refuses to destroy a DV port group while a VM's NIC or a VMkernel NIC
// is on it (ResourceInUse), and a destroyed port group leaves the network list of every host
// and cluster it was on. The stock one does neither: hosts keep pointing at a deleted object.
func (p *DVPortgroup) DestroyTask(ctx *simulator.Context, req *types.Destroy_Task) soap.HasFault {
	if p.inUse(ctx) {
		task := simulator.CreateTask(p, "destroy", func(*simulator.Task) (types.AnyType, types.BaseMethodFault) {
			return nil, &types.ResourceInUse{Type: "DistributedVirtualPortgroup", Name: p.Name}
		})
		return &methods.Destroy_TaskBody{Res: &types.Destroy_TaskResponse{Returnval: task.Run(ctx)}}
	}
	for _, ref := range p.Host {
		host, ok := ctx.Map.Get(ref).(*simulator.HostSystem)
		if !ok {
			continue
		}
		ctx.WithLock(host, func() {
			ctx.Update(host, []types.PropertyChange{{Name: "network", Val: withoutRef(host.Network, p.Self)}})
		})
		if host.Parent == nil {
			continue
		}
		switch c := ctx.Map.Get(*host.Parent).(type) {
		case *simulator.ClusterComputeResource:
			ctx.Update(c, []types.PropertyChange{{Name: "network", Val: withoutRef(c.Network, p.Self)}})
		case *mo.ComputeResource:
			ctx.Update(c, []types.PropertyChange{{Name: "network", Val: withoutRef(c.Network, p.Self)}})
		}
	}
	return p.DistributedVirtualPortgroup.DestroyTask(ctx, req)
}

// inUse: a VM has a NIC on the port group, or a host a VMkernel NIC on one of its ports.
func (p *DVPortgroup) inUse(ctx *simulator.Context) bool {
	for _, ns := range p.env.netsys {
		for _, v := range ns.NetworkInfo.Vnic {
			if port := v.Spec.DistributedVirtualPort; port != nil && port.PortgroupKey == p.Key {
				return true
			}
		}
	}
	for _, e := range ctx.Map.All("VirtualMachine") {
		vm, ok := e.(*simulator.VirtualMachine)
		if !ok || vm.Config == nil {
			continue
		}
		for _, d := range vm.Config.Hardware.Device {
			nic, ok := d.(types.BaseVirtualEthernetCard)
			if !ok {
				continue
			}
			if b, ok := nic.GetVirtualEthernetCard().Backing.(*types.VirtualEthernetCardDistributedVirtualPortBackingInfo); ok && b.Port.PortgroupKey == p.Key {
				return true
			}
		}
	}
	return false
}

// mergePortSetting merges a VMware DVS port setting: each sub-policy given replaces the
// current one field by field; what the spec leaves nil stays.
func mergePortSetting(cur, in types.BaseDVPortSetting) types.BaseDVPortSetting {
	c, ok1 := cur.(*types.VMwareDVSPortSetting)
	n, ok2 := in.(*types.VMwareDVSPortSetting)
	if !ok1 || !ok2 || c == nil {
		return in
	}
	out := &types.VMwareDVSPortSetting{}
	deepCopy(c, out)
	if n.Vlan != nil {
		out.Vlan = n.Vlan
	}
	if sp, np := out.SecurityPolicy, n.SecurityPolicy; np != nil && sp == nil {
		out.SecurityPolicy = np
	} else if np != nil {
		overlay(&sp.AllowPromiscuous, np.AllowPromiscuous)
		overlay(&sp.MacChanges, np.MacChanges)
		overlay(&sp.ForgedTransmits, np.ForgedTransmits)
	}
	if t, u := out.UplinkTeamingPolicy, n.UplinkTeamingPolicy; u != nil && t == nil {
		out.UplinkTeamingPolicy = u
	} else if u != nil {
		overlay(&t.Policy, u.Policy)
		overlay(&t.ReversePolicy, u.ReversePolicy)
		overlay(&t.NotifySwitches, u.NotifySwitches)
		overlay(&t.RollingOrder, u.RollingOrder)
		overlay(&t.FailureCriteria, u.FailureCriteria)
		overlay(&t.UplinkPortOrder, u.UplinkPortOrder)
	}
	overlay(&out.Blocked, n.Blocked)
	overlay(&out.InShapingPolicy, n.InShapingPolicy)
	overlay(&out.OutShapingPolicy, n.OutShapingPolicy)
	return out
}

// overlay sets *dst to src when the spec gives one (a nil pointer means "keep").
func overlay[T any](dst **T, src *T) {
	if src != nil {
		*dst = src
	}
}

// String helps log lines name a DVS.
func (s *DVSwitch) String() string { return fmt.Sprintf("DVS %s (%s)", s.Name, s.Uuid) }
