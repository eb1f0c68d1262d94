package v1alpha1

// Condition types of a TelemetryLake. Ready summarises the others.
const (
	// ConditionReady: the ingester pods of the current generation are available and everything
	// they need is in place.
	ConditionReady = "Ready"
	// ConditionStorageReady: the bucket (or prefix, or volume) exists with its retention rule.
	ConditionStorageReady = "StorageReady"
	// ConditionCredentialsReady: the scoped storage credentials and the token Secrets exist.
	ConditionCredentialsReady = "CredentialsReady"
	// ConditionIngesterAvailable: the ingester Deployment has rolled out the current template. It is
	// False with InvalidSpec or OIDCCASecretNotFound when that template cannot be built.
	ConditionIngesterAvailable = "IngesterAvailable"
	// ConditionQueryAvailable: the query server's Deployment (spec.query) has rolled out the
	// current template. Only a lake with spec.query enabled has it, and then Ready waits for it.
	ConditionQueryAvailable = "QueryAvailable"
)

// Condition reasons. They are a stable vocabulary: alerts and Argo CD health checks match on them.
const (
	// ReasonReady: all is in place.
	ReasonReady = "Ready"
	// ReasonStorageClassNotFound: the named LakeStorageClass, or a default one, does not exist.
	ReasonStorageClassNotFound = "StorageClassNotFound"
	// ReasonAdminCredentialsNotFound: the class's admin credentials Secret is missing or
	// incomplete.
	ReasonAdminCredentialsNotFound = "AdminCredentialsNotFound"
	// ReasonStoreUnreachable: the object store or its IAM API did not answer; retried with backoff.
	ReasonStoreUnreachable = "StoreUnreachable"
	// ReasonStoreDenied: the object store refused the admin credentials; an admin must act.
	ReasonStoreDenied = "StoreDenied"
	// ReasonStorageConflict: the tenant's bucket or IAM user name is taken by another tenant or
	// account, or a bucket to delete is versioned or not empty.
	ReasonStorageConflict = "StorageConflict"
	// ReasonUnsupported: the object store lacks an API the class needs (IAM, lifecycle rules).
	ReasonUnsupported = "Unsupported"
	// ReasonProvisioningFailed: the object store refused the request for another reason.
	ReasonProvisioningFailed = "ProvisioningFailed"
	// ReasonInvalidSpec: the spec cannot be carried out as written (the message says why): the
	// children built from it would be invalid (a token name given twice, two OIDC entries for one
	// issuer), or its storage class cannot place it.
	ReasonInvalidSpec = "InvalidSpec"
	// ReasonOIDCCASecretNotFound: a Secret that spec.auth.oidc[].caSecretRef names does not exist
	// in the lake's namespace; the ingester is not configured until it does.
	ReasonOIDCCASecretNotFound = "OIDCCASecretNotFound"
	// ReasonRollingOut: the ingester Deployment is rolling out the current template.
	ReasonRollingOut = "RollingOut"
	// ReasonUnavailable: the Deployment has rolled out but too few pods are available.
	ReasonUnavailable = "Unavailable"
	// ReasonWaitingForStorage, ReasonWaitingForCredentials: an earlier step is not done.
	ReasonWaitingForStorage     = "WaitingForStorage"
	ReasonWaitingForCredentials = "WaitingForCredentials"
	// ReasonDeleting: the finalizer is cleaning up.
	ReasonDeleting = "Deleting"
)

// TerminalReasons need a person to act; retrying alone will not help. Argo CD's health check
// reports Degraded for them.
var TerminalReasons = []string{
	ReasonStorageClassNotFound, ReasonAdminCredentialsNotFound, ReasonStoreDenied, ReasonInvalidSpec,
	ReasonStorageConflict, ReasonUnsupported, ReasonOIDCCASecretNotFound,
}
