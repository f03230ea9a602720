package main

import "github.com/vmware/govmomi/vim25/types"

// computePolicy is ESXi's inheritance for a standard port group: every policy field the port
// group leaves unset (nil pointer, empty string, zero number, nil nicOrder) comes from the
// switch. The result shares nothing with its inputs.
func computePolicy(sw *types.HostNetworkPolicy, pg *types.HostNetworkPolicy) types.HostNetworkPolicy {
	if sw == nil {
		sw = &types.HostNetworkPolicy{}
	}
	return types.HostNetworkPolicy{
		Security:      mergeSecurity(sw.Security, pg.Security),
		NicTeaming:    mergeTeaming(sw.NicTeaming, pg.NicTeaming),
		OffloadPolicy: mergeOffload(sw.OffloadPolicy, pg.OffloadPolicy),
		ShapingPolicy: mergeShaping(sw.ShapingPolicy, pg.ShapingPolicy),
	}
}

func pick(base, override *bool) *bool {
	if override != nil {
		return types.NewBool(*override)
	}
	if base != nil {
		return types.NewBool(*base)
	}
	return nil
}

func mergeSecurity(base, o *types.HostNetworkSecurityPolicy) *types.HostNetworkSecurityPolicy {
	if base == nil && o == nil {
		return nil
	}
	if base == nil {
		base = &types.HostNetworkSecurityPolicy{}
	}
	if o == nil {
		o = &types.HostNetworkSecurityPolicy{}
	}
	return &types.HostNetworkSecurityPolicy{
		AllowPromiscuous: pick(base.AllowPromiscuous, o.AllowPromiscuous),
		MacChanges:       pick(base.MacChanges, o.MacChanges),
		ForgedTransmits:  pick(base.ForgedTransmits, o.ForgedTransmits),
	}
}

func mergeTeaming(base, o *types.HostNicTeamingPolicy) *types.HostNicTeamingPolicy {
	if base == nil && o == nil {
		return nil
	}
	if base == nil {
		base = &types.HostNicTeamingPolicy{}
	}
	if o == nil {
		o = &types.HostNicTeamingPolicy{}
	}
	out := &types.HostNicTeamingPolicy{
		Policy:          base.Policy,
		ReversePolicy:   pick(base.ReversePolicy, o.ReversePolicy),
		NotifySwitches:  pick(base.NotifySwitches, o.NotifySwitches),
		RollingOrder:    pick(base.RollingOrder, o.RollingOrder),
		FailureCriteria: mergeFailure(base.FailureCriteria, o.FailureCriteria),
		NicOrder:        copyOrder(base.NicOrder),
	}
	if o.Policy != "" {
		out.Policy = o.Policy
	}
	// The order is one override: a port group that sets it sets both active and standby.
	if o.NicOrder != nil {
		out.NicOrder = copyOrder(o.NicOrder)
	}
	return out
}

func copyOrder(o *types.HostNicOrderPolicy) *types.HostNicOrderPolicy {
	if o == nil {
		return nil
	}
	return &types.HostNicOrderPolicy{
		ActiveNic:  append([]string(nil), o.ActiveNic...),
		StandbyNic: append([]string(nil), o.StandbyNic...),
	}
}

func mergeFailure(base, o *types.HostNicFailureCriteria) *types.HostNicFailureCriteria {
	if base == nil && o == nil {
		return nil
	}
	if base == nil {
		base = &types.HostNicFailureCriteria{}
	}
	if o == nil {
		o = &types.HostNicFailureCriteria{}
	}
	out := &types.HostNicFailureCriteria{
		CheckSpeed:        base.CheckSpeed,
		Speed:             base.Speed,
		CheckDuplex:       pick(base.CheckDuplex, o.CheckDuplex),
		FullDuplex:        pick(base.FullDuplex, o.FullDuplex),
		CheckErrorPercent: pick(base.CheckErrorPercent, o.CheckErrorPercent),
		Percentage:        base.Percentage,
		CheckBeacon:       pick(base.CheckBeacon, o.CheckBeacon),
	}
	if o.CheckSpeed != "" {
		out.CheckSpeed = o.CheckSpeed
	}
	if o.Speed != 0 {
		out.Speed = o.Speed
	}
	if o.Percentage != 0 {
		out.Percentage = o.Percentage
	}
	return out
}

func mergeOffload(base, o *types.HostNetOffloadCapabilities) *types.HostNetOffloadCapabilities {
	if base == nil && o == nil {
		return nil
	}
	if base == nil {
		base = &types.HostNetOffloadCapabilities{}
	}
	if o == nil {
		o = &types.HostNetOffloadCapabilities{}
	}
	return &types.HostNetOffloadCapabilities{
		CsumOffload:     pick(base.CsumOffload, o.CsumOffload),
		TcpSegmentation: pick(base.TcpSegmentation, o.TcpSegmentation),
		ZeroCopyXmit:    pick(base.ZeroCopyXmit, o.ZeroCopyXmit),
	}
}

func mergeShaping(base, o *types.HostNetworkTrafficShapingPolicy) *types.HostNetworkTrafficShapingPolicy {
	if base == nil && o == nil {
		return nil
	}
	if base == nil {
		base = &types.HostNetworkTrafficShapingPolicy{}
	}
	if o == nil {
		o = &types.HostNetworkTrafficShapingPolicy{}
	}
	out := *base
	out.Enabled = pick(base.Enabled, o.Enabled)
	if o.AverageBandwidth != 0 {
		out.AverageBandwidth = o.AverageBandwidth
	}
	if o.PeakBandwidth != 0 {
		out.PeakBandwidth = o.PeakBandwidth
	}
	if o.BurstSize != 0 {
		out.BurstSize = o.BurstSize
	}
	return &out
}

// defaultSwitchPolicy is what ESXi gives a new standard switch: reject promiscuous mode, MAC
// changes and forged transmits, route by originating port, every uplink active.
func defaultSwitchPolicy(bridge types.BaseHostVirtualSwitchBridge) *types.HostNetworkPolicy {
	var active []string
	if b, ok := bridge.(*types.HostVirtualSwitchBondBridge); ok {
		active = append(active, b.NicDevice...)
	}
	return &types.HostNetworkPolicy{
		Security: &types.HostNetworkSecurityPolicy{
			AllowPromiscuous: types.NewBool(false),
			MacChanges:       types.NewBool(false),
			ForgedTransmits:  types.NewBool(false),
		},
		NicTeaming: &types.HostNicTeamingPolicy{
			Policy:         "loadbalance_srcid",
			ReversePolicy:  types.NewBool(true),
			NotifySwitches: types.NewBool(true),
			RollingOrder:   types.NewBool(false),
			FailureCriteria: &types.HostNicFailureCriteria{
				CheckSpeed: "minimum", Speed: 10, CheckDuplex: types.NewBool(false),
				FullDuplex: types.NewBool(false), CheckErrorPercent: types.NewBool(false),
				CheckBeacon: types.NewBool(false),
			},
			NicOrder: &types.HostNicOrderPolicy{ActiveNic: active},
		},
		OffloadPolicy: &types.HostNetOffloadCapabilities{
			CsumOffload: types.NewBool(true), TcpSegmentation: types.NewBool(true),
			ZeroCopyXmit: types.NewBool(true),
		},
		ShapingPolicy: &types.HostNetworkTrafficShapingPolicy{Enabled: types.NewBool(false)},
	}
}
