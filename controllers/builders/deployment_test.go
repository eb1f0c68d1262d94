package builders

import (
	"fmt"
	"path"
	"slices"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/yaml"

	"github.com/telemetrylake/telemetrylake/api/ingesterconfig"
	"github.com/telemetrylake/telemetrylake/api/wellknown"
)

func TestDeployment(t *testing.T) {
	for _, variant := range allVariants {
		t.Run(variant, func(t *testing.T) {
			checkGolden(t, "deployment", variant, Deployment(inputs(variant), testHash))
		})
	}
}

func TestDeploymentReplicasAndStrategy(t *testing.T) {
	cases := []struct {
		variant      string
		wantReplicas string // "nil" when the HorizontalPodAutoscaler owns them
		wantStrategy appsv1.DeploymentStrategyType
	}{
		{variantMinimal, "2", appsv1.RollingUpdateDeploymentStrategyType},
		{variantSingle, "1", appsv1.RollingUpdateDeploymentStrategyType},
		{variantScheduling, "4", appsv1.RollingUpdateDeploymentStrategyType},
		{variantUndefaulted, "2", appsv1.RollingUpdateDeploymentStrategyType},
		{variantAutoscaling, "nil", appsv1.RollingUpdateDeploymentStrategyType},
		{variantFilesystem, "1", appsv1.RecreateDeploymentStrategyType},
	}
	for _, c := range cases {
		t.Run(fmt.Sprintf("%s runs %s replicas with %s", c.variant, c.wantReplicas, c.wantStrategy), func(t *testing.T) {
			d := Deployment(inputs(c.variant), testHash)
			got := "nil"
			if d.Spec.Replicas != nil {
				got = fmt.Sprint(*d.Spec.Replicas)
			}
			if got != c.wantReplicas {
				t.Errorf("replicas = %s, want %s", got, c.wantReplicas)
			}
			if d.Spec.Strategy.Type != c.wantStrategy {
				t.Errorf("strategy = %s, want %s", d.Spec.Strategy.Type, c.wantStrategy)
			}
			if ru := d.Spec.Strategy.RollingUpdate; ru != nil && (ru.MaxUnavailable.IntValue() != 0 || ru.MaxSurge.IntValue() != 1) {
				t.Errorf("rolling update = %v/%v, want maxUnavailable 0 and maxSurge 1", ru.MaxUnavailable, ru.MaxSurge)
			}
		})
	}
}

// The restricted Pod Security Standard, as the pod-security-admission "restricted" level checks it
// (and the baseline checks it includes that a builder could break), plus a read-only root
// filesystem.
func TestDeploymentRunsTheRestrictedProfile(t *testing.T) {
	for _, variant := range allVariants {
		t.Run(variant, func(t *testing.T) {
			for _, v := range restrictedViolations(Deployment(inputs(variant), testHash).Spec.Template.Spec) {
				t.Error(v)
			}
		})
	}
}

func restrictedViolations(pod corev1.PodSpec) []string {
	var out []string
	psc := pod.SecurityContext
	if psc == nil {
		psc = &corev1.PodSecurityContext{}
	}
	if pod.HostNetwork || pod.HostPID || pod.HostIPC {
		out = append(out, "host namespaces are used")
	}
	if psc.RunAsUser != nil && *psc.RunAsUser == 0 {
		out = append(out, "the pod runs as UID 0")
	}
	if len(psc.Sysctls) > 0 {
		out = append(out, "the pod sets sysctls")
	}
	podSeccomp := psc.SeccompProfile != nil && psc.SeccompProfile.Type == corev1.SeccompProfileTypeRuntimeDefault
	for _, v := range pod.Volumes {
		src := v.VolumeSource
		if src.ConfigMap == nil && src.CSI == nil && src.DownwardAPI == nil && src.EmptyDir == nil && src.Ephemeral == nil &&
			src.PersistentVolumeClaim == nil && src.Projected == nil && src.Secret == nil {
			out = append(out, fmt.Sprintf("volume %s is of a type the restricted profile forbids", v.Name))
		}
	}
	for _, c := range slices.Concat(pod.InitContainers, pod.Containers) {
		sc := c.SecurityContext
		if sc == nil {
			sc = &corev1.SecurityContext{}
		}
		nonRoot := (sc.RunAsNonRoot != nil && *sc.RunAsNonRoot) || (sc.RunAsNonRoot == nil && psc.RunAsNonRoot != nil && *psc.RunAsNonRoot)
		if !nonRoot {
			out = append(out, c.Name+": runAsNonRoot is not true")
		}
		if sc.RunAsUser != nil && *sc.RunAsUser == 0 {
			out = append(out, c.Name+": runs as UID 0")
		}
		if sc.Privileged != nil && *sc.Privileged {
			out = append(out, c.Name+": is privileged")
		}
		if sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation {
			out = append(out, c.Name+": allowPrivilegeEscalation is not false")
		}
		if sc.Capabilities == nil || !slices.Contains(sc.Capabilities.Drop, "ALL") {
			out = append(out, c.Name+": capabilities do not drop ALL")
		} else if len(sc.Capabilities.Add) > 0 {
			out = append(out, c.Name+": adds capabilities")
		}
		seccomp := podSeccomp
		if sc.SeccompProfile != nil {
			seccomp = sc.SeccompProfile.Type == corev1.SeccompProfileTypeRuntimeDefault
		}
		if !seccomp {
			out = append(out, c.Name+": seccomp profile is not RuntimeDefault")
		}
		if sc.ReadOnlyRootFilesystem == nil || !*sc.ReadOnlyRootFilesystem {
			out = append(out, c.Name+": the root filesystem is writable")
		}
		for _, p := range c.Ports {
			if p.HostPort != 0 {
				out = append(out, c.Name+": uses a host port")
			}
		}
	}
	return out
}

// Every file the rendered config names, and the config file itself, is where the Deployment mounts
// something; nothing the ingester reads is left to chance.
func TestDeploymentMountsEveryFileTheConfigNames(t *testing.T) {
	for _, variant := range allVariants {
		t.Run(variant, func(t *testing.T) {
			in := inputs(variant)
			cfgSecret, err := ConfigSecret(in)
			if err != nil {
				t.Fatal(err)
			}
			var cfg ingesterconfig.Config
			if err := yaml.UnmarshalStrict(cfgSecret.Data[wellknown.SecretKeyConfig], &cfg); err != nil {
				t.Fatal(err)
			}
			d := Deployment(in, testHash)
			c := d.Spec.Template.Spec.Containers[0]
			mounted := mountedFiles(d.Spec.Template.Spec)

			want := map[string]string{"--config": c.Args[slices.Index(c.Args, "--config")+1], "auth.tokenFile": cfg.Auth.TokenFile}
			for _, o := range cfg.Auth.OIDC {
				if o.CAFile != "" {
					want["auth.oidc "+o.Name+" caFile"] = o.CAFile
				}
			}
			for _, k := range cfg.Auth.Kubernetes {
				want["auth.kubernetes caFile"], want["auth.kubernetes tokenFile"] = k.CAFile, k.TokenFile
			}
			for _, e := range c.Env {
				if e.Name == "AWS_CA_BUNDLE" {
					want["AWS_CA_BUNDLE"] = e.Value
				}
			}
			for what, file := range want {
				if src, ok := mounted[file]; !ok {
					t.Errorf("%s is %s, where nothing is mounted", what, file)
				} else {
					t.Logf("%s %s <- %s", what, file, src)
				}
			}

			if dir, ok := strings.CutPrefix(cfg.Storage, "file://"); ok {
				if !slices.ContainsFunc(c.VolumeMounts, func(m corev1.VolumeMount) bool { return m.MountPath == dir && !m.ReadOnly }) {
					t.Errorf("storage %s is not a writable mount", cfg.Storage)
				}
			}
		})
	}
}

// mountedFiles maps each file that the pod's projected volumes put in its container to its source.
func mountedFiles(pod corev1.PodSpec) map[string]string {
	vols := map[string]corev1.Volume{}
	for _, v := range pod.Volumes {
		vols[v.Name] = v
	}
	files := map[string]string{}
	for _, m := range pod.Containers[0].VolumeMounts {
		p := vols[m.Name].Projected
		if p == nil {
			continue
		}
		for _, s := range p.Sources {
			switch {
			case s.Secret != nil:
				for _, it := range s.Secret.Items {
					files[path.Join(m.MountPath, it.Path)] = "Secret " + s.Secret.Name + " key " + it.Key
				}
			case s.ConfigMap != nil:
				for _, it := range s.ConfigMap.Items {
					files[path.Join(m.MountPath, it.Path)] = "ConfigMap " + s.ConfigMap.Name + " key " + it.Key
				}
			case s.ServiceAccountToken != nil:
				files[path.Join(m.MountPath, s.ServiceAccountToken.Path)] = "the pod's service-account token"
			}
		}
	}
	return files
}

func TestDeploymentOutlastsTheIngesterShutdown(t *testing.T) {
	d := Deployment(inputs(variantMinimal), testHash)
	if got, min := *d.Spec.Template.Spec.TerminationGracePeriodSeconds, int64((shutdownDelay + shutdownGracePeriod).Seconds()); got <= min {
		t.Errorf("terminationGracePeriodSeconds = %d, want more than shutdownDelay + shutdownGracePeriod = %d", got, min)
	}
}

func TestDeploymentMountsTheServiceAccountTokenOnlyForTheKubernetesIssuer(t *testing.T) {
	for _, variant := range allVariants {
		t.Run(variant, func(t *testing.T) {
			in := inputs(variant)
			pod := Deployment(in, testHash).Spec.Template.Spec
			_, mounted := mountedFiles(pod)[serviceAccountToken]
			if want := len(in.Lake.Spec.Auth.ServiceAccounts) > 0; mounted != want {
				t.Errorf("service-account token mounted = %v, want %v", mounted, want)
			}
			if pod.AutomountServiceAccountToken == nil || *pod.AutomountServiceAccountToken {
				t.Error("automountServiceAccountToken is not false")
			}
		})
	}
}

func TestDeploymentGivesS3CredentialsOnlyToS3(t *testing.T) {
	for _, variant := range allVariants {
		t.Run(variant, func(t *testing.T) {
			in := inputs(variant)
			c := Deployment(in, testHash).Spec.Template.Spec.Containers[0]
			var fromStorage []string
			for _, e := range c.Env {
				if e.ValueFrom != nil && e.ValueFrom.SecretKeyRef != nil {
					if e.ValueFrom.SecretKeyRef.Name != NamesFor(in.Lake).StorageSecret || e.ValueFrom.SecretKeyRef.Key != e.Name {
						t.Errorf("env %s comes from %s/%s", e.Name, e.ValueFrom.SecretKeyRef.Name, e.ValueFrom.SecretKeyRef.Key)
					}
					fromStorage = append(fromStorage, e.Name)
				}
			}
			want := []string{wellknown.SecretKeyAccessKeyID, wellknown.SecretKeySecretAccessKey}
			if in.filesystem() || in.sessions() {
				// STS sessions expire and are replaced: the environment would keep the first.
				want = nil
			}
			if !slices.Equal(fromStorage, want) {
				t.Errorf("env from the storage Secret = %q, want %q", fromStorage, want)
			}
			file := slices.IndexFunc(c.Env, func(e corev1.EnvVar) bool { return e.Name == wellknown.EnvStorageCredentialsFile })
			if in.sessions() != (file >= 0) {
				t.Errorf("%s in the env: %t; want it exactly for STS sessions (%t)", wellknown.EnvStorageCredentialsFile, file >= 0, in.sessions())
			}
		})
	}
}

// The check above is only worth something if it fails; each of these breaks one rule.
func TestRestrictedViolationsCatchEachRule(t *testing.T) {
	cases := []struct {
		name      string
		breakRule func(*corev1.PodSpec)
	}{
		{"runAsNonRoot unset", func(p *corev1.PodSpec) {
			p.SecurityContext.RunAsNonRoot = nil
			p.Containers[0].SecurityContext.RunAsNonRoot = nil
		}},
		{"UID 0", func(p *corev1.PodSpec) { p.Containers[0].SecurityContext.RunAsUser = new(int64) }},
		{"privilege escalation", func(p *corev1.PodSpec) { p.Containers[0].SecurityContext.AllowPrivilegeEscalation = nil }},
		{"capabilities kept", func(p *corev1.PodSpec) { p.Containers[0].SecurityContext.Capabilities = nil }},
		{"no seccomp profile", func(p *corev1.PodSpec) { p.SecurityContext.SeccompProfile = nil }},
		{"a writable root filesystem", func(p *corev1.PodSpec) { p.Containers[0].SecurityContext.ReadOnlyRootFilesystem = nil }},
		{"a hostPath volume", func(p *corev1.PodSpec) {
			p.Volumes = append(p.Volumes, corev1.Volume{Name: "host", VolumeSource: corev1.VolumeSource{HostPath: &corev1.HostPathVolumeSource{Path: "/"}}})
		}},
		{"the host network", func(p *corev1.PodSpec) { p.HostNetwork = true }},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			pod := Deployment(inputs(variantMinimal), testHash).Spec.Template.Spec
			c.breakRule(&pod)
			if len(restrictedViolations(pod)) == 0 {
				t.Error("not reported")
			}
		})
	}
}
