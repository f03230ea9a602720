package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"sort"
	"strconv"
	"time"

	"github.com/vmware/govmomi/simulator"
	"github.com/vmware/govmomi/vim25/mo"
	"github.com/vmware/govmomi/vim25/types"
	"github.com/vmware/govmomi/vim25/xml"
)

type installer struct {
	model         *simulator.Model
	networkFolder types.ManagedObjectReference
	env           *simEnv
}

func newInstaller(model *simulator.Model, networkFolder types.ManagedObjectReference, env *simEnv) *installer {
	return &installer{model: model, networkFolder: networkFolder, env: env}
}

// install gives one host its identity from the spec and its own host managers. It runs before
// the server starts, so nothing else can see the objects yet and no locks are needed.
func (in *installer) install(h *simulator.HostSystem, index int, hs HostSpec) error {
	r := in.model.Map()

	p := &h.Config.Product
	p.Version = hs.Version
	p.Build = strconv.FormatInt(hs.Build, 10)
	p.FullName = fmt.Sprintf("VMware ESXi %s build-%d", hs.Version, hs.Build)
	p.ApiVersion = apiVersion(hs.Version, hs.APIVersion)
	p.LicenseProductVersion = licenseVersion(hs.Version)
	// The template's summary points at the one global esx product: give each host its own.
	h.Summary.Config.Product = p
	if hs.BootTime != nil {
		booted := *hs.BootTime
		h.Runtime.BootTime = &booted
		h.Summary.Runtime = &h.Runtime
	}

	setPhysicalNics(h, index, hs.Vmnics)
	if hs.System != nil {
		setSystem(r, h, hs.System, hs.Version)
	}
	vmk0Mac := macAddress(index, 0x40)
	for i := range h.Config.Network.Vnic {
		h.Config.Network.Vnic[i].Spec.Mac = vmk0Mac
	}
	for i := range h.Config.Network.Portgroup {
		for j := range h.Config.Network.Portgroup[i].Port {
			h.Config.Network.Portgroup[i].Port[j].Mac = []string{vmk0Mac}
		}
	}

	// The stock model lists a standard port group's Network entity ("VM Network") as seen by
	// the first host only, though every host has it; vCenter lists each host that has the
	// port group, so the entity outlives one host removing it (unlinkNetwork) instead of
	// vanishing and leaving the other hosts' `network` pointing at nothing.
	for _, ref := range h.Network {
		if n, ok := r.Get(ref).(*mo.Network); ok {
			n.Host = appendRef(n.Host, h.Self)
		}
	}

	ns := newNetworkSystem(r, h, in.networkFolder, index)
	ns.env, ns.spec = in.env, hs
	in.env.netsys[h.Self] = ns
	r.Put(ns)

	dts := newDateTimeSystem(h, time.Duration(hs.ClockOffsetS*float64(time.Second)))
	r.Put(dts)
	dtsRef := dts.Self
	// A new pointer, never a write through the old one: the template's ConfigManager
	// pointers are shared by every host.
	h.ConfigManager.DateTimeSystem = &dtsRef

	ss := newServiceSystem(h)
	ss.clock = dts
	// vpxa, vCenter's agent on the host, runs on every host vCenter manages: it is how vCenter
	// talks to hostd. The template (a standalone ESXi) has it stopped.
	if vpxa := ss.service("vpxa"); vpxa != nil {
		vpxa.Running = true
	}
	r.Put(ss)
	ssRef := ss.Self
	h.ConfigManager.ServiceSystem = &ssRef

	vs := newVsanSystem(h)
	r.Put(vs)
	vsRef := vs.Self
	h.ConfigManager.VsanSystem = &vsRef

	opts, err := optionValues(hs.AdvancedOptions)
	if err != nil {
		return err
	}
	om := newOptionManager(r, h, opts)
	r.Put(om)

	fw := newFirewallSystem(r, h)
	r.Put(fw)

	// VMkernel NIC service tags and a local datastore for VMs (vnicmgr.go).
	vm, err := newVirtualNicManager(r, h)
	if err != nil {
		return err
	}
	r.Put(vm)
	return addLocalDatastore(in.model, h, hs.Name+"-local")
}

// optionValues merges the ESXi defaults with the spec's seeds, in a stable order.
func optionValues(seed map[string]any) ([]types.BaseOptionValue, error) {
	merged := map[string]any{}
	for k, v := range esxiDefaultOptions {
		merged[k] = v
	}
	for k, v := range seed {
		merged[k] = v
	}
	keys := make([]string, 0, len(merged))
	for k := range merged {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	out := make([]types.BaseOptionValue, 0, len(keys))
	for _, k := range keys {
		v, err := optionValue(merged[k])
		if err != nil {
			return nil, fmt.Errorf("advanced option %s: %w", k, err)
		}
		out = append(out, &types.OptionValue{Key: k, Value: v})
	}
	return out, nil
}

func optionValue(v any) (any, error) {
	switch x := v.(type) {
	case int64, string, bool:
		return x, nil
	case json.Number:
		if i, err := x.Int64(); err == nil {
			return i, nil
		}
		return x.Float64()
	default:
		return nil, fmt.Errorf("unsupported value %v (%T): use a number, string or bool", v, v)
	}
}

// setPhysicalNics replaces the template's two pnics with the host's own, each with a MAC
// unique across the simulator (the template gives every host the same MACs).
func setPhysicalNics(h *simulator.HostSystem, index int, vmnics []string) {
	net := h.Config.Network
	template := net.Pnic[0]
	if len(vmnics) == 0 {
		vmnics = make([]string, len(net.Pnic))
		for i := range net.Pnic {
			vmnics[i] = net.Pnic[i].Device
		}
	}
	pnics := make([]types.PhysicalNic, 0, len(vmnics))
	for i, name := range vmnics {
		var p types.PhysicalNic
		deepCopy(&template, &p)
		n, _ := strconv.Atoi(name[len("vmnic"):])
		p.Device = name
		p.Key = "key-vim.host.PhysicalNic-" + name
		p.Pci = fmt.Sprintf("0000:%02x:00.%d", 0x0b+i/4, i%4)
		p.Mac = macAddress(index, n)
		if p.FcoeConfiguration != nil {
			p.FcoeConfiguration.SourceMac = p.Mac
		}
		pnics = append(pnics, p)
	}
	net.Pnic = pnics
	// Keep the template's vSwitch0 consistent with the pnics that now exist.
	for i := range net.Vswitch {
		vs := &net.Vswitch[i]
		if b, ok := vs.Spec.Bridge.(*types.HostVirtualSwitchBondBridge); ok {
			b.NicDevice = existing(net, b.NicDevice)
			vs.Pnic = pnicKeys(b.NicDevice)
		}
		if t := vs.Spec.Policy.NicTeaming; t != nil && t.NicOrder != nil {
			t.NicOrder.ActiveNic = existing(net, t.NicOrder.ActiveNic)
		}
	}
}

func existing(net *types.HostNetworkInfo, names []string) []string {
	var out []string
	for _, n := range names {
		if findPnic(net, n) != nil {
			out = append(out, n)
		}
	}
	return out
}

func findPnic(net *types.HostNetworkInfo, device string) *types.PhysicalNic {
	for i := range net.Pnic {
		if net.Pnic[i].Device == device {
			return &net.Pnic[i]
		}
	}
	return nil
}

func pnicKeys(devices []string) []string {
	keys := make([]string, 0, len(devices))
	for _, d := range devices {
		keys = append(keys, "key-vim.host.PhysicalNic-"+d)
	}
	return keys
}

// macAddress is a VMware-OUI MAC unique per (host index, slot): slot < 0x40 are pnics,
// 0x40 and up vmknics.
func macAddress(hostIndex, slot int) string {
	return fmt.Sprintf("00:50:56:%02x:%02x:%02x", (hostIndex>>8)&0xff, hostIndex&0xff, slot&0xff)
}

// deepCopy copies vim25 data through its XML encoding, the same way the simulator isolates
// template data, so no slice or pointer is shared between hosts.
func deepCopy(src, dst any) {
	b, err := xml.Marshal(src)
	if err != nil {
		panic(err)
	}
	dec := xml.NewDecoder(bytes.NewReader(b))
	dec.TypeFunc = types.TypeFunc()
	if err := dec.Decode(dst); err != nil {
		panic(err)
	}
}
