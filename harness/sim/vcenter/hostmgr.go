package main

import (
	"sync/atomic"
	"time"

	"github.com/vmware/govmomi/simulator"
	"github.com/vmware/govmomi/vim25/methods"
	"github.com/vmware/govmomi/vim25/mo"
	"github.com/vmware/govmomi/vim25/soap"
	"github.com/vmware/govmomi/vim25/types"
)

// The host managers below are per host and share no data with other hosts. Each one's info is
// also the host's config.<x> (one struct, two property paths); changes are published under both
// names, at leaf paths below the shared struct so the aliasing survives the update.

// ---------------------------------------------------------------------------------------------
// HostDateTimeSystem (absent from the stock simulator)

// DateTimeSystem is a host's clock and NTP configuration. The clock is the simulator's clock
// plus a per-host offset, so drift scenarios can be staged.
type DateTimeSystem struct {
	mo.HostDateTimeSystem

	host   *simulator.HostSystem
	offset atomic.Int64 // time.Duration; written by UpdateDateTime and ServiceSystem's ntpd start
}

var utc = types.HostDateTimeSystemTimeZone{Key: "UTC", Name: "UTC", Description: "UTC", GmtOffset: 0}

func newDateTimeSystem(h *simulator.HostSystem, offset time.Duration) *DateTimeSystem {
	d := &DateTimeSystem{host: h}
	d.offset.Store(int64(offset))
	d.Self = types.ManagedObjectReference{Type: "HostDateTimeSystem", Value: "dateTimeSystem-" + h.Self.Value}
	d.DateTimeInfo = types.HostDateTimeInfo{TimeZone: utc, SystemClockProtocol: "ntp",
		NtpConfig: &types.HostNtpConfig{}}
	h.Config.DateTimeInfo = &d.DateTimeInfo
	return d
}

// UpdateDateTimeConfig sets the time zone (ESXi only knows UTC) and the NTP servers.
func (d *DateTimeSystem) UpdateDateTimeConfig(ctx *simulator.Context, req *types.UpdateDateTimeConfig) soap.HasFault {
	body := &methods.UpdateDateTimeConfigBody{}
	if req.Config.TimeZone != "" && req.Config.TimeZone != "UTC" {
		body.Fault_ = simulator.Fault("", &types.InvalidArgument{InvalidProperty: "config.timeZone"})
		return body
	}
	if ntp := req.Config.NtpConfig; ntp != nil {
		for _, s := range ntp.Server {
			if s == "" {
				body.Fault_ = simulator.Fault("", &types.InvalidArgument{InvalidProperty: "config.ntpConfig.server"})
				return body
			}
		}
	}
	ctx.WithLock(d.host, func() {
		var changes []string
		if req.Config.NtpConfig != nil {
			d.DateTimeInfo.NtpConfig = &types.HostNtpConfig{
				Server:     append([]string(nil), req.Config.NtpConfig.Server...),
				ConfigFile: append([]string(nil), req.Config.NtpConfig.ConfigFile...),
			}
			changes = append(changes, "ntpConfig")
		}
		if req.Config.TimeZone != "" {
			d.DateTimeInfo.TimeZone = utc
			changes = append(changes, "timeZone")
		}
		d.publish(ctx, changes...)
	})
	body.Res = &types.UpdateDateTimeConfigResponse{}
	return body
}

func (d *DateTimeSystem) publish(ctx *simulator.Context, leaves ...string) {
	var own, host []types.PropertyChange
	for _, leaf := range leaves {
		var val any
		switch leaf {
		case "ntpConfig":
			val = d.DateTimeInfo.NtpConfig
		case "timeZone":
			val = d.DateTimeInfo.TimeZone
		}
		own = append(own, types.PropertyChange{Name: "dateTimeInfo." + leaf, Val: val})
		host = append(host, types.PropertyChange{Name: "config.dateTimeInfo." + leaf, Val: val})
	}
	if len(own) > 0 {
		ctx.Update(d, own)
		ctx.Update(d.host, host)
		// The updates above replaced the leaf pointers in the shared struct; nothing else to fix.
	}
}

// QueryDateTime returns the host's clock: real time plus the host's offset.
func (d *DateTimeSystem) QueryDateTime(ctx *simulator.Context, req *types.QueryDateTime) soap.HasFault {
	return &methods.QueryDateTimeBody{Res: &types.QueryDateTimeResponse{Returnval: time.Now().Add(time.Duration(d.offset.Load())).UTC()}}
}

// UpdateDateTime sets the host's clock, which is to say its offset from real time.
func (d *DateTimeSystem) UpdateDateTime(ctx *simulator.Context, req *types.UpdateDateTime) soap.HasFault {
	d.offset.Store(int64(time.Until(req.DateTime)))
	return &methods.UpdateDateTimeBody{Res: &types.UpdateDateTimeResponse{}}
}

// QueryAvailableTimeZones lists the one time zone ESXi supports.
func (d *DateTimeSystem) QueryAvailableTimeZones(ctx *simulator.Context, req *types.QueryAvailableTimeZones) soap.HasFault {
	return &methods.QueryAvailableTimeZonesBody{Res: &types.QueryAvailableTimeZonesResponse{
		Returnval: []types.HostDateTimeSystemTimeZone{utc}}}
}

// RefreshDateTimeSystem has nothing to refresh: the state is always current.
func (d *DateTimeSystem) RefreshDateTimeSystem(ctx *simulator.Context, req *types.RefreshDateTimeSystem) soap.HasFault {
	return &methods.RefreshDateTimeSystemBody{Res: &types.RefreshDateTimeSystemResponse{}}
}

// ---------------------------------------------------------------------------------------------
// HostServiceSystem (absent from the stock simulator; the data is in config.service)

// ServiceSystem starts, stops and sets the policy of a host's services (ntpd, TSM-SSH, ...).
type ServiceSystem struct {
	mo.HostServiceSystem

	host  *simulator.HostSystem
	clock *DateTimeSystem // ntpd steps it when it starts with servers
}

// ntpStep is what ESXi's ntpd does when it starts with servers configured (it runs with -g):
// it steps the clock to the servers' time, whatever the offset.
func (s *ServiceSystem) ntpStep(id string) {
	if id == "ntpd" && s.clock != nil && s.clock.DateTimeInfo.NtpConfig != nil &&
		len(s.clock.DateTimeInfo.NtpConfig.Server) > 0 {
		s.clock.offset.Store(0)
	}
}

func newServiceSystem(h *simulator.HostSystem) *ServiceSystem {
	s := &ServiceSystem{host: h}
	s.Self = types.ManagedObjectReference{Type: "HostServiceSystem", Value: "serviceSystem-" + h.Self.Value}
	if h.Config.Service != nil {
		deepCopy(h.Config.Service, &s.ServiceInfo)
	}
	h.Config.Service = &s.ServiceInfo
	return s
}

func (s *ServiceSystem) service(id string) *types.HostService {
	for i := range s.ServiceInfo.Service {
		if s.ServiceInfo.Service[i].Key == id {
			return &s.ServiceInfo.Service[i]
		}
	}
	return nil
}

// change applies f to service id under the host lock and publishes; f returns a fault to refuse.
func (s *ServiceSystem) change(ctx *simulator.Context, id string, f func(*types.HostService) types.BaseMethodFault) *soap.Fault {
	var fault types.BaseMethodFault
	ctx.WithLock(s.host, func() {
		svc := s.service(id)
		if svc == nil {
			fault = &types.NotFound{}
			return
		}
		if fault = f(svc); fault != nil {
			return
		}
		ctx.Update(s, []types.PropertyChange{{Name: "serviceInfo.service", Val: s.ServiceInfo.Service}})
		ctx.Update(s.host, []types.PropertyChange{{Name: "config.service.service", Val: s.ServiceInfo.Service}})
	})
	if fault != nil {
		return simulator.Fault("", fault)
	}
	return nil
}

// StartService starts a stopped service; starting a running one is InvalidState, as on ESXi.
func (s *ServiceSystem) StartService(ctx *simulator.Context, req *types.StartService) soap.HasFault {
	body := &methods.StartServiceBody{Fault_: s.change(ctx, req.Id, func(svc *types.HostService) types.BaseMethodFault {
		if svc.Running {
			return &types.InvalidState{}
		}
		svc.Running = true
		s.ntpStep(svc.Key)
		return nil
	})}
	if body.Fault_ == nil {
		body.Res = &types.StartServiceResponse{}
	}
	return body
}

// StopService stops a running service; stopping a stopped one is InvalidState, as on ESXi.
func (s *ServiceSystem) StopService(ctx *simulator.Context, req *types.StopService) soap.HasFault {
	body := &methods.StopServiceBody{Fault_: s.change(ctx, req.Id, func(svc *types.HostService) types.BaseMethodFault {
		if !svc.Running {
			return &types.InvalidState{}
		}
		svc.Running = false
		return nil
	})}
	if body.Fault_ == nil {
		body.Res = &types.StopServiceResponse{}
	}
	return body
}

// RestartService leaves the service running, whatever its state before.
func (s *ServiceSystem) RestartService(ctx *simulator.Context, req *types.RestartService) soap.HasFault {
	body := &methods.RestartServiceBody{Fault_: s.change(ctx, req.Id, func(svc *types.HostService) types.BaseMethodFault {
		svc.Running = true
		s.ntpStep(svc.Key)
		return nil
	})}
	if body.Fault_ == nil {
		body.Res = &types.RestartServiceResponse{}
	}
	return body
}

// UpdateServicePolicy sets the startup policy: on, off or automatic.
func (s *ServiceSystem) UpdateServicePolicy(ctx *simulator.Context, req *types.UpdateServicePolicy) soap.HasFault {
	body := &methods.UpdateServicePolicyBody{Fault_: s.change(ctx, req.Id, func(svc *types.HostService) types.BaseMethodFault {
		switch req.Policy {
		case "on", "off", "automatic":
			svc.Policy = req.Policy
			return nil
		}
		return &types.InvalidArgument{InvalidProperty: "policy"}
	})}
	if body.Fault_ == nil {
		body.Res = &types.UpdateServicePolicyResponse{}
	}
	return body
}

// RefreshServices has nothing to refresh: the state is always current.
func (s *ServiceSystem) RefreshServices(ctx *simulator.Context, req *types.RefreshServices) soap.HasFault {
	return &methods.RefreshServicesBody{Res: &types.RefreshServicesResponse{}}
}

// ---------------------------------------------------------------------------------------------
// HostVsanSystem (the stock host points configManager.vsanSystem at a "vsanSystem" moref that
// is never registered, so any call on it fails with ManagedObjectNotFound)

// VsanSystem is a host's vSAN service, disabled as on every lab host: vCenter has one per
// host whether or not vSAN is on, and clients such as Ansible's vmware_host_facts query it.
type VsanSystem struct {
	mo.HostVsanSystem
}

func newVsanSystem(h *simulator.HostSystem) *VsanSystem {
	v := &VsanSystem{}
	v.Self = types.ManagedObjectReference{Type: "HostVsanSystem", Value: "vsanSystem-" + h.Self.Value}
	host := h.Self
	v.Config = types.VsanHostConfigInfo{Enabled: types.NewBool(false), HostSystem: &host}
	h.Config.VsanHostConfig = &v.Config
	return v
}

// QueryHostStatus answers as a host with vSAN disabled does: no cluster or node UUID, health
// unknown, node state disabled.
func (v *VsanSystem) QueryHostStatus(ctx *simulator.Context, req *types.QueryHostStatus) soap.HasFault {
	return &methods.QueryHostStatusBody{Res: &types.QueryHostStatusResponse{
		Returnval: types.VsanHostClusterStatus{
			Health:    string(types.VsanHostHealthStateUnknown),
			NodeState: types.VsanHostClusterStatusState{State: string(types.VsanHostNodeStateDisabled)},
		}}}
}

// ---------------------------------------------------------------------------------------------
// Advanced options (stock OptionManager, wrapped to publish changes)

// OptionManager is a host's advanced settings. The stock one already keeps per-host copies
// mirrored into config.option but never tells WaitForUpdates about changes.
type OptionManager struct {
	*simulator.OptionManager

	host *simulator.HostSystem
}

func newOptionManager(r *simulator.Registry, h *simulator.HostSystem, seed []types.BaseOptionValue) *OptionManager {
	stock := r.Get(*h.ConfigManager.AdvancedOption).(*simulator.OptionManager)
	om := &OptionManager{OptionManager: stock, host: h}
	// Through the stock method so its mirror into config.option stays in step.
	if f := stock.UpdateOptions(&types.UpdateOptions{ChangedValue: seed}).Fault(); f != nil {
		panic(f)
	}
	return om
}

// UpdateOptions changes options on this host only and publishes setting and config.option.
func (m *OptionManager) UpdateOptions(ctx *simulator.Context, req *types.UpdateOptions) soap.HasFault {
	var res soap.HasFault
	ctx.WithLock(m.host, func() {
		res = m.OptionManager.UpdateOptions(req)
		if res.Fault() == nil {
			ctx.Update(m, []types.PropertyChange{{Name: "setting", Val: m.Setting}})
			ctx.Update(m.host, []types.PropertyChange{{Name: "config.option", Val: m.host.Config.Option}})
		}
	})
	return res
}

// ---------------------------------------------------------------------------------------------
// Firewall (stock HostFirewallSystem, isolated and wrapped to publish changes)

// FirewallSystem is a host's firewall. The stock one copies the template's info but shares its
// ruleset slice with every host, so enabling a ruleset on one host enabled it on all.
type FirewallSystem struct {
	*simulator.HostFirewallSystem

	host *simulator.HostSystem
}

func newFirewallSystem(r *simulator.Registry, h *simulator.HostSystem) *FirewallSystem {
	stock := r.Get(*h.ConfigManager.FirewallSystem).(*simulator.HostFirewallSystem)
	info := new(types.HostFirewallInfo)
	deepCopy(stock.FirewallInfo, info)
	stock.FirewallInfo = info
	h.Config.Firewall = info
	return &FirewallSystem{HostFirewallSystem: stock, host: h}
}

func (f *FirewallSystem) publish(ctx *simulator.Context) {
	ctx.Update(f, []types.PropertyChange{{Name: "firewallInfo.ruleset", Val: f.FirewallInfo.Ruleset}})
	ctx.Update(f.host, []types.PropertyChange{{Name: "config.firewall.ruleset", Val: f.FirewallInfo.Ruleset}})
}

// EnableRuleset enables a ruleset on this host only.
func (f *FirewallSystem) EnableRuleset(ctx *simulator.Context, req *types.EnableRuleset) soap.HasFault {
	var res soap.HasFault
	ctx.WithLock(f.host, func() {
		if res = f.HostFirewallSystem.EnableRuleset(req); res.Fault() == nil {
			f.publish(ctx)
		}
	})
	return res
}

// DisableRuleset disables a ruleset on this host only.
func (f *FirewallSystem) DisableRuleset(ctx *simulator.Context, req *types.DisableRuleset) soap.HasFault {
	var res soap.HasFault
	ctx.WithLock(f.host, func() {
		if res = f.HostFirewallSystem.DisableRuleset(req); res.Fault() == nil {
			f.publish(ctx)
		}
	})
	return res
}
