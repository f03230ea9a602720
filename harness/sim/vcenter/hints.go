package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/vmware/govmomi/simulator"
	"github.com/vmware/govmomi/vim25/methods"
	"github.com/vmware/govmomi/vim25/soap"
	"github.com/vmware/govmomi/vim25/types"
)

// QueryNetworkHint answers from the host's own lldpd: the simulated host's namespace runs
// lldpd as a receiver on its vmnics, so the CDP and LLDP data here comes from frames the
// data plane's switches really sent. Without an lldpd (no data plane) every pnic is listed
// with no neighbour, as ESXi does for a port with no CDP/LLDP peer.
func (s *NetworkSystem) QueryNetworkHint(ctx *simulator.Context, req *types.QueryNetworkHint) soap.HasFault {
	body := &methods.QueryNetworkHintBody{}
	if s.disconnected() {
		body.Fault_ = simulator.Fault("", &types.HostNotConnected{})
		return body
	}
	neighbours, err := s.lldpNeighbours()
	if err != nil {
		body.Fault_ = simulator.Fault(err.Error(), &types.SystemError{Reason: err.Error()})
		return body
	}
	var out []types.PhysicalNicHintInfo
	for _, p := range s.NetworkInfo.Pnic {
		if len(req.Device) > 0 && !slices.Contains(req.Device, p.Device) {
			continue
		}
		hint := types.PhysicalNicHintInfo{Device: p.Device}
		for _, n := range neighbours[p.Device] {
			switch {
			case strings.HasPrefix(n.Via, "CDP"):
				hint.ConnectedSwitchPort = n.cdp()
			case n.Via == "LLDP":
				hint.LldpInfo = n.lldp()
			}
		}
		out = append(out, hint)
	}
	body.Res = &types.QueryNetworkHintResponse{Returnval: out}
	return body
}

// lldpNeighbour is one entry of `lldpcli -f json0 show neighbors details hidden`.
type lldpNeighbour struct {
	Name    string `json:"name"`
	Via     string `json:"via"`
	Chassis []struct {
		ID    []typedValue `json:"id"`
		Name  []typedValue `json:"name"`
		Descr []typedValue `json:"descr"`
		Mgmt  []typedValue `json:"mgmt-ip"`
	} `json:"chassis"`
	Port []struct {
		ID    []typedValue `json:"id"`
		Descr []typedValue `json:"descr"`
		TTL   []typedValue `json:"ttl"`
	} `json:"port"`
	Vlan []struct {
		VlanID string `json:"vlan-id"`
		Pvid   bool   `json:"pvid"`
	} `json:"vlan"`
}

type typedValue struct {
	Type  string `json:"type"`
	Value string `json:"value"`
}

func first(v []typedValue) string {
	if len(v) == 0 {
		return ""
	}
	return v[0].Value
}

func (n *lldpNeighbour) chassis() (id, name, descr, mgmt string) {
	if len(n.Chassis) == 0 {
		return
	}
	c := n.Chassis[0]
	return first(c.ID), first(c.Name), first(c.Descr), first(c.Mgmt)
}

func (n *lldpNeighbour) port() (id, descr string, ttl int32) {
	if len(n.Port) == 0 {
		return
	}
	p := n.Port[0]
	t, _ := strconv.Atoi(first(p.TTL))
	return first(p.ID), first(p.Descr), int32(t)
}

func (n *lldpNeighbour) cdp() *types.PhysicalNicCdpInfo {
	_, name, descr, mgmt := n.chassis()
	portID, _, ttl := n.port()
	info := &types.PhysicalNicCdpInfo{CdpVersion: 2, Ttl: ttl, Timeout: ttl, DevId: name,
		PortId: portID, SystemName: name, Address: mgmt, MgmtAddr: mgmt}
	// lldpd renders CDP's platform and software version as "<platform> running on\n<software>"
	if platform, software, ok := strings.Cut(descr, " running on\n"); ok {
		info.HardwarePlatform, info.SoftwareVersion = platform, software
	} else {
		info.SoftwareVersion = descr
	}
	for _, v := range n.Vlan {
		if v.Pvid {
			id, _ := strconv.Atoi(v.VlanID)
			info.Vlan = int32(id)
		}
	}
	return info
}

func (n *lldpNeighbour) lldp() *types.LinkLayerDiscoveryProtocolInfo {
	id, name, descr, mgmt := n.chassis()
	portID, portDescr, ttl := n.port()
	info := &types.LinkLayerDiscoveryProtocolInfo{ChassisId: id, PortId: portID, TimeToLive: ttl}
	for _, kv := range [][2]string{{"System Name", name}, {"System Description", descr},
		{"Port Description", portDescr}, {"Management Address", mgmt}} {
		if kv[1] != "" {
			info.Parameter = append(info.Parameter, types.KeyAnyValue{Key: kv[0], Value: kv[1]})
		}
	}
	return info
}

// lldpNeighbours reads the host lldpd's neighbour table, by vmnic.
func (s *NetworkSystem) lldpNeighbours() (map[string][]lldpNeighbour, error) {
	l := s.spec.Lldp
	if l == nil || l.Socket == "" {
		return nil, nil
	}
	cmd := l.Command
	if cmd == "" {
		cmd = "lldpcli"
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	raw, err := exec.CommandContext(ctx, cmd, "-u", l.Socket, "-f", "json0",
		"show", "neighbors", "details", "hidden").Output()
	if err != nil {
		var exit *exec.ExitError
		if errors.As(err, &exit) && len(exit.Stderr) > 0 {
			return nil, fmt.Errorf("lldpcli -u %s: %v: %s", l.Socket, err, strings.TrimSpace(string(exit.Stderr)))
		}
		return nil, err
	}
	var doc struct {
		Lldp []struct {
			Interface []lldpNeighbour `json:"interface"`
		} `json:"lldp"`
	}
	if err := json.Unmarshal(raw, &doc); err != nil {
		return nil, err
	}
	out := map[string][]lldpNeighbour{}
	for _, l := range doc.Lldp {
		for _, n := range l.Interface {
			if vmnic, ok := s.spec.Lldp.Interfaces[n.Name]; ok {
				out[vmnic] = append(out[vmnic], n)
			}
		}
	}
	return out, nil
}
