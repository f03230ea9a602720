package main

import (
	"bufio"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/vmware/govmomi/simulator"
	"github.com/vmware/govmomi/vim25/methods"
	"github.com/vmware/govmomi/vim25/mo"
	"github.com/vmware/govmomi/vim25/soap"
	"github.com/vmware/govmomi/vim25/types"
)

// vcBrowseMax is how many lines vCenter returns per BrowseDiagnosticLog at most (an ESXi host
// answering directly returns up to 1000): clients page, as govc's DiagnosticLog.Copy does.
const vcBrowseMax = 500

// hostLog is one log an ESXi host offers through the DiagnosticManager: the key clients pass,
// the file on the host, and what QueryDescriptions says about it.
type hostLog struct {
	key, fileName, label string
}

// hostLogs are the logs every host offers, as ESXi 6.7-8.0 name them.
var hostLogs = []hostLog{
	{"hostd", "/var/run/log/hostd.log", "Server log in 'plain' format"},
	{"vmkernel", "/var/run/log/vmkernel.log", "VMkernel log in 'plain' format"},
	{"vmksummary", "/var/run/log/vmksummary.log", "VMkernel summary log in 'plain' format"},
	{"vpxa", "/var/run/log/vpxa.log", "vCenter agent log in 'plain' format"},
}

// DiagnosticManager serves each host's logs (govmomi's simulator has no DiagnosticManager):
// the lines are read from files the sim writes, one directory per host, at every call, so a
// line appended between two runs is there at the next read, as on a host.
type DiagnosticManager struct {
	mo.DiagnosticManager
	dirs map[types.ManagedObjectReference]string // host -> its log directory
}

func newDiagnosticManager(ref types.ManagedObjectReference) *DiagnosticManager {
	d := &DiagnosticManager{dirs: map[types.ManagedObjectReference]string{}}
	d.Self = ref
	return d
}

// available lists the host's logs whose file the sim wrote, in a stable order.
func (d *DiagnosticManager) available(host types.ManagedObjectReference) []hostLog {
	dir, ok := d.dirs[host]
	if !ok {
		return nil
	}
	var out []hostLog
	for _, l := range hostLogs {
		if _, err := os.Stat(filepath.Join(dir, l.key+".log")); err == nil {
			out = append(out, l)
		}
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].key < out[j].key })
	return out
}

func invalidHost(ctx *simulator.Context, host *types.ManagedObjectReference) types.BaseMethodFault {
	if _, ok := ctx.Map.Get(*host).(*simulator.HostSystem); !ok {
		return &types.ManagedObjectNotFound{Obj: *host}
	}
	return nil
}

// QueryDescriptions lists the logs of a host, or of vCenter itself when no host is given
// (this simulated vCenter offers none of its own).
func (d *DiagnosticManager) QueryDescriptions(ctx *simulator.Context, req *types.QueryDescriptions) soap.HasFault {
	body := &methods.QueryDescriptionsBody{}
	if req.Host == nil {
		body.Res = &types.QueryDescriptionsResponse{}
		return body
	}
	if fault := invalidHost(ctx, req.Host); fault != nil {
		body.Fault_ = simulator.Fault("", fault)
		return body
	}
	res := &types.QueryDescriptionsResponse{}
	for _, l := range d.available(*req.Host) {
		res.Returnval = append(res.Returnval, types.DiagnosticManagerLogDescriptor{
			Key: l.key, FileName: l.fileName,
			Creator:  string(types.DiagnosticManagerLogCreatorHostd),
			Format:   string(types.DiagnosticManagerLogFormatPlain),
			MimeType: "text/plain",
			Info:     &types.Description{Label: l.key, Summary: l.label},
		})
	}
	body.Res = res
	return body
}

// BrowseDiagnosticLog returns lines [start, start+lines) of a log (1-based; start unset: the
// top; lines unset: to the end, at most vcBrowseMax). lineStart/lineEnd are the first and last
// line of the segment; past the end no lines come back and lineEnd is the log's last line,
// which is how clients find the tail (govc asks from line MaxInt32 for 0 lines).
func (d *DiagnosticManager) BrowseDiagnosticLog(ctx *simulator.Context, req *types.BrowseDiagnosticLog) soap.HasFault {
	body := &methods.BrowseDiagnosticLogBody{}
	if req.Host != nil {
		if fault := invalidHost(ctx, req.Host); fault != nil {
			body.Fault_ = simulator.Fault("", fault)
			return body
		}
	}
	var found *hostLog
	if req.Host != nil {
		for _, l := range d.available(*req.Host) {
			if l.key == req.Key {
				l := l
				found = &l
			}
		}
	}
	if found == nil {
		// vCenter's own logs need no host; a host's logs need one, and this vCenter has none of
		// its own: either way the key names no log here.
		body.Fault_ = simulator.Fault("log key "+req.Key+" not found", &types.InvalidArgument{InvalidProperty: "key"})
		return body
	}
	lines, err := readLines(filepath.Join(d.dirs[*req.Host], found.key+".log"))
	if err != nil {
		body.Fault_ = simulator.Fault(err.Error(), &types.CannotAccessFile{FileFault: types.FileFault{File: found.fileName}})
		return body
	}
	total := int32(len(lines))
	start := req.Start
	if start < 1 {
		start = 1
	}
	// past the end: an empty segment at the last line
	res := types.DiagnosticManagerLogHeader{LineStart: total, LineEnd: total}
	if start <= total {
		count := req.Lines
		if count <= 0 || count > vcBrowseMax {
			count = vcBrowseMax
		}
		end := total
		if total-start+1 > count {
			end = start + count - 1
		}
		res = types.DiagnosticManagerLogHeader{LineStart: start, LineEnd: end, LineText: lines[start-1 : end]}
	}
	body.Res = &types.BrowseDiagnosticLogResponse{Returnval: res}
	return body
}

func readLines(path string) ([]string, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var out []string
	scan := bufio.NewScanner(f)
	scan.Buffer(make([]byte, 64*1024), 1024*1024)
	for scan.Scan() {
		out = append(out, strings.TrimRight(scan.Text(), "\r"))
	}
	return out, scan.Err()
}
