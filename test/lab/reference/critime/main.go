// critime times the container runtime alone through the CRI, as the kubelet calls it
// for a pod: RunPodSandbox (the pause container and its network through the CNI
// plugins), CreateContainer, StartContainer. It is the reference side of the bench's
// runtime scenario (issue 18: "shown by timing the runtime calls alone"); the splitlet
// side makes the same pods' Docker calls with runtime-executor's own requests.
//
//	critime run   -sock S -n N -qps Q -image I -dir D   starts N pods, Q per second; one JSON line per pod on stdout
//	critime clean -sock S -prefix P                      stops and removes every sandbox whose pod name starts with P
//
// A pod's configuration is the kubelet's for a BestEffort pod of one container with no
// volumes (generatePodSandboxConfig, generateContainerConfig): its labels, the
// cgroupfs parent kubepods/besteffort/pod<uid>, the pod's network and IPC namespaces
// shared, the host's DNS (the lab's kubelet has no clusterDNS), CPU shares 2 and OOM
// score 1000.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
)

type result struct {
	Index     int     `json:"index"`
	Name      string  `json:"name"`
	SandboxMs float64 `json:"sandboxMs"`
	TotalMs   float64 `json:"totalMs"`
	Error     string  `json:"error,omitempty"`
}

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: critime run|clean [flags]")
		os.Exit(2)
	}
	fs := flag.NewFlagSet(os.Args[1], flag.ExitOnError)
	sock := fs.String("sock", "/run/splitlet-ref/containerd.sock", "the CRI socket")
	n := fs.Int("n", 100, "pods")
	qps := fs.Float64("qps", 5, "pods started per second")
	image := fs.String("image", "docker.io/splitlet-lab/testbox:1", "the container's image (already in the runtime)")
	dir := fs.String("dir", os.TempDir(), "where the pods' log folders go")
	prefix := fs.String("prefix", "critime-", "pod names start with this")
	_ = fs.Parse(os.Args[2:])

	conn, err := grpc.NewClient("unix://"+*sock, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		fail(err)
	}
	defer conn.Close()
	rt := runtimeapi.NewRuntimeServiceClient(conn)
	ctx := context.Background()

	switch os.Args[1] {
	case "run":
		run(ctx, rt, *n, *qps, *image, *dir, *prefix)
	case "clean":
		clean(ctx, rt, *prefix)
	default:
		fail(fmt.Errorf("unknown command %q", os.Args[1]))
	}
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "critime:", err)
	os.Exit(1)
}

func run(ctx context.Context, rt runtimeapi.RuntimeServiceClient, n int, qps float64, image, dir, prefix string) {
	dns := hostDNS()
	out := json.NewEncoder(os.Stdout)
	var mu sync.Mutex
	var wg sync.WaitGroup
	t0 := time.Now()
	for i := 0; i < n; i++ {
		due := t0.Add(time.Duration(float64(i) / qps * float64(time.Second)))
		time.Sleep(time.Until(due))
		wg.Add(1)
		go func(i int, due time.Time) {
			defer wg.Done()
			r := startPod(ctx, rt, i, fmt.Sprintf("%s%d", prefix, i), image, dir, dns, due)
			mu.Lock()
			defer mu.Unlock()
			_ = out.Encode(r)
		}(i, due)
	}
	wg.Wait()
}

func startPod(ctx context.Context, rt runtimeapi.RuntimeServiceClient, i int, name, image, dir string, dns *runtimeapi.DNSConfig, due time.Time) result {
	r := result{Index: i, Name: name}
	uid := fmt.Sprintf("00000000-0000-4000-8000-%012d", time.Now().UnixNano()%1e12+int64(i))
	ns := "splitlet-bench-runtime"
	logDir := filepath.Join(dir, fmt.Sprintf("%s_%s_%s", ns, name, uid))
	cgroup := "/kubepods/besteffort/pod" + uid
	nsOpts := &runtimeapi.NamespaceOption{Network: runtimeapi.NamespaceMode_POD, Pid: runtimeapi.NamespaceMode_CONTAINER, Ipc: runtimeapi.NamespaceMode_POD}
	labels := map[string]string{"io.kubernetes.pod.name": name, "io.kubernetes.pod.namespace": ns, "io.kubernetes.pod.uid": uid}
	sandboxCfg := &runtimeapi.PodSandboxConfig{
		Metadata:     &runtimeapi.PodSandboxMetadata{Name: name, Namespace: ns, Uid: uid},
		Hostname:     name,
		LogDirectory: logDir,
		DnsConfig:    dns,
		Labels:       labels,
		Annotations:  map[string]string{"kubernetes.io/config.source": "api"},
		Linux: &runtimeapi.LinuxPodSandboxConfig{
			CgroupParent: cgroup,
			SecurityContext: &runtimeapi.LinuxSandboxSecurityContext{
				NamespaceOptions: nsOpts,
				Seccomp:          &runtimeapi.SecurityProfile{ProfileType: runtimeapi.SecurityProfile_Unconfined},
			},
		},
	}
	sb, err := rt.RunPodSandbox(ctx, &runtimeapi.RunPodSandboxRequest{Config: sandboxCfg})
	if err != nil {
		r.Error = "RunPodSandbox: " + err.Error()
		return r
	}
	r.SandboxMs = ms(time.Since(due))
	cLabels := map[string]string{"io.kubernetes.container.name": "main"}
	for k, v := range labels {
		cLabels[k] = v
	}
	c, err := rt.CreateContainer(ctx, &runtimeapi.CreateContainerRequest{
		PodSandboxId:  sb.PodSandboxId,
		SandboxConfig: sandboxCfg,
		Config: &runtimeapi.ContainerConfig{
			Metadata: &runtimeapi.ContainerMetadata{Name: "main"},
			Image:    &runtimeapi.ImageSpec{Image: image},
			Command:  []string{"sh", "-c", "trap 'exit 0' TERM; while :; do sleep 1; done"},
			LogPath:  "main/0.log",
			Labels:   cLabels,
			Linux: &runtimeapi.LinuxContainerConfig{
				Resources: &runtimeapi.LinuxContainerResources{CpuShares: 2, OomScoreAdj: 1000},
				SecurityContext: &runtimeapi.LinuxContainerSecurityContext{
					NamespaceOptions: nsOpts,
					Seccomp:          &runtimeapi.SecurityProfile{ProfileType: runtimeapi.SecurityProfile_Unconfined},
				},
			},
		},
	})
	if err != nil {
		r.Error = "CreateContainer: " + err.Error()
		return r
	}
	if _, err := rt.StartContainer(ctx, &runtimeapi.StartContainerRequest{ContainerId: c.ContainerId}); err != nil {
		r.Error = "StartContainer: " + err.Error()
		return r
	}
	r.TotalMs = ms(time.Since(due))
	return r
}

func clean(ctx context.Context, rt runtimeapi.RuntimeServiceClient, prefix string) {
	list, err := rt.ListPodSandbox(ctx, &runtimeapi.ListPodSandboxRequest{})
	if err != nil {
		fail(err)
	}
	var wg sync.WaitGroup
	sem := make(chan struct{}, 8)
	for _, s := range list.Items {
		if !strings.HasPrefix(s.GetMetadata().GetName(), prefix) {
			continue
		}
		wg.Add(1)
		sem <- struct{}{}
		go func(id string) {
			defer func() { <-sem; wg.Done() }()
			// Stop kills its containers too; Remove removes them (the kubelet's order).
			if _, err := rt.StopPodSandbox(ctx, &runtimeapi.StopPodSandboxRequest{PodSandboxId: id}); err != nil {
				fmt.Fprintln(os.Stderr, "critime: stop", id, err)
			}
			if _, err := rt.RemovePodSandbox(ctx, &runtimeapi.RemovePodSandboxRequest{PodSandboxId: id}); err != nil {
				fmt.Fprintln(os.Stderr, "critime: remove", id, err)
			}
		}(s.Id)
	}
	wg.Wait()
}

// hostDNS is what the kubelet passes when it has no clusterDNS: the host's resolv.conf.
func hostDNS() *runtimeapi.DNSConfig {
	dns := &runtimeapi.DNSConfig{}
	b, err := os.ReadFile("/etc/resolv.conf")
	if err != nil {
		return dns
	}
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Fields(line)
		if len(f) < 2 {
			continue
		}
		switch f[0] {
		case "nameserver":
			dns.Servers = append(dns.Servers, f[1])
		case "search":
			dns.Searches = f[1:]
		case "options":
			dns.Options = f[1:]
		}
	}
	return dns
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
