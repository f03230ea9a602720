package main

import (
	"encoding/json"
	"sort"
	"strings"
	"sync"

	esxcli "github.com/vmware/govmomi/cli/esx"
	"github.com/vmware/govmomi/simulator/esx"
)

// The esxcli commands lh-vcsim adds, described the way ESXi describes them to clients: the
// CLI info govc reads (vim.CLIInfo.FetchCLIInfo: namespaces, methods, parameters with their
// aliases, formatter hints) and the type info dynamic clients read
// (DynamicTypeMgrQueryTypeInfo: managed types with their methods, data types with their
// properties). Both are appended to govmomi's esx.CommandInfo / esx.TypeInfo, which the
// stock simulator serves, so govc and PowerCLI-style clients work unchanged.
//
// Sources for names and help texts: ESXi's own `esxcli <ns> <cmd> --help` / PowerCLI
// `$esxcli.network.diag.ping.Help()` output (the ping parameter list and texts), the
// `fields:` hints of govmomi's dump of a real host (simulator/esx/command_info.go: the
// display names are the result keys with spaces), and the field names PowerCLI scripts read
// from real hosts (Summary.Recieved [sic], DriverInfo.FirmwareVersion, Network/Gateway/
// Interface, HBAName/Driver/LinkState/UID). The result struct type names (Ping, RouteEntry,
// NICInfo...) are not documented anywhere we could find; the ones here follow ESXi's pattern
// (vim.EsxCLI.<namespace>.<command>.<Struct>, WSDL name VimEsxCLI<namespace+command><Struct>)
// and are used consistently in the type info and the responses. Likewise unverified: the
// result fields no public script reads (nic get's pause/wake-on fields, interface list's
// TSO/RX queue fields) and the declared types of ping's interval and wait (string here, so
// fractions of a second pass).

// cliParam is one parameter of a command.
type cliParam struct {
	name     string   // the SOAP argument name (no dashes)
	display  string   // the CLI name (dashed)
	help     string   // --help text
	aliases  []string // -N, --netstack
	kind     string   // string | long | boolean
	flag     bool     // a switch (boolean); govc still takes a value: --df=true
	required bool
}

// cliField is one field of a result struct: kind is string, long, boolean, string[], or the
// name of another struct of the same command (Summary, Trace[]).
type cliField struct {
	name, kind string
}

type cliStruct struct {
	name   string
	fields []cliField
}

// cliMethod is one command. structs[0] is what it returns (an array of them when array).
type cliMethod struct {
	name    string
	help    string
	params  []cliParam
	structs []cliStruct
	array   bool
	hints   esxcli.CommandInfoHints
}

type cliNamespace struct {
	name    string // network.ip.route.ipv4
	help    string
	methods []cliMethod
}

const esxcliVersion = "vim.version.version5"

var (
	netstackParam = cliParam{name: "netstack", display: "netstack", kind: "string",
		help:    "The network stack instance; if unspecified, use the default netstack instance",
		aliases: []string{"-N", "--netstack"}}
	interfaceNameParam = cliParam{name: "interfacename", display: "interface-name", kind: "string",
		help: "Name of vmknic interface to try.", aliases: []string{"-i", "--interface-name"}}
)

func table(structName string, columns ...string) esxcli.CommandInfoHints {
	return esxcli.CommandInfoHints{
		{Key: "fields:" + structName, Value: strings.Join(columns, ",")},
		{Key: "formatter", Value: "table"},
	}
}

var simpleHints = esxcli.CommandInfoHints{{Key: "formatter", Value: "simple"}}

var esxcliNamespaces = []cliNamespace{
	{name: "network.diag", help: "Operations pertaining to network diagnostics", methods: []cliMethod{{
		name: "ping", help: "Send ICMP echo requests to network hosts.",
		params: []cliParam{
			{name: "count", display: "count", kind: "long", aliases: []string{"-c", "--count"},
				help: "Specify the number of packets to send."},
			{name: "debug", display: "debug", kind: "boolean", flag: true,
				aliases: []string{"-D", "--debug"}, help: "VMKPing debug mode."},
			{name: "df", display: "df", kind: "boolean", flag: true, aliases: []string{"-d", "--df"},
				help: "Set DF bit on IPv4 packets."},
			{name: "host", display: "host", kind: "string", aliases: []string{"-H", "--host"},
				help: "Specify the host to send packets to. This parameter is required when not " +
					"executing ping in debug mode (-D)"},
			{name: "interface", display: "interface", kind: "string",
				aliases: []string{"-I", "--interface"}, help: "Specify the outgoing interface."},
			{name: "interval", display: "interval", kind: "string",
				aliases: []string{"-i", "--interval"},
				help:    "Set the interval for sending packets in seconds."},
			{name: "ipv4", display: "ipv4", kind: "boolean", flag: true,
				aliases: []string{"-4", "--ipv4"}, help: "Ping with ICMPv4 echo requests."},
			{name: "ipv6", display: "ipv6", kind: "boolean", flag: true,
				aliases: []string{"-6", "--ipv6"}, help: "Ping with ICMPv6 echo requests."},
			{name: "netstack", display: "netstack", kind: "string",
				aliases: []string{"-N", "--netstack"},
				help:    "Specify the TCP/IP netstack which the interface resides on"},
			{name: "nexthop", display: "nexthop", kind: "string",
				aliases: []string{"-n", "--nexthop"},
				help: "Override the system's default route selection, in dotted quad notation. " +
					"(IPv4 only. Requires interface option)"},
			{name: "size", display: "size", kind: "long", aliases: []string{"-s", "--size"},
				help: "Set the payload size of the packets to send."},
			{name: "ttl", display: "ttl", kind: "long", aliases: []string{"-t", "--ttl"},
				help: "Set IPv4 Time To Live or IPv6 Hop Limit"},
			{name: "wait", display: "wait", kind: "string", aliases: []string{"-W", "--wait"},
				help: "Set the timeout to wait if no responses are received in seconds."},
		},
		array: true,
		structs: []cliStruct{
			{"Ping", []cliField{{"Summary", "Summary"}, {"Trace", "Trace[]"}}},
			{"Summary", []cliField{{"Duplicated", "long"}, {"HostAddr", "string"},
				{"PacketLost", "long"}, {"Recieved", "long"}, {"RoundtripAvg", "long"},
				{"RoundtripAvgMS", "long"}, {"RoundtripMax", "long"}, {"RoundtripMaxMS", "long"},
				{"RoundtripMin", "long"}, {"RoundtripMinMS", "long"}, {"Transmitted", "long"}}},
			{"Trace", []cliField{{"Detail", "string"}, {"Dup", "boolean"}, {"Host", "string"},
				{"ICMPSeq", "long"}, {"ReceivedBytes", "long"}, {"RoundtripTime", "long"},
				{"RoundtripTimeMS", "long"}, {"TTL", "long"}}},
		},
		hints: simpleHints,
	}}},
	{name: "network.ip.route.ipv4", help: "Operations for IPv4 routes", methods: []cliMethod{{
		name: "list", help: "List configured IPv4 routes",
		params: []cliParam{netstackParam}, array: true,
		structs: []cliStruct{{"RouteEntry", []cliField{{"Gateway", "string"},
			{"Interface", "string"}, {"Netmask", "string"}, {"Network", "string"},
			{"Source", "string"}}}},
		hints: table("RouteEntry", "Network", "Netmask", "Gateway", "Interface", "Source"),
	}}},
	{name: "network.ip.interface", help: "Operations on VMkernel network interfaces",
		methods: []cliMethod{{
			name: "list", help: "List VMkernel network interfaces currently known to the system.",
			params: []cliParam{netstackParam}, array: true,
			structs: []cliStruct{{"NetworkInterface", []cliField{{"Enabled", "boolean"},
				{"ExternalID", "string"}, {"MACAddress", "string"}, {"MTU", "long"},
				{"Name", "string"}, {"NetstackInstance", "string"},
				{"OpaqueNetworkID", "string"}, {"OpaqueNetworkType", "string"},
				{"PortID", "long"}, {"Portgroup", "string"}, {"Portset", "string"},
				{"RXDispQueueSize", "long"}, {"TSOMSS", "long"}, {"VDSConnection", "long"},
				{"VDSName", "string"}, {"VDSPort", "string"}, {"VDSUUID", "string"}}}},
			hints: simpleHints,
		}}},
	{name: "network.ip.interface.ipv4", help: "Operations on IPv4 addresses of VMkernel interfaces",
		methods: []cliMethod{{
			name: "get", help: "Get IPv4 addresses assigned to VMkernel network interfaces.",
			params: []cliParam{interfaceNameParam, netstackParam}, array: true,
			structs: []cliStruct{{"IPv4Interface", []cliField{{"AddressType", "string"},
				{"DHCPDNS", "boolean"}, {"Gateway", "string"}, {"IPv4Address", "string"},
				{"IPv4Broadcast", "string"}, {"IPv4Netmask", "string"}, {"Name", "string"}}}},
			hints: table("IPv4Interface", "Name", "IPv4 Address", "IPv4 Netmask",
				"IPv4 Broadcast", "Address Type", "Gateway", "DHCP DNS"),
		}}},
	{name: "network.ip.neighbor", help: "Operations for neighbor caches", methods: []cliMethod{{
		name: "list", help: "List ARP table entries",
		params: []cliParam{interfaceNameParam, netstackParam,
			{name: "version", display: "version", kind: "string", aliases: []string{"-v", "--version"},
				help: "IP version [4, 6, all]"}},
		array: true,
		structs: []cliStruct{{"NetworkNeighbor", []cliField{{"Expiry", "string"},
			{"MacAddress", "string"}, {"Neighbor", "string"}, {"State", "string"},
			{"Type", "string"}, {"Vmknic", "string"}}}},
		hints: table("NetworkNeighbor", "Neighbor", "Mac Address", "Vmknic", "Expiry", "State",
			"Type"),
	}}},
	{name: "network.nic", help: "Operations having to do with the configuration of Network " +
		"Interface Card and getting and updating the NIC settings.", methods: []cliMethod{
		{
			name: "list", help: "Lists the Physical NICs currently installed and loaded on the system.",
			array: true,
			structs: []cliStruct{{"Nic", []cliField{{"AdminStatus", "string"},
				{"Description", "string"}, {"Driver", "string"}, {"Duplex", "string"},
				{"Link", "string"}, {"LinkStatus", "string"}, {"MACAddress", "string"},
				{"MTU", "long"}, {"Name", "string"}, {"PCIDevice", "string"}, {"Speed", "long"}}}},
			hints: table("Nic", "Name", "PCI Device", "Driver", "Admin Status", "Link Status",
				"Speed", "Duplex", "MAC Address", "MTU", "Description"),
		},
		{
			name: "get", help: "Get the generic configuration of a network device",
			params: []cliParam{{name: "nicname", display: "nic-name", kind: "string", required: true,
				aliases: []string{"-n", "--nic-name"},
				help:    "The name of the NIC to configured for the generic configuration."}},
			structs: []cliStruct{
				{"NICInfo", []cliField{{"AdvertisedAutoNegotiation", "boolean"},
					{"AdvertisedLinkModes", "string[]"}, {"AutoNegotiation", "boolean"},
					{"CableType", "string"}, {"CurrentMessageLevel", "long"},
					{"DriverInfo", "DriverInfo"}, {"LinkDetected", "boolean"},
					{"LinkStatus", "string"}, {"Name", "string"}, {"PHYAddress", "long"},
					{"PauseAutonegotiate", "boolean"}, {"PauseRX", "boolean"},
					{"PauseTX", "boolean"}, {"SupportedPorts", "string[]"},
					{"SupportsAutoNegotiation", "boolean"}, {"SupportsPause", "boolean"},
					{"SupportsWakeon", "boolean"}, {"Transceiver", "string"},
					{"VirtualAddress", "string"}, {"Wakeon", "string[]"}}},
				{"DriverInfo", []cliField{{"BusInfo", "string"}, {"Driver", "string"},
					{"FirmwareVersion", "string"}, {"Version", "string"}}},
			},
			hints: simpleHints,
		},
	}},
	{name: "storage.core.adapter", help: "Operations on SCSI host bus adapters",
		methods: []cliMethod{{
			name: "list", help: "List all the SCSI Host Bus Adapters on the system.", array: true,
			structs: []cliStruct{{"ScsiAdapter", []cliField{{"Capabilities", "string"},
				{"Description", "string"}, {"Driver", "string"}, {"HBAName", "string"},
				{"LinkState", "string"}, {"UID", "string"}}}},
			hints: table("ScsiAdapter", "HBA Name", "Driver", "Link State", "UID", "Capabilities",
				"Description"),
		}}},
}

// wsdlName is how ESXi names a type in SOAP: "vim.EsxCLI.network.nic.get.NICInfo" ->
// "VimEsxCLInetworknicgetNICInfo" (what stock esxcli.go derives for xsi:type, too).
func wsdlName(name string) string {
	return strings.ReplaceAll("V"+strings.TrimPrefix(name, "v"), ".", "")
}

func (ns cliNamespace) typeName() string { return "vim.EsxCLI." + ns.name }

func (ns cliNamespace) structType(m cliMethod, kind string) string {
	return ns.typeName() + "." + m.name + "." + kind
}

// fieldType is the type info's property type of a field: builtin types as they are, a
// struct of the command by its full name (with [] kept).
func (ns cliNamespace) fieldType(m cliMethod, kind string) string {
	base := strings.TrimSuffix(kind, "[]")
	switch base {
	case "string", "long", "boolean":
		return kind
	}
	return ns.structType(m, base) + strings.TrimPrefix(kind, base)
}

func (ns cliNamespace) commandInfo() esxcli.CommandInfo {
	words := strings.Split(ns.name, ".")
	info := esxcli.CommandInfo{CommandInfoItem: esxcli.CommandInfoItem{
		Name: ns.name, DisplayName: words[len(words)-1], Help: ns.help}}
	for _, m := range ns.methods {
		method := esxcli.CommandInfoMethod{
			CommandInfoItem: esxcli.CommandInfoItem{Name: m.name, DisplayName: m.name, Help: m.help},
			Hints:           m.hints}
		for _, p := range m.params {
			method.Param = append(method.Param, esxcli.CommandInfoParam{
				CommandInfoItem: esxcli.CommandInfoItem{Name: p.name, DisplayName: p.display, Help: p.help},
				Aliases:         p.aliases, Flag: p.flag})
		}
		info.Method = append(info.Method, method)
	}
	return info
}

// typeInfo is the namespace's managed type and its commands' data types, in the JSON shape of
// govmomi's internal DynamicTypeMgr* structs (their Go field names: they have no json tags).
func (ns cliNamespace) typeInfo() (managed map[string]any, data []map[string]any) {
	annotation := func(optional bool) []map[string]any {
		if !optional {
			return nil
		}
		return []map[string]any{{"Name": "optional"}}
	}
	var methods []map[string]any
	for _, m := range ns.methods {
		var params []map[string]any
		for _, p := range m.params {
			params = append(params, map[string]any{"Name": p.name, "Version": esxcliVersion,
				"Type": p.kind, "Annotation": annotation(!p.required)})
		}
		result := ns.structType(m, m.structs[0].name)
		if m.array {
			result += "[]"
		}
		methods = append(methods, map[string]any{
			"Name": m.name, "WsdlName": wsdlName(ns.typeName() + "." + m.name),
			"Version": esxcliVersion, "ParamTypeInfo": params,
			"ReturnTypeInfo": map[string]any{"Name": "result", "Version": esxcliVersion,
				"Type": result, "Annotation": annotation(true)},
			"Fault": []string{"vim.EsxCLI.CLIFault"}})
		for _, s := range m.structs {
			var props []map[string]any
			fields := append([]cliField(nil), s.fields...)
			sort.Slice(fields, func(i, j int) bool { return fields[i].name < fields[j].name })
			for _, f := range fields {
				props = append(props, map[string]any{"Name": f.name, "Version": esxcliVersion,
					"Type": ns.fieldType(m, f.kind), "Annotation": annotation(true)})
			}
			name := ns.structType(m, s.name)
			data = append(data, map[string]any{"Name": name, "WsdlName": wsdlName(name),
				"Version": esxcliVersion, "Base": []string{"vmodl.DynamicData"}, "Property": props})
		}
	}
	managed = map[string]any{"Name": ns.typeName(), "WsdlName": wsdlName(ns.typeName()),
		"Version": esxcliVersion, "Base": []string{"vmodl.ManagedObject"}, "Method": methods}
	return managed, data
}

var registerOnce sync.Once

// registerEsxcliMetadata appends our commands to what the stock simulator serves. It must run
// before the server starts (the tables are package globals, read on every call).
func registerEsxcliMetadata() {
	registerOnce.Do(func() {
		doc := map[string][]map[string]any{}
		for _, ns := range esxcliNamespaces {
			esx.CommandInfo = append(esx.CommandInfo, ns.commandInfo())
			managed, data := ns.typeInfo()
			doc["ManagedTypeInfo"] = append(doc["ManagedTypeInfo"], managed)
			doc["DataTypeInfo"] = append(doc["DataTypeInfo"], data...)
		}
		raw, err := json.Marshal(doc)
		if err != nil {
			panic(err)
		}
		// govmomi's internal type cannot be named here; a zero value of it can be had.
		ti := zeroOf(esx.TypeInfo)
		if err := json.Unmarshal(raw, &ti); err != nil {
			panic(err)
		}
		esx.TypeInfo.ManagedTypeInfo = append(esx.TypeInfo.ManagedTypeInfo, ti.ManagedTypeInfo...)
		esx.TypeInfo.DataTypeInfo = append(esx.TypeInfo.DataTypeInfo, ti.DataTypeInfo...)
	})
}

func zeroOf[T any](_ T) T {
	var z T
	return z
}

// esxcliMethod finds a command by its SOAP method name (vim.EsxCLI.network.nic.get).
func esxcliMethod(method string) (*cliNamespace, *cliMethod) {
	for i := range esxcliNamespaces {
		ns := &esxcliNamespaces[i]
		for j := range ns.methods {
			if ns.typeName()+"."+ns.methods[j].name == method {
				return ns, &ns.methods[j]
			}
		}
	}
	return nil, nil
}
