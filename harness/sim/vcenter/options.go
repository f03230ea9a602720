package main

// esxiDefaultOptions are the advanced options every simulated host starts with, at a fresh
// ESXi install's values: those the checks read (Mem.ShareForceSalting for TPS, F04) and the
// ones administrators and hardening guides look at (govc host.option.ls, esxcli system
// settings advanced list), so a client that asks for them finds them, where the stock
// simulator knows only Config.HostAgent.log.level. Numbers are longs, as ESXi types them.
// Sources: VMware's vSphere Security Configuration Guide 6.5/6.7 and the KB articles for
// each option's default.
var esxiDefaultOptions = map[string]any{
	"Annotations.WelcomeMessage":                      "",
	"Config.Etc.issue":                                "",
	"Config.Etc.motd":                                 "",
	"Config.HostAgent.log.level":                      "info",
	"Config.HostAgent.plugins.hostsvc.esxAdminsGroup": "ESX Admins",
	"Config.HostAgent.plugins.solo.enableMob":         false,
	"DCUI.Access":                                     "root",
	"DataMover.HardwareAcceleratedInit":               int64(1),
	"DataMover.HardwareAcceleratedMove":               int64(1),
	"Disk.AutoremoveOnPDL":                            int64(1),
	"Disk.MaxLUN":                                     int64(1024),
	"Mem.AllocGuestLargePage":                         int64(1),
	"Mem.ShareForceSalting":                           int64(2),
	"Misc.APDHandlingEnable":                          int64(1),
	"Misc.APDTimeout":                                 int64(140),
	"Misc.BlueScreenTimeout":                          int64(0),
	"NFS.HeartbeatFrequency":                          int64(12),
	"NFS.HeartbeatMaxFailures":                        int64(10),
	"NFS.HeartbeatTimeout":                            int64(5),
	"NFS.MaxVolumes":                                  int64(8),
	"Net.BlockGuestBPDU":                              int64(0),
	"Net.DVFilterBindIpAddress":                       "",
	"Net.FollowHardwareMac":                           int64(1),
	"Net.ReversePathFwdCheckPromisc":                  int64(0),
	"Net.TcpipDefLROEnabled":                          int64(1),
	"Net.TcpipHeapMax":                                int64(512),
	"Net.TcpipHeapSize":                               int64(0),
	"Net.TeamPolicyUpDelay":                           int64(100),
	"Net.UseHwTSO":                                    int64(1),
	"Net.Vmxnet3HwLRO":                                int64(1),
	"ScratchConfig.ConfiguredScratchLocation":         "",
	"ScratchConfig.CurrentScratchLocation":            "/scratch",
	"Security.PasswordQualityControl":                 "retry=3 min=disabled,disabled,disabled,7,7",
	"Syslog.global.defaultRotate":                     int64(8),
	"Syslog.global.defaultSize":                       int64(1024),
	"Syslog.global.logDir":                            "[] /scratch/log",
	"Syslog.global.logDirUnique":                      false,
	"Syslog.global.logHost":                           "",
	"UserVars.DcuiTimeOut":                            int64(600),
	"UserVars.ESXiShellInteractiveTimeOut":            int64(0),
	"UserVars.ESXiShellTimeOut":                       int64(0),
	"UserVars.HostClientCEIPOptIn":                    int64(0),
	"UserVars.HostClientSessionTimeout":               int64(900),
	"UserVars.SuppressShellWarning":                   int64(0),
	"VMkernel.Boot.hyperthreading":                    true,
	"VMkernel.Boot.terminateVMOnPDL":                  false,
	"VSAN.ClomRepairDelay":                            int64(60),
}
