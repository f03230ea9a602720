package main

import (
	"slices"
	"strings"
	"sync"

	"github.com/vmware/govmomi/simulator"
	"github.com/vmware/govmomi/vim25/types"
)

// F01: vCenter reaches a host through its management VMkernel NICs. A host network change
// that leaves no management vmknic with a working uplink (a pnic whose switch port is up and
// carries the port group's VLAN) cuts vCenter off. With config.vpxd.network.rollback on,
// ESXi undoes the change and the call fails with NetworkDisruptedAndConfigRolledBack; with it
// off the change stays and the host drops to disconnected, which only a reboot fixes.

const rollbackOption = "config.vpxd.network.rollback"

// simEnv is what the extensions share across objects; set up before the server starts.
type simEnv struct {
	netsys   map[types.ManagedObjectReference]*NetworkSystem // by host
	dvs      map[string]*simulator.DistributedVirtualSwitch  // by uuid, guarded by mu
	mu       sync.Mutex
	setting  *simulator.OptionManager // vCenter's advanced settings
	registry *simulator.Registry
	// switch-wide DV port keys (dvports.go), guarded by mu
	keyedPortgroups map[types.ManagedObjectReference]bool
	nextPort        map[string]int // by switch uuid
}

func newSimEnv(r *simulator.Registry) *simEnv {
	return &simEnv{netsys: map[types.ManagedObjectReference]*NetworkSystem{},
		dvs: map[string]*simulator.DistributedVirtualSwitch{}, registry: r,
		keyedPortgroups: map[types.ManagedObjectReference]bool{}, nextPort: map[string]int{}}
}

// hostSnapshot is one host's network state before a change, for a rollback.
type hostSnapshot struct {
	ns        *NetworkSystem
	net       types.HostNetworkInfo
	reachable bool
}

func (ns *NetworkSystem) snapshot() hostSnapshot {
	var net types.HostNetworkInfo
	deepCopy(ns.NetworkInfo, &net)
	return hostSnapshot{ns: ns, net: net, reachable: ns.managementReachable()}
}

// restore puts saved network state back into the same struct (config.network and
// networkInfo stay one) and publishes it.
func (ns *NetworkSystem) restore(ctx *simulator.Context, saved types.HostNetworkInfo) {
	ns.apply(ctx, func() []string {
		*ns.NetworkInfo = saved
		return []string{"vnic", "vswitch", "portgroup", "proxySwitch"}
	})
}

// snapshotHosts saves the network state of the given hosts, each read under its own lock (a
// change elsewhere may be running on other hosts).
func (e *simEnv) snapshotHosts(ctx *simulator.Context, hosts []types.ManagedObjectReference) []hostSnapshot {
	out := make([]hostSnapshot, 0, len(hosts))
	seen := map[types.ManagedObjectReference]bool{}
	for _, ref := range hosts {
		ns := e.netsys[ref]
		if ns == nil || seen[ref] {
			continue
		}
		seen[ref] = true
		ctx.WithLock(ns.host, func() { out = append(out, ns.snapshot()) })
	}
	return out
}

func (e *simEnv) rollbackEnabled() bool {
	if e.setting == nil {
		return true
	}
	for _, o := range e.setting.Setting {
		if v := o.GetOptionValue(); v.Key == rollbackOption {
			switch x := v.Value.(type) {
			case bool:
				return x
			case string:
				return !strings.EqualFold(x, "false")
			}
		}
	}
	return true
}

// guardManagement checks the hosts a change touched: a host that had a management path and
// lost it is rolled back (the fault is returned) or disconnected (rollback off).
func (e *simEnv) guardManagement(ctx *simulator.Context, saved []hostSnapshot) types.BaseMethodFault {
	var cut []hostSnapshot
	for _, h := range saved {
		var lost bool
		ctx.WithLock(h.ns.host, func() { lost = h.reachable && !h.ns.managementReachable() })
		if lost {
			cut = append(cut, h)
		}
	}
	if len(cut) == 0 {
		return nil
	}
	if e.rollbackEnabled() {
		for _, h := range saved {
			h.ns.restore(ctx, h.net)
		}
		return &types.NetworkDisruptedAndConfigRolledBack{Host: cut[0].ns.host.Name}
	}
	for _, h := range cut {
		h.ns.disconnect(ctx)
	}
	return nil
}

func (ns *NetworkSystem) disconnected() bool {
	return ns.host.Runtime.ConnectionState == types.HostSystemConnectionStateDisconnected
}

func (ns *NetworkSystem) disconnect(ctx *simulator.Context) {
	ctx.WithLock(ns.host, func() {
		ns.host.Runtime.ConnectionState = types.HostSystemConnectionStateDisconnected
		ctx.Update(ns.host, []types.PropertyChange{
			{Name: "runtime.connectionState", Val: types.HostSystemConnectionStateDisconnected},
			{Name: "summary.runtime.connectionState", Val: types.HostSystemConnectionStateDisconnected},
		})
	})
}

// managementVnics are the vmknics tagged for management (VirtualNicManager), else vmk0.
func (ns *NetworkSystem) managementVnics() []*types.HostVirtualNic {
	var tagged []string
	if info := ns.host.Config.VirtualNicManagerInfo; info != nil {
		for _, nc := range info.NetConfig {
			if nc.NicType == string(types.HostVirtualNicManagerNicTypeManagement) {
				for _, key := range nc.SelectedVnic {
					tagged = append(tagged, key[strings.LastIndex(key, "-")+1:])
				}
			}
		}
	}
	if len(tagged) == 0 {
		tagged = []string{"vmk0"}
	}
	var out []*types.HostVirtualNic
	for _, d := range tagged {
		if _, v := ns.vnic(d); v != nil {
			out = append(out, v)
		}
	}
	return out
}

func (ns *NetworkSystem) managementReachable() bool {
	for _, v := range ns.managementVnics() {
		if ns.vnicHasPath(v) {
			return true
		}
	}
	return false
}

// vnicHasPath: one of the vmknic's active or standby uplinks carries its VLAN with link up.
func (ns *NetworkSystem) vnicHasPath(v *types.HostVirtualNic) bool {
	var pnics []string
	vlan := 0
	if dp := v.Spec.DistributedVirtualPort; dp != nil {
		pnics, vlan = ns.dvsUplinks(dp)
	} else if pg := ns.portgroup(v.Portgroup); pg != nil {
		vlan = int(pg.Spec.VlanId)
		vs := ns.vswitch(pg.Spec.VswitchName)
		var bridge []string
		if vs != nil {
			if b, ok := vs.Spec.Bridge.(*types.HostVirtualSwitchBondBridge); ok {
				bridge = b.NicDevice
			}
		}
		pnics = bridge
		if t := pg.ComputedPolicy.NicTeaming; t != nil && t.NicOrder != nil {
			pnics = nil
			for _, n := range append(slices.Clone(t.NicOrder.ActiveNic), t.NicOrder.StandbyNic...) {
				if slices.Contains(bridge, n) {
					pnics = append(pnics, n)
				}
			}
		}
	}
	for _, p := range pnics {
		if ns.carries(p, vlan) {
			return true
		}
	}
	return false
}

func (ns *NetworkSystem) carries(pnic string, vlan int) bool {
	if ns.spec.Uplinks == nil {
		return true
	}
	u, ok := ns.spec.Uplinks[pnic]
	return ok && u.Link && slices.Contains(u.Vlans, vlan)
}

// dvsUplinks: the pnics behind a DV port's active and standby uplinks on this host, and the
// port group's VLAN.
func (ns *NetworkSystem) dvsUplinks(dp *types.DistributedVirtualSwitchPortConnection) ([]string, int) {
	ns.env.mu.Lock()
	d := ns.env.dvs[dp.SwitchUuid]
	ns.env.mu.Unlock()
	if d == nil {
		return nil, 0
	}
	s := &DVSwitch{DistributedVirtualSwitch: d, env: ns.env}
	setting, _ := s.config().DefaultPortConfig.(*types.VMwareDVSPortSetting)
	for _, ref := range s.Portgroup {
		pg, ok := ns.env.registry.Get(ref).(*simulator.DistributedVirtualPortgroup)
		if ok && pg.Config.Key == dp.PortgroupKey {
			if ps, ok := pg.Config.DefaultPortConfig.(*types.VMwareDVSPortSetting); ok {
				setting = mergePortSetting(setting, ps).(*types.VMwareDVSPortSetting)
			}
		}
	}
	if setting == nil {
		return nil, 0
	}
	vlan := 0
	if v, ok := setting.Vlan.(*types.VmwareDistributedVirtualSwitchVlanIdSpec); ok {
		vlan = int(v.VlanId)
	}
	names := s.uplinkNames()
	if t := setting.UplinkTeamingPolicy; t != nil && t.UplinkPortOrder != nil {
		names = append(slices.Clone(t.UplinkPortOrder.ActiveUplinkPort), t.UplinkPortOrder.StandbyUplinkPort...)
	}
	var proxy *types.HostProxySwitch
	for i := range ns.NetworkInfo.ProxySwitch {
		if ns.NetworkInfo.ProxySwitch[i].DvsUuid == s.Uuid {
			proxy = &ns.NetworkInfo.ProxySwitch[i]
		}
	}
	if proxy == nil {
		return nil, vlan
	}
	keyOf := map[string]string{}
	for _, kv := range proxy.UplinkPort {
		keyOf[kv.Value] = kv.Key
	}
	var out []string
	for _, name := range names {
		for _, p := range backingSpecs(proxy.Spec.Backing) {
			if p.UplinkPortKey == keyOf[name] {
				out = append(out, p.PnicDevice)
			}
		}
	}
	return out, vlan
}
