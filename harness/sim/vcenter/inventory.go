package main

import (
	"context"
	"fmt"
	"strconv"

	"github.com/vmware/govmomi/object"
	"github.com/vmware/govmomi/simulator"
	"github.com/vmware/govmomi/vim25"
	"github.com/vmware/govmomi/vim25/types"
)

// buildInventory creates the vCenter of the spec: one datacenter, one cluster and its hosts,
// each with the extended host managers of install.go.
func buildInventory(ctx context.Context, spec *Spec) (*simulator.Model, error) {
	model := simulator.VPX()
	// Nothing from the stock model: the spec names every entity, and the stock VMs, DVS and
	// datastores would only be noise in the lab's facts.
	model.Datacenter, model.Cluster, model.ClusterHost, model.Host = 0, 0, 0, 0
	model.Machine, model.Datastore, model.Portgroup, model.Pool = 0, 0, 0, 0

	v := spec.VCenter
	about := &model.ServiceContent.About
	about.Version = v.Version
	about.Build = strconv.FormatInt(v.Build, 10)
	about.FullName = fmt.Sprintf("VMware vCenter Server %s build-%d", v.Version, v.Build)
	about.ApiVersion = apiVersion(v.Version, v.APIVersion)
	about.LicenseProductVersion = licenseVersion(v.Version)

	if err := model.Create(); err != nil {
		return nil, err
	}

	// The simulator's Service is a SOAP round tripper: drive it with the regular client API so
	// entities are created exactly as a client would create them (tasks, events, folders).
	c, err := vim25.NewClient(ctx, model.Service)
	if err != nil {
		return nil, err
	}
	dc, err := object.NewRootFolder(c).CreateDatacenter(ctx, v.Datacenter)
	if err != nil {
		return nil, fmt.Errorf("datacenter %s: %w", v.Datacenter, err)
	}
	folders, err := dc.Folders(ctx)
	if err != nil {
		return nil, err
	}
	cluster, err := folders.HostFolder.CreateCluster(ctx, v.Cluster, types.ClusterConfigSpecEx{})
	if err != nil {
		return nil, fmt.Errorf("cluster %s: %w", v.Cluster, err)
	}

	env := newSimEnv(model.Map())
	model.Map().AddHandler(&objectHooks{env: env})
	model.Map().Handler = env.handler
	if err := seedVpxSettings(model, env, v); err != nil {
		return nil, err
	}
	inst := newInstaller(model, folders.NetworkFolder.Reference(), env)
	// Every host joins with the template's identity first, and gets the lab's afterwards: the
	// simulator re-reads all member hosts' versions on each AddHost with a parser that knows
	// only some ESXi versions (it panics on 7.0.3, which real 7.0 U3 hosts report).
	// All AddHost tasks are started first and then awaited: waiting on each in turn costs a
	// property-collector round trip per host, which dominated start-up for large labs.
	tasks := make([]*object.Task, 0, len(spec.Hosts))
	for _, hs := range spec.Hosts {
		task, err := cluster.AddHost(ctx, types.HostConnectSpec{HostName: hs.Name, Force: true}, true, nil, nil)
		if err != nil {
			return nil, fmt.Errorf("host %s: %w", hs.Name, err)
		}
		tasks = append(tasks, task)
	}
	hosts := make([]*simulator.HostSystem, 0, len(spec.Hosts))
	for i, hs := range spec.Hosts {
		res, err := tasks[i].WaitForResult(ctx, nil)
		if err != nil {
			return nil, fmt.Errorf("host %s: %w", hs.Name, err)
		}
		ref := res.Result.(types.ManagedObjectReference)
		hosts = append(hosts, model.Map().Get(ref).(*simulator.HostSystem))
	}
	diag := newDiagnosticManager(*model.ServiceContent.DiagnosticManager)
	for i, hs := range spec.Hosts {
		if err := inst.install(hosts[i], i, hs); err != nil {
			return nil, fmt.Errorf("host %s: %w", hs.Name, err)
		}
		if hs.LogDir != "" {
			diag.dirs[hosts[i].Self] = hs.LogDir
		}
	}
	model.Map().Put(diag)
	return model, nil
}

// seedVpxSettings sets vCenter's advanced settings the checks read (network rollback, F01).
func seedVpxSettings(model *simulator.Model, env *simEnv, v VCenterSpec) error {
	om, ok := model.Map().Get(*model.ServiceContent.Setting).(*simulator.OptionManager)
	if !ok {
		return fmt.Errorf("vCenter settings manager missing")
	}
	rollback := v.NetworkRollback == nil || *v.NetworkRollback
	om.Setting = append(om.Setting, &types.OptionValue{Key: rollbackOption, Value: strconv.FormatBool(rollback)})
	env.setting = om
	return nil
}
