package builders

import (
	"maps"
	"strconv"
	"strings"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"

	"github.com/telemetrylake/telemetrylake/api/wellknown"
)

const (
	ingesterContainer          = "ingester"
	configVolume               = "config"
	dataVolume                 = "data"
	serviceAccountTokenVolume  = "serviceaccount-token"
	serviceAccountTokenSeconds = 3600
	// kubeRootCAConfigMap is published in every namespace by kube-controller-manager.
	kubeRootCAConfigMap = "kube-root-ca.crt"
)

// Deployment is the ingester, <name>-ingester.
//
//   - Pods run the restricted Pod Security profile: non-root (the distroless nonroot user), a
//     read-only root filesystem, no privilege escalation, no capabilities, seccomp RuntimeDefault.
//     There is no writable /tmp: the ingester writes only to its store, and a stray write should
//     fail loudly rather than fill the node's disk.
//   - configHash (ConfigHash of the Secrets the pods read) on the pod template rolls the pods when
//     the config, the token file, the credentials or a CA change.
//   - Replicas come from the spec, except that a HorizontalPodAutoscaler owns them when
//     autoscaling is set (nil here, so that applying this never fights it), and the filesystem
//     provisioner runs exactly one.
//   - Rolling updates add a pod before removing one (maxUnavailable 0, maxSurge 1): ingestion never
//     runs below its capacity during a roll. The filesystem provisioner's ReadWriteOnce volume
//     cannot be shared by two pods, so it is Recreate there.
//   - terminationGracePeriodSeconds covers the ingester's shutdownDelay and shutdownGracePeriod.
//   - The selector is only the instance and component labels: it is immutable, so it holds
//     nothing that might ever change.
func Deployment(in Inputs, configHash string) *appsv1.Deployment {
	lake := in.Lake
	var replicas *int32
	if in.autoscaling() == nil {
		replicas = ptr.To(in.replicas())
	}
	strategy := appsv1.DeploymentStrategy{
		Type: appsv1.RollingUpdateDeploymentStrategyType,
		RollingUpdate: &appsv1.RollingUpdateDeployment{
			MaxUnavailable: ptr.To(intstr.FromInt32(0)),
			MaxSurge:       ptr.To(intstr.FromInt32(1)),
		},
	}
	if in.filesystem() {
		strategy = appsv1.DeploymentStrategy{Type: appsv1.RecreateDeploymentStrategyType}
	}
	return &appsv1.Deployment{
		TypeMeta:   metav1.TypeMeta{APIVersion: appsv1.SchemeGroupVersion.String(), Kind: "Deployment"},
		ObjectMeta: objectMeta(lake, NamesFor(lake).Ingester, wellknown.ComponentIngester),
		Spec: appsv1.DeploymentSpec{
			Replicas: replicas,
			Selector: &metav1.LabelSelector{MatchLabels: selectorLabels(lake)},
			Strategy: strategy,
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{
					Labels:      labels(lake, wellknown.ComponentIngester),
					Annotations: map[string]string{wellknown.AnnotationConfigHash: configHash},
				},
				Spec: podSpec(in),
			},
		},
	}
}

func podSpec(in Inputs) corev1.PodSpec {
	lake := in.Lake
	spec := lake.Spec.Ingester
	pod := corev1.PodSpec{
		ServiceAccountName:           NamesFor(lake).Ingester,
		AutomountServiceAccountToken: ptr.To(false),
		// The ingester reads no other Service's address; a namespace with many Services would
		// otherwise fill its environment.
		EnableServiceLinks:            ptr.To(false),
		TerminationGracePeriodSeconds: ptr.To(int64(terminationGracePeriod.Seconds())),
		SecurityContext:               restrictedPodSecurityContext(),
		Containers:                    []corev1.Container{container(in)},
		Volumes:                       volumes(in),
		NodeSelector:                  maps.Clone(spec.NodeSelector),
		Affinity:                      spec.Affinity.DeepCopy(),
	}
	for _, t := range spec.Tolerations {
		pod.Tolerations = append(pod.Tolerations, *t.DeepCopy())
	}
	if !in.filesystem() {
		// Soft: a small cluster still schedules every replica, on fewer nodes. Counted per
		// ReplicaSet (pod-template-hash), so a roll's new pods spread among themselves.
		pod.TopologySpreadConstraints = []corev1.TopologySpreadConstraint{{
			MaxSkew:           1,
			TopologyKey:       corev1.LabelHostname,
			WhenUnsatisfiable: corev1.ScheduleAnyway,
			LabelSelector:     &metav1.LabelSelector{MatchLabels: selectorLabels(lake)},
			MatchLabelKeys:    []string{appsv1.DefaultDeploymentUniqueLabelKey},
		}}
	}
	return pod
}

func container(in Inputs) corev1.Container {
	spec := in.Lake.Spec.Ingester
	image := spec.Image
	if image == "" {
		image = in.IngesterImage
	}
	c := corev1.Container{
		Name:  ingesterContainer,
		Image: image,
		Args:  []string{"--config", wellknown.ConfigFile},
		Ports: []corev1.ContainerPort{
			{Name: wellknown.OTLPHTTPPortName, ContainerPort: wellknown.OTLPHTTPPort, Protocol: corev1.ProtocolTCP},
			{Name: wellknown.MetricsPortName, ContainerPort: wellknown.MetricsPort, Protocol: corev1.ProtocolTCP},
		},
		Env:       env(in),
		Resources: *spec.Resources.DeepCopy(),
		VolumeMounts: []corev1.VolumeMount{
			{Name: configVolume, MountPath: wellknown.ConfigMountPath, ReadOnly: true},
		},
		// /healthz: the process is up. /readyz: the store answers and the ingester is not
		// shutting down; it fails first on SIGTERM, so endpoints drop the pod during shutdownDelay.
		LivenessProbe: &corev1.Probe{
			ProbeHandler:  httpGet("/healthz"),
			PeriodSeconds: 10, FailureThreshold: 3,
		},
		ReadinessProbe: &corev1.Probe{
			ProbeHandler:  httpGet("/readyz"),
			PeriodSeconds: 5, FailureThreshold: 2,
		},
		SecurityContext: restrictedContainerSecurityContext(),
	}
	if in.filesystem() {
		c.VolumeMounts = append(c.VolumeMounts, corev1.VolumeMount{Name: dataVolume, MountPath: wellknown.DataMountPath})
	}
	if len(in.Lake.Spec.Auth.ServiceAccounts) > 0 {
		c.VolumeMounts = append(c.VolumeMounts, corev1.VolumeMount{Name: serviceAccountTokenVolume, MountPath: serviceAccountDir, ReadOnly: true})
	}
	return c
}

func httpGet(path string) corev1.ProbeHandler {
	return corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{
		Path:   path,
		Port:   intstr.FromString(wellknown.MetricsPortName),
		Scheme: corev1.URISchemeHTTP,
	}}
}

// env gives the S3 store its credentials (the ingester reads them through the standard AWS chain)
// and its CA, and the Go runtime a soft memory limit below the container's, so that the garbage
// collector works harder before the kernel kills the pod.
func env(in Inputs) []corev1.EnvVar {
	vars := storageEnv(in)
	if limit, ok := in.Lake.Spec.Ingester.Resources.Limits[corev1.ResourceMemory]; ok && limit.Value() > 0 {
		vars = append(vars, corev1.EnvVar{Name: "GOMEMLIMIT", Value: strconv.FormatInt(limit.Value()/10*9, 10)})
	}
	return vars
}

// storageEnv gives a pod the tenant's S3 credentials, from its storage Secret, and the store's CA.
func storageEnv(in Inputs) []corev1.EnvVar {
	if in.filesystem() {
		return nil
	}
	return append(credentialsEnv(in, NamesFor(in.Lake).StorageSecret), caEnv(in)...)
}

// caEnv points a pod at the store's CA, mounted from its storage Secret.
func caEnv(in Inputs) []corev1.EnvVar {
	if !in.storageCA() {
		return nil
	}
	return []corev1.EnvVar{{Name: "AWS_CA_BUNDLE", Value: storageCAFile}}
}

// credentialsEnv points a pod at the credentials of storage Secret secret: the keys themselves, or
// for STS sessions the mounted file (credentialsFiles) they are followed in.
func credentialsEnv(in Inputs, secret string) []corev1.EnvVar {
	var vars []corev1.EnvVar
	if in.sessions() {
		vars = append(vars, corev1.EnvVar{Name: wellknown.EnvStorageCredentialsFile, Value: storageCredentialsFile})
	} else {
		for _, key := range []string{wellknown.SecretKeyAccessKeyID, wellknown.SecretKeySecretAccessKey} {
			vars = append(vars, corev1.EnvVar{Name: key, ValueFrom: &corev1.EnvVarSource{
				SecretKeyRef: &corev1.SecretKeySelector{
					LocalObjectReference: corev1.LocalObjectReference{Name: secret},
					Key:                  key,
				},
			}})
		}
	}
	return vars
}

// credentialsFiles are the files of storage Secret secret that a pod mounts in its config volume:
// the store's CA, and for STS sessions the session file.
func credentialsFiles(in Inputs, secret string) []corev1.VolumeProjection {
	var files []corev1.VolumeProjection
	if in.storageCA() {
		files = append(files, secretFile(secret, wellknown.SecretKeyCA, storageCAFile))
	}
	if in.sessions() {
		files = append(files, secretFile(secret, wellknown.SecretKeyCredentialsFile, storageCredentialsFile))
	}
	return files
}

// restrictedPodSecurityContext runs a pod under the restricted Pod Security profile as the
// distroless nonroot user.
func restrictedPodSecurityContext() *corev1.PodSecurityContext {
	return &corev1.PodSecurityContext{
		RunAsNonRoot: ptr.To(true),
		RunAsUser:    ptr.To(ingesterUID),
		RunAsGroup:   ptr.To(ingesterUID),
		// Makes the mounted Secrets (mode 0440) and the filesystem provisioner's volume
		// readable and writable by the pod's group.
		FSGroup:             ptr.To(ingesterUID),
		FSGroupChangePolicy: ptr.To(corev1.FSGroupChangeOnRootMismatch),
		SeccompProfile:      &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeRuntimeDefault},
	}
}

func restrictedContainerSecurityContext() *corev1.SecurityContext {
	return &corev1.SecurityContext{
		RunAsNonRoot:             ptr.To(true),
		AllowPrivilegeEscalation: ptr.To(false),
		ReadOnlyRootFilesystem:   ptr.To(true),
		Capabilities:             &corev1.Capabilities{Drop: []corev1.Capability{"ALL"}},
	}
}

// volumes: one projected volume with every file the ingester reads (see the layout in
// configsecret.go), the data volume of the filesystem provisioner, and the pod's service-account
// token only when the Kubernetes issuer needs it.
func volumes(in Inputs) []corev1.Volume {
	lake := in.Lake
	names := NamesFor(lake)
	sources := []corev1.VolumeProjection{
		secretFile(names.ConfigSecret, wellknown.SecretKeyConfig, wellknown.ConfigFile),
		secretFile(names.AuthSecret, wellknown.SecretKeyTokens, wellknown.TokenFile),
	}
	seen := map[string]bool{}
	for _, o := range lake.Spec.Auth.OIDC {
		if ref := o.CASecretRef; ref != nil && ref.Name != "" && !seen[ref.Name] {
			seen[ref.Name] = true
			sources = append(sources, secretFile(ref.Name, wellknown.SecretKeyCA, oidcCAFile(ref.Name)))
		}
	}
	if !in.filesystem() {
		sources = append(sources, credentialsFiles(in, names.StorageSecret)...)
	}
	vols := []corev1.Volume{{
		Name: configVolume,
		VolumeSource: corev1.VolumeSource{Projected: &corev1.ProjectedVolumeSource{
			Sources:     sources,
			DefaultMode: ptr.To(int32(0o440)),
		}},
	}}
	if in.filesystem() {
		vols = append(vols, corev1.Volume{
			Name: dataVolume,
			VolumeSource: corev1.VolumeSource{PersistentVolumeClaim: &corev1.PersistentVolumeClaimVolumeSource{
				ClaimName: names.DataVolumeClaim,
			}},
		})
	}
	if len(lake.Spec.Auth.ServiceAccounts) > 0 {
		// What automountServiceAccountToken would mount, minus the namespace file.
		vols = append(vols, corev1.Volume{
			Name: serviceAccountTokenVolume,
			VolumeSource: corev1.VolumeSource{Projected: &corev1.ProjectedVolumeSource{
				Sources: []corev1.VolumeProjection{
					{ServiceAccountToken: &corev1.ServiceAccountTokenProjection{
						Path:              strings.TrimPrefix(serviceAccountToken, serviceAccountDir+"/"),
						ExpirationSeconds: ptr.To(int64(serviceAccountTokenSeconds)),
					}},
					{ConfigMap: &corev1.ConfigMapProjection{
						LocalObjectReference: corev1.LocalObjectReference{Name: kubeRootCAConfigMap},
						Items: []corev1.KeyToPath{{
							// The ConfigMap uses the same key as our CA Secrets.
							Key:  wellknown.SecretKeyCA,
							Path: strings.TrimPrefix(serviceAccountCAFile, serviceAccountDir+"/"),
						}},
					}},
				},
				DefaultMode: ptr.To(int32(0o444)),
			}},
		})
	}
	return vols
}

// secretFile projects key of Secret name to file, an absolute path under the config mount.
func secretFile(name, key, file string) corev1.VolumeProjection {
	return corev1.VolumeProjection{Secret: &corev1.SecretProjection{
		LocalObjectReference: corev1.LocalObjectReference{Name: name},
		Items:                []corev1.KeyToPath{{Key: key, Path: strings.TrimPrefix(file, wellknown.ConfigMountPath+"/")}},
	}}
}
