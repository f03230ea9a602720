// Command lh-vcsim is labharness's simulated vCenter: govmomi's simulator with the host-level
// managed objects the harness's checks need (see install.go), built from a lab-derived spec.
package main

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"flag"
	"fmt"
	"log"
	"net"
	"net/url"
	"os"
	"os/signal"
	"path/filepath"
	"runtime/pprof"
	"syscall"
	"time"
)

type readyInfo struct {
	URL      string  `json:"url"`
	PID      int     `json:"pid"`
	Hosts    int     `json:"hosts"`
	StartupS float64 `json:"startup_s"`
	CertFile string  `json:"cert_file"`
}

func main() {
	start := time.Now()
	listen := flag.String("listen", "127.0.0.1:0", "ADDR:PORT to serve HTTPS on (port 0: any free port)")
	username := flag.String("username", "", "SOAP login user name (required)")
	password := flag.String("password", "", "SOAP login password (default: $LH_VCSIM_PASSWORD)")
	specPath := flag.String("spec", "", "JSON inventory spec (required)")
	ready := flag.String("ready", "", "file to write one JSON line to once serving")
	certDir := flag.String("cert-dir", "", "directory for the generated vcsim.crt/vcsim.key (default: next to -ready)")
	cpuProfile := flag.String("cpuprofile", "", "write a CPU profile of start-up to this file (for `go tool pprof`)")
	flag.Parse()
	if *cpuProfile != "" {
		f, err := os.Create(*cpuProfile)
		if err != nil {
			log.Fatalf("-cpuprofile: %v", err)
		}
		if err := pprof.StartCPUProfile(f); err != nil {
			log.Fatalf("-cpuprofile: %v", err)
		}
	}
	log.SetPrefix("lh-vcsim: ")
	if *password == "" {
		// The launcher passes it this way so the password is not in the process list.
		*password = os.Getenv("LH_VCSIM_PASSWORD")
	}

	if *username == "" || *password == "" || *specPath == "" {
		log.Fatal("-username, -password and -spec are required")
	}
	spec, err := loadSpec(*specPath)
	if err != nil {
		log.Fatalf("spec: %v", err)
	}
	host, _, err := net.SplitHostPort(*listen)
	if err != nil {
		log.Fatalf("-listen %q: %v", *listen, err)
	}
	dir := *certDir
	if dir == "" {
		dir = filepath.Dir(*ready)
		if *ready == "" {
			dir = "."
		}
	}
	cert, certPath, err := newCertificate(dir, host)
	if err != nil {
		log.Fatalf("certificate: %v", err)
	}

	registerEsxcliMetadata()
	model, err := buildInventory(context.Background(), spec)
	if err != nil {
		log.Fatalf("inventory: %v", err)
	}
	defer model.Remove()

	model.Service.Listen = &url.URL{Host: *listen, User: url.UserPassword(*username, *password)}
	model.Service.TLS = &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
	server := model.Service.NewServer()
	defer server.Close()

	u := *server.URL
	u.User = nil // the ready file is read by tooling; never put the password in it
	info := readyInfo{URL: u.String(), PID: os.Getpid(), Hosts: len(spec.Hosts),
		StartupS: time.Since(start).Seconds(), CertFile: certPath}
	if *cpuProfile != "" {
		pprof.StopCPUProfile() // start-up only: the server's idle time would drown it
	}
	line, _ := json.Marshal(info)
	if *ready != "" {
		// Write then rename, so a poller never reads half a line.
		tmp := *ready + ".tmp"
		if err := os.WriteFile(tmp, append(line, '\n'), 0o644); err != nil {
			log.Fatalf("ready file: %v", err)
		}
		if err := os.Rename(tmp, *ready); err != nil {
			log.Fatalf("ready file: %v", err)
		}
	}
	fmt.Println(string(line))

	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGINT, syscall.SIGTERM)
	s := <-sig
	log.Printf("%s: stopping", s)
}
