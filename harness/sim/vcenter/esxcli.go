package main

import (
	"bytes"
	"fmt"
	"reflect"
	"sort"
	"strconv"
	"strings"

	esxcli "github.com/vmware/govmomi/cli/esx"
	"github.com/vmware/govmomi/simulator"
	"github.com/vmware/govmomi/simulator/esx"
	"github.com/vmware/govmomi/vim25/soap"
	"github.com/vmware/govmomi/vim25/types"
	"github.com/vmware/govmomi/vim25/xml"
)

// esxcli through vCenter, as govc host.esxcli and PowerCLI's Get-EsxCli use it: the host's
// ManagedMethodExecuter runs `vim.EsxCLI.<namespace>.<command>` (ExecuteSoap), and its
// DynamicTypeManager describes the commands. The stock simulator answers a handful of
// canned commands; EsxCLI adds the ones the harness reads (esxcli_meta.go) and runs them for
// real against the host's data-plane namespace (esxcli_net.go) and its hardware
// (esxcli_hw.go). Anything else goes to the stock executer (CLI info, its own commands,
// NotFound for the rest).
//
// govmomi's request and response types for these methods are internal to its module, so the
// request is read by reflection and the response is our own type of the same XML shape.

type soapFaultResult struct {
	FaultMsg    string `xml:"faultMsg"`
	FaultDetail string `xml:"faultDetail,omitempty"`
}

type soapResult struct {
	Response string           `xml:"response,omitempty"`
	Fault    *soapFaultResult `xml:"fault,omitempty"`
}

type executeSoapResponse struct {
	Returnval *soapResult `xml:"urn:vim25 returnval"`
}

type executeSoapBody struct {
	Res    *executeSoapResponse `xml:"urn:vim25 ExecuteSoapResponse"`
	Fault_ *soap.Fault          `xml:"-"`
}

func (b *executeSoapBody) Fault() *soap.Fault { return b.Fault_ }

// EsxCLI wraps one host's stock ManagedMethodExecuter for the duration of a call (env.handler).
type EsxCLI struct {
	*simulator.ManagedMethodExecuter
	env *simEnv
}

// esxcliCall is one command run: the host, its network system (spec and configuration), the
// arguments by SOAP name.
type esxcliCall struct {
	ctx  *simulator.Context
	host *simulator.HostSystem
	ns   *NetworkSystem
	args esxcli.Values
}

// cliFault is esxcli's own error (vim.EsxCLI.CLIFault): what the command printed on stderr.
type cliFault struct{ msgs []string }

func (f *cliFault) Error() string { return strings.Join(f.msgs, "; ") }

func faultf(format string, a ...any) *cliFault {
	return &cliFault{msgs: []string{fmt.Sprintf(format, a...)}}
}

// record is one result struct: field -> string, []string, *record or []*record.
type record struct {
	kind   string
	fields map[string]any
}

// esxcliResult is what a command returns: one struct, or a list of them.
type esxcliResult struct {
	records []*record
	array   bool
}

type esxcliRun func(c *esxcliCall) (*esxcliResult, *cliFault)

// esxcliRunners are the commands this file adds, by SOAP method name; their metadata is in
// esxcli_meta.go (a test keeps the two in step).
var esxcliRunners = map[string]esxcliRun{
	"vim.EsxCLI.network.diag.ping":             runPing,
	"vim.EsxCLI.network.ip.route.ipv4.list":    runRouteList,
	"vim.EsxCLI.network.ip.interface.list":     runInterfaceList,
	"vim.EsxCLI.network.ip.interface.ipv4.get": runIPv4Get,
	"vim.EsxCLI.network.ip.neighbor.list":      runNeighborList,
	"vim.EsxCLI.network.nic.list":              runNicList,
	"vim.EsxCLI.network.nic.get":               runNicGet,
	"vim.EsxCLI.storage.core.adapter.list":     runAdapterList,
}

// ExecuteSoap runs our commands and hands everything else to the stock executer.
func (w *EsxCLI) ExecuteSoap(ctx *simulator.Context, req any) soap.HasFault {
	v := reflect.ValueOf(req).Elem() // *internal.ExecuteSoapRequest
	method := v.FieldByName("Method").String()
	run, ok := esxcliRunners[method]
	ns, m := esxcliMethod(method)
	if !ok || m == nil {
		stock := reflect.ValueOf(w.ManagedMethodExecuter).MethodByName("ExecuteSoap")
		return stock.Call([]reflect.Value{reflect.ValueOf(ctx), reflect.ValueOf(req)})[0].Interface().(soap.HasFault)
	}
	args := esxcli.Values{}
	argv := v.FieldByName("Argument")
	for i := 0; i < argv.Len(); i++ {
		a := argv.Index(i)
		args[a.FieldByName("Name").String()] = argValues(a.FieldByName("Val").String())
	}
	out := &soapResult{}
	host, _ := ctx.Map.Get(types.ManagedObjectReference{Type: "HostSystem", Value: w.Value}).(*simulator.HostSystem)
	var netsys *NetworkSystem
	if host != nil && w.env != nil {
		netsys = w.env.netsys[host.Self]
	}
	var res *esxcliResult
	fault := checkArgs(m, args)
	if fault == nil && (host == nil || netsys == nil) {
		fault = faultf("host %s is not one lh-vcsim manages", w.Value)
	}
	if fault == nil {
		res, fault = run(&esxcliCall{ctx: ctx, host: host, ns: netsys, args: args})
	}
	if fault != nil {
		out.Fault = cliFaultResult(fault)
	} else {
		out.Response = resultXML(ns, m, res)
	}
	return &executeSoapBody{Res: &executeSoapResponse{Returnval: out}}
}

// checkArgs refuses what ESXi's CLI layer refuses before a command runs: unknown parameters
// and missing required ones.
func checkArgs(m *cliMethod, args esxcli.Values) *cliFault {
	known := map[string]bool{}
	for _, p := range m.params {
		known[p.name] = true
		if p.required && args.Value(p.name) == "" {
			return faultf("Missing required parameter %s", strings.Join(p.aliases, "|"))
		}
	}
	for name := range args {
		if !known[name] {
			return faultf("Invalid option %s", name)
		}
	}
	return nil
}

// cliFaultResult is the fault as the stock executer reports one (esxcliFault in govmomi's
// simulator/esxcli.go): faultMsg "EsxCLI.CLIFault.summary", and the LocalizedMethodFault with
// a vim.EsxCLI.CLIFault carrying the messages as its detail.
func cliFaultResult(f *cliFault) *soapFaultResult {
	lmf := &types.LocalizedMethodFault{LocalizedMessage: "EsxCLI.CLIFault.summary"}
	if t, ok := types.TypeFunc()("VimEsxCLICLIFault"); ok {
		fv := reflect.New(t)
		fv.Elem().FieldByName("ErrMsg").Set(reflect.ValueOf(f.msgs))
		lmf.Fault = fv.Interface().(types.BaseMethodFault)
	} else {
		lmf.Fault = &types.SystemError{Reason: f.Error()}
	}
	return &soapFaultResult{FaultMsg: lmf.LocalizedMessage, FaultDetail: toXML(lmf)}
}

func argValues(val string) (out []string) {
	d := xml.NewDecoder(strings.NewReader(val))
	for {
		t, err := d.Token()
		if err != nil {
			return out
		}
		if c, ok := t.(xml.CharData); ok {
			out = append(out, string(c))
		}
	}
}

func toXML(v any) string {
	var b bytes.Buffer
	if err := xml.NewEncoder(&b).Encode(v); err != nil {
		panic(err)
	}
	return b.String()
}

const objOpen = `<obj xmlns:xsd="http://www.w3.org/2001/XMLSchema" ` +
	`xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" xmlns="urn:vim25" versionId="5.0" ` +
	`xsi:type="%s">` + "\n"

// resultXML writes a result the way ESXi does: a list as ArrayOfDataObject of DataObjects, a
// single struct directly in <obj>, each typed by its WSDL name. Fields are sorted and every
// element ends its line: govc's flat parser (cli/esx/response.go) takes the token after a start
// tag as its value, so a nested struct's first field must not follow its start tag directly.
func resultXML(ns *cliNamespace, m *cliMethod, res *esxcliResult) string {
	var b strings.Builder
	typeOf := func(r *record) string { return wsdlName(ns.structType(*m, r.kind)) }
	if res.array {
		fmt.Fprintf(&b, objOpen, "ArrayOfDataObject")
		for _, r := range res.records {
			fmt.Fprintf(&b, `<DataObject xsi:type="%s">`+"\n", typeOf(r))
			writeFields(&b, r)
			b.WriteString("</DataObject>\n")
		}
	} else {
		r := res.records[0]
		fmt.Fprintf(&b, objOpen, typeOf(r))
		writeFields(&b, r)
	}
	b.WriteString("</obj>")
	return b.String()
}

func writeFields(b *strings.Builder, r *record) {
	keys := make([]string, 0, len(r.fields))
	for k := range r.fields {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		switch v := r.fields[k].(type) {
		case string:
			writeLeaf(b, k, v)
		case []string:
			for _, s := range v {
				writeLeaf(b, k, s)
			}
		case *record:
			fmt.Fprintf(b, "<%s>\n", k)
			writeFields(b, v)
			fmt.Fprintf(b, "</%s>\n", k)
		case []*record:
			for _, sub := range v {
				fmt.Fprintf(b, "<%s>\n", k)
				writeFields(b, sub)
				fmt.Fprintf(b, "</%s>\n", k)
			}
		default:
			panic(fmt.Sprintf("esxcli field %s: unsupported %T", k, v))
		}
	}
}

func writeLeaf(b *strings.Builder, key, value string) {
	fmt.Fprintf(b, "<%s>", key)
	_ = xml.EscapeText(b, []byte(value))
	fmt.Fprintf(b, "</%s>\n", key)
}

// Field values are strings on the wire; these say what the type info says they are.
func long(n int64) string { return strconv.FormatInt(n, 10) }

func boolean(v bool) string { return strconv.FormatBool(v) }

// argument helpers, with ESXi-like messages for values that do not parse.
func (c *esxcliCall) str(name, def string) string {
	if v := c.args.Value(name); v != "" {
		return v
	}
	return def
}

func (c *esxcliCall) long(name string, def, min, max int64) (int64, *cliFault) {
	v := c.args.Value(name)
	if v == "" {
		return def, nil
	}
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil || n < min || n > max {
		return 0, faultf("Invalid value %q for parameter %s: expected an integer from %d to %d", v, name, min, max)
	}
	return n, nil
}

func (c *esxcliCall) seconds(name string, def, min, max float64) (float64, *cliFault) {
	v := c.args.Value(name)
	if v == "" {
		return def, nil
	}
	f, err := strconv.ParseFloat(v, 64)
	if err != nil || f < min || f > max {
		return 0, faultf("Invalid value %q for parameter %s: expected seconds from %g to %g", v, name, min, max)
	}
	return f, nil
}

func (c *esxcliCall) flag(name string) (bool, *cliFault) {
	switch strings.ToLower(c.args.Value(name)) {
	case "", "false", "0":
		return false, nil
	case "true", "1":
		return true, nil
	}
	return false, faultf("Invalid value %q for parameter %s: expected true or false", c.args.Value(name), name)
}

// DTM wraps a host's stock DynamicTypeManager: the stock one lists no managed object
// instances, and dynamic clients (PowerCLI Get-EsxCli -V2, pyVmomi-style type loaders, VMware
// HMS) find each namespace's moid there (ha-cli-handler-<namespace with dashes>).
type DTM struct {
	*simulator.DynamicTypeManager
}

type moInstance struct {
	Id     string `xml:"id"`
	MoType string `xml:"moType"`
}

type queryMoInstancesResponse struct {
	Returnval []moInstance `xml:"urn:vim25 returnval"`
}

type queryMoInstancesBody struct {
	Res    *queryMoInstancesResponse `xml:"urn:vim25 DynamicTypeMgrQueryMoInstancesResponse"`
	Fault_ *soap.Fault               `xml:"-"`
}

func (b *queryMoInstancesBody) Fault() *soap.Fault { return b.Fault_ }

// DynamicTypeMgrQueryMoInstances lists every esxcli namespace's handler, filtered by the
// request's moId / type substring when it has a DynamicTypeMgrMoFilterSpec.
func (d *DTM) DynamicTypeMgrQueryMoInstances(ctx *simulator.Context, req any) soap.HasFault {
	var id, substr string
	if spec := reflect.ValueOf(req).Elem().FieldByName("FilterSpec"); spec.IsValid() && !spec.IsNil() {
		s := spec.Elem()
		if s.Kind() == reflect.Pointer {
			s = s.Elem()
		}
		if f := s.FieldByName("Id"); f.IsValid() {
			id = f.String()
		}
		if f := s.FieldByName("TypeSubstr"); f.IsValid() {
			substr = f.String()
		}
	}
	var out []moInstance
	seen := map[string]bool{}
	for _, ci := range esx.CommandInfo {
		inst := moInstance{Id: "ha-cli-handler-" + strings.ReplaceAll(ci.Name, ".", "-"),
			MoType: "vim.EsxCLI." + ci.Name}
		if seen[inst.Id] || (id != "" && inst.Id != id) || !strings.Contains(inst.MoType, substr) {
			continue
		}
		seen[inst.Id] = true
		out = append(out, inst)
	}
	return &queryMoInstancesBody{Res: &queryMoInstancesResponse{Returnval: out}}
}
