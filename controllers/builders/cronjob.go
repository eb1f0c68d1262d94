package builders

import (
	"maps"
	"slices"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	"github.com/telemetrylake/telemetrylake/api/wellknown"
)

const (
	lakehouseContainer = "materialize"
	scratchVolume      = "scratch"
	scratchDir         = "/tmp"
	// materializeDeadline stops a run that hangs, so that Forbid does not block every later one.
	materializeDeadline = 3600
)

// CronJob runs `lakehouse materialize` for the lake on spec.lakehouse.schedule, <name>-lakehouse.
//
//   - It uses the tenant's own storage credentials (its storage Secret), never the admin's; they
//     may delete only the table parts that compaction replaces.
//   - concurrencyPolicy Forbid: materialization is safe to run twice at once, but a second run
//     would only repeat the first's work.
//   - The pod runs the restricted Pod Security profile; DuckDB's spill files and the part cache go
//     to an emptyDir at /tmp, the only writable path.
//
// It is nil when spec.lakehouse.enabled is false, and for the filesystem provisioner, whose
// ReadWriteOnce volume only the ingester can mount; the controller deletes an existing one then.
func CronJob(in Inputs) *batchv1.CronJob {
	lake := in.Lake
	spec := lake.Spec.Lakehouse
	if (spec.Enabled != nil && !*spec.Enabled) || in.filesystem() {
		return nil
	}
	schedule := spec.Schedule
	if schedule == "" {
		schedule = defaultLakehouseSchedule
	}
	image := spec.Image
	if image == "" {
		image = in.LakehouseImage
	}
	env := append(storageEnv(in), corev1.EnvVar{Name: "TMPDIR", Value: scratchDir})
	mounts := []corev1.VolumeMount{{Name: scratchVolume, MountPath: scratchDir}}
	vols := []corev1.Volume{{Name: scratchVolume, VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}}}
	if files := credentialsFiles(in, NamesFor(lake).StorageSecret); len(files) > 0 {
		mounts = append(mounts, corev1.VolumeMount{Name: configVolume, MountPath: wellknown.ConfigMountPath, ReadOnly: true})
		vols = append(vols, corev1.Volume{Name: configVolume, VolumeSource: corev1.VolumeSource{Projected: &corev1.ProjectedVolumeSource{
			Sources:     files,
			DefaultMode: ptr.To(int32(0o440)),
		}}})
	}
	podLabels := labels(lake, wellknown.ComponentLakehouse)
	return &batchv1.CronJob{
		TypeMeta:   metav1.TypeMeta{APIVersion: batchv1.SchemeGroupVersion.String(), Kind: "CronJob"},
		ObjectMeta: objectMeta(lake, NamesFor(lake).Lakehouse, wellknown.ComponentLakehouse),
		Spec: batchv1.CronJobSpec{
			Schedule:                   schedule,
			ConcurrencyPolicy:          batchv1.ForbidConcurrent,
			StartingDeadlineSeconds:    ptr.To(int64(300)),
			SuccessfulJobsHistoryLimit: ptr.To(int32(1)),
			FailedJobsHistoryLimit:     ptr.To(int32(3)),
			JobTemplate: batchv1.JobTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: podLabels},
				Spec: batchv1.JobSpec{
					BackoffLimit:          ptr.To(int32(2)),
					ActiveDeadlineSeconds: ptr.To(int64(materializeDeadline)),
					Template: corev1.PodTemplateSpec{
						ObjectMeta: metav1.ObjectMeta{Labels: podLabels},
						Spec: corev1.PodSpec{
							RestartPolicy:                corev1.RestartPolicyNever,
							ServiceAccountName:           NamesFor(lake).Ingester,
							AutomountServiceAccountToken: ptr.To(false),
							EnableServiceLinks:           ptr.To(false),
							SecurityContext:              restrictedPodSecurityContext(),
							Containers: []corev1.Container{{
								Name:            lakehouseContainer,
								Image:           image,
								Args:            []string{"materialize", "--compact", "--storage", in.StorageURL},
								Env:             env,
								Resources:       *spec.Resources.DeepCopy(),
								VolumeMounts:    mounts,
								SecurityContext: restrictedContainerSecurityContext(),
							}},
							Volumes:      vols,
							NodeSelector: maps.Clone(lake.Spec.Ingester.NodeSelector),
							Tolerations:  slices.Clone(lake.Spec.Ingester.Tolerations),
						},
					},
				},
			},
		},
	}
}
