package kubernetes

import (
	"bytes"
	"errors"
	"io"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/gracekit/gracekit/config"
	"github.com/gracekit/gracekit/graceful"
)

// The parts of the manifests the test reads.
type object struct {
	Kind     string                `yaml:"kind"`
	Metadata struct{ Name string } `yaml:"metadata"`
	Data     map[string]string     `yaml:"data"`
	Spec     struct {
		Strategy struct {
			RollingUpdate struct {
				MaxUnavailable any `yaml:"maxUnavailable"`
			} `yaml:"rollingUpdate"`
		} `yaml:"strategy"`
		Template struct {
			Spec struct {
				TerminationGracePeriodSeconds int         `yaml:"terminationGracePeriodSeconds"`
				Containers                    []container `yaml:"containers"`
				Volumes                       []struct {
					Name      string `yaml:"name"`
					ConfigMap struct {
						Name string `yaml:"name"`
					} `yaml:"configMap"`
				} `yaml:"volumes"`
			} `yaml:"spec"`
		} `yaml:"template"`
		Ports []struct {
			Name       string `yaml:"name"`
			Port       int    `yaml:"port"`
			Protocol   string `yaml:"protocol"`
			TargetPort any    `yaml:"targetPort"`
		} `yaml:"ports"`
	} `yaml:"spec"`
}

type container struct {
	Args  []string `yaml:"args"`
	Ports []struct {
		Name          string `yaml:"name"`
		ContainerPort int    `yaml:"containerPort"`
	} `yaml:"ports"`
	ReadinessProbe probe `yaml:"readinessProbe"`
	LivenessProbe  probe `yaml:"livenessProbe"`
	VolumeMounts   []struct {
		Name      string `yaml:"name"`
		MountPath string `yaml:"mountPath"`
	} `yaml:"volumeMounts"`
}

type probe struct {
	HTTPGet struct {
		Path string `yaml:"path"`
		Port any    `yaml:"port"`
	} `yaml:"httpGet"`
	PeriodSeconds    int `yaml:"periodSeconds"`
	FailureThreshold int `yaml:"failureThreshold"`
}

func readManifests(t *testing.T) map[string]object {
	t.Helper()
	raw, err := os.ReadFile("reload.yaml")
	if err != nil {
		t.Fatal(err)
	}
	objs := map[string]object{}
	dec := yaml.NewDecoder(bytes.NewReader(raw))
	for {
		var o object
		err := dec.Decode(&o)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatalf("reload.yaml: %v", err)
		}
		objs[o.Kind] = o
	}
	return objs
}

// TestManifestAgreesWithItsConfig checks the Deployment against the
// gracekit configuration it mounts, the way a reviewer would.
func TestManifestAgreesWithItsConfig(t *testing.T) {
	objs := readManifests(t)
	cm, dep, svc := objs["ConfigMap"], objs["Deployment"], objs["Service"]
	if len(dep.Spec.Template.Spec.Containers) != 1 {
		t.Fatalf("want one container in the Deployment, got %d", len(dep.Spec.Template.Spec.Containers))
	}
	pod := dep.Spec.Template.Spec
	c := pod.Containers[0]

	// The configuration in the ConfigMap is valid, strictly loaded.
	path := filepath.Join(t.TempDir(), "config.yaml")
	if err := os.WriteFile(path, []byte(cm.Data["config.yaml"]), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg := config.Default()
	if err := config.Load(&cfg, config.WithFiles(path), config.WithoutEnv()); err != nil {
		t.Fatalf("the ConfigMap's config.yaml: %v", err)
	}

	// The container reads that file where the ConfigMap is mounted.
	mount := ""
	for _, v := range pod.Volumes {
		if v.ConfigMap.Name == cm.Metadata.Name {
			for _, m := range c.VolumeMounts {
				if m.Name == v.Name {
					mount = m.MountPath
				}
			}
		}
	}
	if mount == "" {
		t.Fatalf("the ConfigMap %q is not mounted into the container", cm.Metadata.Name)
	}
	if i := slices.Index(c.Args, "-config"); i < 0 || i+1 >= len(c.Args) || c.Args[i+1] != mount+"/config.yaml" {
		t.Errorf("container args %q do not read %s/config.yaml", c.Args, mount)
	}

	// The app is PID 1: only the supervisor mode survives a restart signal.
	if graceful.RestartMode(cfg.Process.Mode) != graceful.RestartModeSupervisor {
		t.Errorf("process.mode is %q; as PID 1 in a container it must be %q", cfg.Process.Mode, graceful.RestartModeSupervisor)
	}

	// Kubernetes waits long enough for the shutdown delay and the drain.
	delay := time.Duration(cfg.Process.ShutdownDelay)
	drain := time.Duration(cfg.Server.GracefulShutdownTimeout)
	grace := time.Duration(pod.TerminationGracePeriodSeconds) * time.Second
	if need := delay + drain + 5*time.Second; grace < need {
		t.Errorf("terminationGracePeriodSeconds %s < shutdownDelay %s + gracefulShutdownTimeout %s + 5s margin", grace, delay, drain)
	}
	if delay == 0 {
		t.Error("process.shutdownDelay is 0: pods would stop accepting before endpoints are updated")
	}

	// Probes hit gracekit's health endpoints on the server's port, and
	// readiness fails well within the shutdown delay.
	if got := c.ReadinessProbe.HTTPGet.Path; got != cfg.Process.ReadinessPath || got == "" {
		t.Errorf("readiness probe path %q, config readinessPath %q", got, cfg.Process.ReadinessPath)
	}
	if got := c.LivenessProbe.HTTPGet.Path; got != cfg.Process.LivenessPath || got == "" {
		t.Errorf("liveness probe path %q, config livenessPath %q", got, cfg.Process.LivenessPath)
	}
	_, portStr, err := net.SplitHostPort(cfg.Server.Address)
	if err != nil {
		t.Fatalf("server.address %q: %v", cfg.Server.Address, err)
	}
	port, _ := strconv.Atoi(portStr)
	names := map[string]int{}
	for _, p := range c.Ports {
		names[p.Name] = p.ContainerPort
	}
	resolve := func(v any) int {
		switch v := v.(type) {
		case int:
			return v
		case string:
			return names[v]
		}
		return 0
	}
	for what, p := range map[string]any{
		"readiness probe": c.ReadinessProbe.HTTPGet.Port,
		"liveness probe":  c.LivenessProbe.HTTPGet.Port,
	} {
		if got := resolve(p); got != port {
			t.Errorf("%s port %v is %d, server.address listens on %d", what, p, got, port)
		}
	}
	if unready := time.Duration(c.ReadinessProbe.PeriodSeconds*c.ReadinessProbe.FailureThreshold) * time.Second; unready >= delay {
		t.Errorf("readiness takes %s to fail, not less than the %s shutdown delay", unready, delay)
	}
	for _, p := range svc.Spec.Ports {
		if got := resolve(p.TargetPort); got != port {
			t.Errorf("Service targetPort %v is %d, server.address listens on %d", p.TargetPort, got, port)
		}
	}

	// The pods get the variables Kubernetes sets for the Service, which
	// is named like gracekit's prefix: the configuration still loads.
	if err := config.Load(&cfg, config.WithFiles(path), config.WithEnviron(serviceLinkEnv(svc, "10.96.0.12"))); err != nil {
		t.Errorf("the ConfigMap's config.yaml with the variables of the Service %q: %v", svc.Metadata.Name, err)
	}

	// A rolling update keeps every replica's capacity.
	if mu := dep.Spec.Strategy.RollingUpdate.MaxUnavailable; mu != 0 {
		t.Errorf("maxUnavailable is %v, want 0", mu)
	}
}

// serviceLinkEnv returns the variables Kubernetes gives every container of
// the namespace for the Service svc on the cluster IP ip (see
// pkg/kubelet/envvars in Kubernetes): NAME_SERVICE_HOST,
// NAME_SERVICE_PORT, NAME_SERVICE_PORT_<PORT NAME>, NAME_PORT and, for
// each port, NAME_PORT_<PORT>_<PROTO> with its _PROTO, _PORT and _ADDR.
func serviceLinkEnv(svc object, ip string) []string {
	name := strings.ToUpper(strings.ReplaceAll(svc.Metadata.Name, "-", "_"))
	var env []string
	for i, p := range svc.Spec.Ports {
		proto := p.Protocol
		if proto == "" {
			proto = "TCP"
		}
		port := strconv.Itoa(p.Port)
		url := strings.ToLower(proto) + "://" + net.JoinHostPort(ip, port)
		if i == 0 {
			env = append(env, name+"_SERVICE_HOST="+ip, name+"_SERVICE_PORT="+port, name+"_PORT="+url)
		}
		if p.Name != "" {
			env = append(env, name+"_SERVICE_PORT_"+strings.ToUpper(strings.ReplaceAll(p.Name, "-", "_"))+"="+port)
		}
		prefix := name + "_PORT_" + port + "_" + strings.ToUpper(proto)
		env = append(env, prefix+"="+url, prefix+"_PROTO="+strings.ToLower(proto), prefix+"_PORT="+port, prefix+"_ADDR="+ip)
	}
	return env
}
