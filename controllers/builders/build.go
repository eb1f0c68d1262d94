package builders

import (
	"fmt"

	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	k8slabels "k8s.io/apimachinery/pkg/labels"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/telemetrylake/telemetrylake/api/wellknown"
)

// Objects is the desired state of a TelemetryLake's children.
type Objects struct {
	// Apply lists every child that should exist, as it should be, in an order in which each
	// object's dependencies come first (Secrets, ServiceAccount and volume before the Deployment).
	Apply []client.Object
	// Remove lists the optional children that should not exist (a PodDisruptionBudget once replicas
	// drop to 1, say), each an empty object of its kind with only a name and namespace. The data
	// volume is never listed: only the finalizer, under the Delete policy, removes data. Token
	// Secrets of tokens removed from the spec are not listed either, since their names are not in
	// the spec any more: find them by their labels.
	Remove []client.Object
	// Selector selects the ingester pods, for status.selector (the scale subresource).
	Selector string
}

// Build is every child of in.Lake: the per-kind builders, the config hash that ties the pods to the
// Secrets they read, and what to remove. It fails, without building anything, on a spec the
// ingester could not run with; the error names the TelemetryLake and the field to fix.
func Build(in Inputs) (Objects, error) {
	lake := in.Lake
	names := NamesFor(lake)
	var out Objects
	out.Selector = k8slabels.SelectorFromSet(selectorLabels(lake)).String()

	cfg, err := ConfigSecret(in)
	if err != nil {
		return Objects{}, err
	}
	authSecret, err := AuthSecret(lake, in.Tokens)
	if err != nil {
		return Objects{}, err
	}
	podSecrets := []*corev1.Secret{cfg, authSecret}
	for i, o := range lake.Spec.Auth.OIDC {
		if o.CASecretRef == nil || o.CASecretRef.Name == "" {
			continue
		}
		ca, ok := in.OIDCCAs[o.CASecretRef.Name]
		if !ok {
			return Objects{}, fmt.Errorf("TelemetryLake %s/%s: Secret %s named by spec.auth.oidc[%d].caSecretRef was not found: create it with the key %s in namespace %s, or fix the reference",
				lake.Namespace, lake.Name, o.CASecretRef.Name, i, wellknown.SecretKeyCA, lake.Namespace)
		}
		podSecrets = append(podSecrets, &corev1.Secret{
			ObjectMeta: metav1.ObjectMeta{Name: o.CASecretRef.Name},
			Data:       map[string][]byte{wellknown.SecretKeyCA: ca},
		})
	}

	out.Apply = append(out.Apply, cfg, authSecret)
	for _, t := range in.Tokens {
		out.Apply = append(out.Apply, TokenSecret(lake, t))
	}
	if in.filesystem() {
		out.Remove = append(out.Remove, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: names.StorageSecret, Namespace: lake.Namespace}})
		pvc, err := PersistentVolumeClaim(in)
		if err != nil {
			return Objects{}, err
		}
		out.Apply = append(out.Apply, pvc)
	} else {
		if in.Credentials == nil {
			return Objects{}, fmt.Errorf("TelemetryLake %s/%s: no storage credentials were resolved for its ingester", lake.Namespace, lake.Name)
		}
		// The pods mount the CA from the storage Secret; without it they would never start.
		if in.storageCA() && len(in.Credentials.CA) == 0 {
			return Objects{}, fmt.Errorf("TelemetryLake %s/%s: LakeStorageClass %s trusts a CA (spec.s3.caSecretRef) but no CA was resolved for its ingester", lake.Namespace, lake.Name, in.Class.Name)
		}
		storage := StorageSecret(lake, *in.Credentials)
		podSecrets = append(podSecrets, rollingPart(storage))
		out.Apply = append(out.Apply, storage)
	}

	out.Apply = append(out.Apply, ServiceAccount(lake), Service(lake), Deployment(in, ConfigHash(podSecrets...)))

	meta := metav1.ObjectMeta{Name: names.Ingester, Namespace: lake.Namespace}
	if pdb := PodDisruptionBudget(in); pdb != nil {
		out.Apply = append(out.Apply, pdb)
	} else {
		out.Remove = append(out.Remove, &policyv1.PodDisruptionBudget{ObjectMeta: meta})
	}
	if hpa := HorizontalPodAutoscaler(in); hpa != nil {
		out.Apply = append(out.Apply, hpa)
	} else {
		out.Remove = append(out.Remove, &autoscalingv2.HorizontalPodAutoscaler{ObjectMeta: meta})
	}
	if ing := Ingress(lake); ing != nil {
		out.Apply = append(out.Apply, ing)
	} else {
		out.Remove = append(out.Remove, &networkingv1.Ingress{ObjectMeta: meta})
	}
	if QueryEnabled(in) {
		if in.QueryCredentials == nil {
			return Objects{}, fmt.Errorf("TelemetryLake %s/%s: no read-only storage key was resolved for its query server", lake.Namespace, lake.Name)
		}
		if in.storageCA() && len(in.QueryCredentials.CA) == 0 {
			return Objects{}, fmt.Errorf("TelemetryLake %s/%s: LakeStorageClass %s trusts a CA (spec.s3.caSecretRef) but no CA was resolved for its query server", lake.Namespace, lake.Name, in.Class.Name)
		}
		// The token file is not in the hash: the server reads it at each login.
		queryStorage := QueryStorageSecret(lake, *in.QueryCredentials)
		out.Apply = append(out.Apply, queryStorage, QueryConnectionSecret(in), QueryService(in), QueryDeployment(in, ConfigHash(rollingPart(queryStorage))))
	} else {
		query := metav1.ObjectMeta{Name: names.Query, Namespace: lake.Namespace}
		out.Remove = append(out.Remove,
			&appsv1.Deployment{ObjectMeta: query},
			&corev1.Service{ObjectMeta: query},
			&corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: names.QueryConnectionSecret, Namespace: lake.Namespace}},
			&corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: names.QueryStorageSecret, Namespace: lake.Namespace}},
		)
	}
	if cj := CronJob(in); cj != nil {
		out.Apply = append(out.Apply, cj)
	} else {
		out.Remove = append(out.Remove, &batchv1.CronJob{ObjectMeta: metav1.ObjectMeta{Name: names.Lakehouse, Namespace: lake.Namespace}})
	}
	return out, nil
}
