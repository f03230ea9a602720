package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// esxcli's network commands, run in the host's data-plane namespace the way QueryNetworkHint
// reads the host's own lldpd (hints.go): the kernel's routes, addresses, links and neighbours
// there are the host's, and vmkping is a real ping sent from there. The host's configuration
// (which vmknic is on which TCP/IP stack and port group) comes from its network system, as
// ESXi's vmkernel knows it.
//
// TCP/IP stacks: the data plane realises each stack other than defaultTcpipStack as a policy
// routing table selected by its vmknics' source addresses (HostSpec.Netstacks says which).

const defaultNetstack = "defaultTcpipStack"

// vmkInfo is what ESXi's configuration says about one vmknic.
type vmkInfo struct {
	name, portgroup, netstack, mac, ip, mask string
	dhcp                                     bool
	mtu                                      int32
	portID                                   int64
	portset, dvsName, dvsUUID, dvsPort       string
	connection                               int64
}

func (c *esxcliCall) needNetns() *cliFault {
	if c.ns.spec.Netns == "" {
		return faultf("this simulated host has no data plane (start the simulated lab with " +
			"`labharness sim up` for esxcli network commands)")
	}
	return nil
}

// vmknics reads the host's vmknics from its configuration, under the host's lock (the
// property collector reads it under the same lock).
func (c *esxcliCall) vmknics() []vmkInfo {
	var out []vmkInfo
	c.ctx.WithLock(c.host, func() {
		net := c.ns.NetworkInfo
		for _, v := range net.Vnic {
			info := vmkInfo{name: v.Device, portgroup: v.Portgroup, mac: v.Spec.Mac,
				netstack: v.Spec.NetStackInstanceKey, mtu: v.Spec.Mtu, connection: -1}
			if info.netstack == "" {
				info.netstack = defaultNetstack
			}
			if ip := v.Spec.Ip; ip != nil {
				info.dhcp, info.ip, info.mask = ip.Dhcp, ip.IpAddress, ip.SubnetMask
			}
			if i := strings.LastIndex(v.Port, "-"); i >= 0 {
				info.portID, _ = strconv.ParseInt(v.Port[i+1:], 10, 64)
			}
			if dp := v.Spec.DistributedVirtualPort; dp != nil {
				info.dvsUUID, info.dvsPort = dp.SwitchUuid, dp.PortKey
				info.connection = int64(dp.ConnectionCookie)
				for _, ps := range net.ProxySwitch {
					if ps.DvsUuid == dp.SwitchUuid {
						info.portset, info.dvsName = ps.Key, ps.DvsName
					}
				}
			} else if pg := c.ns.portgroup(v.Portgroup); pg != nil {
				info.portset = pg.Spec.VswitchName
			}
			out = append(out, info)
		}
	})
	sort.Slice(out, func(i, j int) bool { return vmkIndex(out[i].name) < vmkIndex(out[j].name) })
	return out
}

func vmkIndex(name string) int {
	n, _ := strconv.Atoi(strings.TrimPrefix(name, "vmk"))
	return n
}

// netstack is the -N argument: the stack's name and its routing table.
func (c *esxcliCall) netstack() (string, string, *cliFault) {
	name := c.str("netstack", defaultNetstack)
	table, ok := c.ns.spec.Netstacks[name]
	if !ok && name == defaultNetstack {
		table, ok = "main", true
	}
	if !ok {
		var known []string
		for k := range c.ns.spec.Netstacks {
			known = append(known, k)
		}
		sort.Strings(known)
		return "", "", faultf("Netstack instance %s does not exist (this host has: %s)", name,
			strings.Join(known, ", "))
	}
	return name, table, nil
}

// ipJSON runs `ip -n <host ns> -j <args>` and decodes its JSON into out.
func (c *esxcliCall) ipJSON(out any, args ...string) *cliFault {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	argv := append([]string{"-n", c.ns.spec.Netns, "-j"}, args...)
	raw, err := exec.CommandContext(ctx, "ip", argv...).Output()
	if err != nil {
		var exit *exec.ExitError
		if errors.As(err, &exit) && len(exit.Stderr) > 0 {
			return faultf("ip %s: %s", strings.Join(argv, " "), strings.TrimSpace(string(exit.Stderr)))
		}
		return faultf("ip %s: %v", strings.Join(argv, " "), err)
	}
	if len(strings.TrimSpace(string(raw))) == 0 {
		return nil
	}
	if err := json.Unmarshal(raw, out); err != nil {
		return faultf("ip %s: %v", strings.Join(argv, " "), err)
	}
	return nil
}

type kernelLink struct {
	Name    string   `json:"ifname"`
	Flags   []string `json:"flags"`
	MTU     int64    `json:"mtu"`
	Address string   `json:"address"`
	Addr    []struct {
		Family    string `json:"family"`
		Local     string `json:"local"`
		Prefixlen int    `json:"prefixlen"`
		Broadcast string `json:"broadcast"`
	} `json:"addr_info"`
}

func (l kernelLink) has(flag string) bool {
	for _, f := range l.Flags {
		if f == flag {
			return true
		}
	}
	return false
}

// links is the namespace's interfaces with their IPv4 addresses, by name.
func (c *esxcliCall) links() (map[string]kernelLink, *cliFault) {
	var links []kernelLink
	if f := c.ipJSON(&links, "-4", "addr", "show"); f != nil {
		return nil, f
	}
	// `ip addr` leaves out links without IPv4; `ip link` has them all
	var all []kernelLink
	if f := c.ipJSON(&all, "link", "show"); f != nil {
		return nil, f
	}
	out := map[string]kernelLink{}
	for _, l := range all {
		out[l.Name] = l
	}
	for _, l := range links {
		k := out[l.Name]
		k.Addr = l.Addr
		out[l.Name] = k
	}
	return out, nil
}

func dotted(prefixlen int) string {
	return net.IP(net.CIDRMask(prefixlen, 32)).String()
}

// -- network ip route ipv4 list --------------------------------------------------------------

type kernelRoute struct {
	Dst      string `json:"dst"`
	Gateway  string `json:"gateway"`
	Dev      string `json:"dev"`
	Protocol string `json:"protocol"`
	Metric   int64  `json:"metric"`
}

// runRouteList lists the stack's routing table as ESXi does: "default" for 0/0, gateway 0.0.0.0
// for a connected network, in the kernel's order (for one network, the lowest metric first:
// the route ESXi uses is the first one listed for the longest match).
func runRouteList(c *esxcliCall) (*esxcliResult, *cliFault) {
	if f := c.needNetns(); f != nil {
		return nil, f
	}
	_, table, f := c.netstack()
	if f != nil {
		return nil, f
	}
	var routes []kernelRoute
	if f := c.ipJSON(&routes, "-4", "route", "show", "table", table); f != nil {
		return nil, f
	}
	res := &esxcliResult{array: true}
	for _, r := range routes {
		if !strings.HasPrefix(r.Dev, "vmk") {
			continue
		}
		network, netmask := "default", "0.0.0.0"
		if r.Dst != "default" {
			ip, n, err := net.ParseCIDR(withPrefix(r.Dst))
			if err != nil {
				continue
			}
			ones, _ := n.Mask.Size()
			network, netmask = ip.Mask(n.Mask).String(), dotted(ones)
		}
		gateway := r.Gateway
		if gateway == "" {
			gateway = "0.0.0.0"
		}
		source := "MANUAL"
		if r.Protocol == "dhcp" {
			source = "DHCP"
		}
		res.records = append(res.records, &record{kind: "RouteEntry", fields: map[string]any{
			"Network": network, "Netmask": netmask, "Gateway": gateway, "Interface": r.Dev,
			"Source": source}})
	}
	return res, nil
}

func withPrefix(dst string) string {
	if strings.Contains(dst, "/") {
		return dst
	}
	return dst + "/32"
}

// -- network ip interface list / ipv4 get ----------------------------------------------------

func (c *esxcliCall) onStack(netstack string, all bool) []vmkInfo {
	var out []vmkInfo
	for _, v := range c.vmknics() {
		if all || v.netstack == netstack {
			out = append(out, v)
		}
	}
	return out
}

func na(s string) string {
	if s == "" {
		return "N/A"
	}
	return s
}

// stackLinks is what the interface commands start from: the -N stack and the namespace's
// links with their addresses.
func (c *esxcliCall) stackLinks() (string, map[string]kernelLink, *cliFault) {
	if f := c.needNetns(); f != nil {
		return "", nil, f
	}
	name, _, f := c.netstack()
	if f != nil {
		return "", nil, f
	}
	links, f := c.links()
	return name, links, f
}

// runInterfaceList lists the stack's vmknics: configuration from the host, state (enabled,
// MTU, MAC) from the kernel.
func runInterfaceList(c *esxcliCall) (*esxcliResult, *cliFault) {
	name, links, f := c.stackLinks()
	if f != nil {
		return nil, f
	}
	res := &esxcliResult{array: true}
	for _, v := range c.onStack(name, c.args.Value("netstack") == "") {
		l, up := links[v.name]
		mtu, mac := int64(v.mtu), v.mac
		if up {
			mtu, mac = l.MTU, l.Address
		}
		portgroup := v.portgroup
		if v.dvsUUID != "" {
			portgroup = ""
		}
		res.records = append(res.records, &record{kind: "NetworkInterface", fields: map[string]any{
			"Name": v.name, "MACAddress": mac, "Enabled": boolean(up && l.has("UP")),
			"Portset": na(v.portset), "Portgroup": na(portgroup), "NetstackInstance": v.netstack,
			"VDSName": na(v.dvsName), "VDSUUID": na(v.dvsUUID), "VDSPort": na(v.dvsPort),
			"VDSConnection": long(v.connection), "OpaqueNetworkID": "N/A",
			"OpaqueNetworkType": "N/A", "ExternalID": "N/A", "MTU": long(mtu),
			"TSOMSS": long(65535), "RXDispQueueSize": long(1), "PortID": long(v.portID)}})
	}
	return res, nil
}

// runIPv4Get lists the vmknics' IPv4 addresses as the kernel holds them.
func runIPv4Get(c *esxcliCall) (*esxcliResult, *cliFault) {
	name, links, f := c.stackLinks()
	if f != nil {
		return nil, f
	}
	only := c.args.Value("interfacename")
	vmks := c.onStack(name, c.args.Value("netstack") == "" || only != "")
	res := &esxcliResult{array: true}
	found := false
	for _, v := range vmks {
		if only != "" && v.name != only {
			continue
		}
		found = true
		address, netmask, broadcast := "0.0.0.0", "0.0.0.0", "0.0.0.0"
		for _, a := range links[v.name].Addr {
			if a.Family == "inet" {
				address, netmask = a.Local, dotted(a.Prefixlen)
				broadcast = a.Broadcast
				if broadcast == "" {
					ip := net.ParseIP(a.Local).To4()
					mask := net.CIDRMask(a.Prefixlen, 32)
					b := make(net.IP, 4)
					for i := range b {
						b[i] = ip[i] | ^mask[i]
					}
					broadcast = b.String()
				}
				break
			}
		}
		kind := "STATIC"
		if v.dhcp {
			kind = "DHCP"
		} else if address == "0.0.0.0" {
			kind = "NONE"
		}
		res.records = append(res.records, &record{kind: "IPv4Interface", fields: map[string]any{
			"Name": v.name, "IPv4Address": address, "IPv4Netmask": netmask,
			"IPv4Broadcast": broadcast, "AddressType": kind, "Gateway": "0.0.0.0",
			"DHCPDNS": boolean(false)}})
	}
	if only != "" && !found {
		return nil, faultf("Unable to find vmknic %s", only)
	}
	return res, nil
}

// -- network ip neighbor list ----------------------------------------------------------------

type kernelNeighbour struct {
	Dst       string   `json:"dst"`
	Dev       string   `json:"dev"`
	Lladdr    string   `json:"lladdr"`
	Confirmed int64    `json:"confirmed"`
	State     []string `json:"state"`
}

const arpTimeoutS = 1200 // ESXi's ARP entry lifetime

func runNeighborList(c *esxcliCall) (*esxcliResult, *cliFault) {
	if f := c.needNetns(); f != nil {
		return nil, f
	}
	if v := c.str("version", "4"); v != "4" && v != "all" && v != "6" {
		return nil, faultf("Invalid value %q for parameter version: expected 4, 6 or all", v)
	}
	name, _, f := c.netstack()
	if f != nil {
		return nil, f
	}
	mine := map[string]bool{}
	for _, v := range c.onStack(name, c.args.Value("netstack") == "") {
		mine[v.name] = true
	}
	only := c.args.Value("interfacename")
	var entries []kernelNeighbour
	if c.str("version", "4") != "6" { // IPv6 is off in the simulated hosts: nothing to list
		if f := c.ipJSON(&entries, "-s", "-4", "neigh", "show"); f != nil {
			return nil, f
		}
	}
	res := &esxcliResult{array: true}
	for _, e := range entries {
		if !mine[e.Dev] || (only != "" && e.Dev != only) || e.Lladdr == "" {
			continue
		}
		state := strings.Join(e.State, ",")
		kind, expiry := "Dynamic", fmt.Sprintf("%d sec", max(0, arpTimeoutS-e.Confirmed))
		if strings.Contains(state, "PERMANENT") {
			kind, expiry = "Static", "N/A"
		}
		res.records = append(res.records, &record{kind: "NetworkNeighbor", fields: map[string]any{
			"Neighbor": e.Dst, "MacAddress": e.Lladdr, "Vmknic": e.Dev, "Expiry": expiry,
			"State": "", "Type": kind}})
	}
	return res, nil
}

// -- network diag ping (vmkping) -------------------------------------------------------------

// runPing sends real echo requests from the host's namespace. -N selects the stack, -I the
// vmknic (which must be on that stack), -d sets DF, -s is the ICMP payload (1572 + 28 = a
// 1600-byte packet). On the default stack the vmknic is bound as the outgoing device; on the
// others its address is the source, which selects the stack's routing table.
func runPing(c *esxcliCall) (*esxcliResult, *cliFault) {
	if f := c.needNetns(); f != nil {
		return nil, f
	}
	for _, unsupported := range []string{"debug", "ipv6"} {
		if on, f := c.flag(unsupported); f != nil {
			return nil, f
		} else if on {
			return nil, faultf("--%s is not supported by the simulated host (IPv4 only)", unsupported)
		}
	}
	if c.args.Value("nexthop") != "" {
		return nil, faultf("--nexthop is not supported by the simulated host")
	}
	host := c.args.Value("host")
	dst := net.ParseIP(host).To4()
	if dst == nil {
		return nil, faultf("Unknown host %s (the simulated host resolves no names: give an IPv4 address)", host)
	}
	count, f := c.long("count", 3, 1, 100)
	if f != nil {
		return nil, f
	}
	size, f := c.long("size", 56, 0, 65507)
	if f != nil {
		return nil, f
	}
	ttl, f := c.long("ttl", 64, 1, 255)
	if f != nil {
		return nil, f
	}
	interval, f := c.seconds("interval", 1, 0.002, 60)
	if f != nil {
		return nil, f
	}
	wait, f := c.seconds("wait", 1, 0.01, 60)
	if f != nil {
		return nil, f
	}
	df, f := c.flag("df")
	if f != nil {
		return nil, f
	}
	stack, _, f := c.netstack()
	if f != nil {
		return nil, f
	}
	bind, f := c.pingSource(stack, dst)
	if f != nil {
		return nil, f
	}
	pmtu := "dont"
	if df {
		pmtu = "do"
	}
	argv := []string{"-n", "-c", long(count),
		"-s", long(size), "-t", long(ttl), "-M", pmtu,
		"-i", strconv.FormatFloat(interval, 'f', -1, 64),
		"-W", strconv.FormatFloat(wait, 'f', -1, 64)}
	if bind != "" {
		argv = append(argv, "-I", bind)
	}
	argv = append(argv, dst.String())
	limit := time.Duration((float64(count)*interval+wait)*float64(time.Second)) + 10*time.Second
	ctx, cancel := context.WithTimeout(context.Background(), limit)
	defer cancel()
	cmd := exec.CommandContext(ctx, "ping", argv...)
	var stdout, stderr strings.Builder
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := startInNetns(c.ns.spec.Netns, cmd)
	if err == nil {
		err = cmd.Wait()
	}
	var exit *exec.ExitError
	if err != nil && !errors.As(err, &exit) {
		return nil, faultf("ping: %v", err)
	}
	return parsePing(dst.String(), stdout.String(), stderr.String())
}

// startInNetns starts cmd in the named network namespace (ip-netns(8)'s /run/netns/NAME): the
// fork happens on an OS thread that entered the namespace with setns(2) and ends with its
// goroutine, so no other goroutine ever runs there. `ip netns exec` did the same plus a mount
// namespace and a sysfs mount per call, in two more processes: at 32 hosts the run's 3,000
// vmkpings spent 7 CPU-seconds in it, on a machine whose harness waited for the CPU.
func startInNetns(netns string, cmd *exec.Cmd) error {
	started := make(chan error, 1)
	go func() {
		runtime.LockOSThread() // never unlocked: the runtime ends a thread whose goroutine exits locked
		ns, err := os.Open(filepath.Join("/run/netns", netns))
		if err != nil {
			started <- err
			return
		}
		defer ns.Close()
		if err := unix.Setns(int(ns.Fd()), unix.CLONE_NEWNET); err != nil {
			started <- fmt.Errorf("setns %s: %w", netns, err)
			return
		}
		started <- cmd.Start()
	}()
	return <-started
}

// pingSource is what `ping -I` gets: the vmknic's name on the default stack, its address on
// another stack; nothing on the default stack without -I (the kernel's route picks).
func (c *esxcliCall) pingSource(stack string, dst net.IP) (string, *cliFault) {
	vmks := c.onStack(stack, false)
	if name := c.args.Value("interface"); name != "" {
		for _, v := range c.vmknics() {
			if v.name != name {
				continue
			}
			if v.netstack != stack {
				return "", faultf("Interface %s is on netstack %s, not %s", name, v.netstack, stack)
			}
			if stack == defaultNetstack {
				return name, nil
			}
			return v.ip, nil
		}
		return "", faultf("Unable to find vmknic %s", name)
	}
	if stack == defaultNetstack {
		return "", nil
	}
	for _, v := range vmks { // the stack's vmknic on the destination's network, else its first
		if _, n, err := net.ParseCIDR(v.ip + "/" + maskBits(v.mask)); err == nil && n.Contains(dst) {
			return v.ip, nil
		}
	}
	if len(vmks) == 0 {
		return "", faultf("Netstack %s has no vmknic to send from", stack)
	}
	return vmks[0].ip, nil
}

func maskBits(mask string) string {
	ones, _ := net.IPMask(net.ParseIP(mask).To4()).Size()
	return strconv.Itoa(ones)
}

var (
	replyRe    = regexp.MustCompile(`^(\d+) bytes from ([0-9.]+): icmp_seq=(\d+) ttl=(\d+) time=([0-9.]+) ms( \(DUP!\))?`)
	errorRe    = regexp.MustCompile(`^From ([0-9.]+)(?: icmp_seq=(\d+))? (.+)$`)
	statsRe    = regexp.MustCompile(`^(\d+) packets transmitted, (\d+) received(?:, \+(\d+) duplicates)?(?:, \+\d+ errors)?, ([0-9.]+)% packet loss`)
	rttRe      = regexp.MustCompile(`^rtt min/avg/max/mdev = ([0-9.]+)/([0-9.]+)/([0-9.]+)/`)
	tooLarge   = regexp.MustCompile(`(?i)message too long`)
	fragNeeded = regexp.MustCompile(`(?i)frag needed`)
	unreach    = regexp.MustCompile(`(?i)network is unreachable`)
)

// parsePing turns iputils ping's output into esxcli's Summary and Trace (ICMP sequence from 0,
// times in microseconds and whole milliseconds, ICMP errors as trace entries with a Detail).
// What ESXi's vmkping reports as a failure of the command itself (a packet larger than the
// vmknic's MTU with DF set, no route) is a CLI fault with ESXi's wording.
func parsePing(dst, stdout, stderr string) (*esxcliResult, *cliFault) {
	// A router's "Frag needed" makes the kernel refuse later packets of that size locally
	// (the path MTU it learned); the trace then already says where the path is limited.
	if tooLarge.MatchString(stdout+stderr) && !fragNeeded.MatchString(stdout) {
		return nil, &cliFault{msgs: []string{"sendto() failed (Message too long)"}}
	}
	if unreach.MatchString(stderr) {
		return nil, &cliFault{msgs: []string{"sendto() failed (Network is unreachable)"}}
	}
	summary := map[string]any{"HostAddr": dst}
	var traces []*record
	seen := false
	for _, line := range strings.Split(stdout, "\n") {
		line = strings.TrimSpace(line)
		if m := replyRe.FindStringSubmatch(line); m != nil {
			seq, _ := strconv.ParseInt(m[3], 10, 64)
			ms, _ := strconv.ParseFloat(m[5], 64)
			traces = append(traces, &record{kind: "Trace", fields: map[string]any{
				"ReceivedBytes": m[1], "Host": m[2], "ICMPSeq": long(seq - 1), "TTL": m[4],
				"RoundtripTime": long(int64(math.Round(ms * 1000))), "RoundtripTimeMS": long(int64(ms)),
				"Dup": boolean(m[6] != ""), "Detail": ""}})
		} else if m := errorRe.FindStringSubmatch(line); m != nil {
			seq, _ := strconv.ParseInt(m[2], 10, 64)
			traces = append(traces, &record{kind: "Trace", fields: map[string]any{
				"ReceivedBytes": "0", "Host": m[1], "ICMPSeq": long(max(seq-1, 0)), "TTL": "0",
				"RoundtripTime": "0", "RoundtripTimeMS": "0", "Dup": boolean(false),
				"Detail": m[3]}})
		} else if m := statsRe.FindStringSubmatch(line); m != nil {
			seen = true
			dups := m[3]
			if dups == "" {
				dups = "0"
			}
			loss, _ := strconv.ParseFloat(m[4], 64)
			summary["Transmitted"], summary["Recieved"] = m[1], m[2]
			summary["Duplicated"], summary["PacketLost"] = dups, long(int64(loss))
		} else if m := rttRe.FindStringSubmatch(line); m != nil {
			for i, name := range []string{"RoundtripMin", "RoundtripAvg", "RoundtripMax"} {
				ms, _ := strconv.ParseFloat(m[i+1], 64)
				summary[name] = long(int64(math.Round(ms * 1000)))
				summary[name+"MS"] = long(int64(ms))
			}
		}
	}
	if !seen {
		msg := strings.TrimSpace(stderr)
		if msg == "" {
			msg = strings.TrimSpace(stdout)
		}
		return nil, faultf("ping failed: %s", msg)
	}
	for _, name := range []string{"RoundtripMin", "RoundtripAvg", "RoundtripMax"} {
		if _, ok := summary[name]; !ok {
			summary[name], summary[name+"MS"] = "0", "0"
		}
	}
	ping := &record{kind: "Ping", fields: map[string]any{"Summary": &record{kind: "Summary", fields: summary}}}
	if len(traces) > 0 {
		ping.fields["Trace"] = traces
	}
	return &esxcliResult{records: []*record{ping}, array: true}, nil
}

// vmnicMTU is the MTU ESXi gives a vmnic: that of the switch it backs (a standard switch's
// MTU or the DVS's), 1500 when it backs none.
func (c *esxcliCall) vmnicMTU(device string) int64 {
	mtu := int64(1500)
	c.ctx.WithLock(c.host, func() {
		key := "key-vim.host.PhysicalNic-" + device
		for _, vs := range c.ns.NetworkInfo.Vswitch {
			for _, p := range vs.Pnic {
				if p == key && vs.Mtu > 0 {
					mtu = int64(vs.Mtu)
				}
			}
		}
		for _, ps := range c.ns.NetworkInfo.ProxySwitch {
			for _, p := range ps.Pnic {
				if p == key && ps.Mtu > 0 {
					mtu = int64(ps.Mtu)
				}
			}
		}
	})
	return mtu
}
