// Command tenantenv prints what the operator created for one TelemetryLake, in the shape its pods
// get it, for hack/demo.sh to run a tenant's clients and readers as its pods would. It reads the cluster of
// $KUBECONFIG with client-go, through test/tenant, the same code test/e2e uses, so the demo never
// re-derives a Secret name or parses YAML by hand. A development aid, not a product binary.
//
//	tenantenv NAMESPACE/NAME secret config|auth|storage|token:TOKEN
//	    the name of one of the lake's Secrets
//	tenantenv NAMESPACE/NAME storage
//	    the store URL of the ingester's config
//	tenantenv NAMESPACE/NAME storage-env
//	    AWS_ACCESS_KEY_ID=… and AWS_SECRET_ACCESS_KEY=… (and AWS_SESSION_TOKEN=… of an STS session)
//	    from the storage Secret
//	tenantenv NAMESPACE/NAME token-env TOKEN [HOST:PORT]
//	    NAME=VALUE lines of the token Secret, as envFrom gives them, with the endpoint's host and
//	    port replaced by HOST:PORT if given
package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/tools/clientcmd"
	"sigs.k8s.io/controller-runtime/pkg/client"

	lakev1 "github.com/telemetrylake/telemetrylake/api/v1alpha1"
	"github.com/telemetrylake/telemetrylake/controllers/builders"
	"github.com/telemetrylake/telemetrylake/test/tenant"
)

const usage = `usage: tenantenv NAMESPACE/NAME COMMAND [ARGS]
  secret config|auth|storage|token:TOKEN   the name of one of the lake's Secrets
  storage                                  the store URL of the ingester's config
  storage-env                              the storage Secret's credentials as NAME=VALUE
  token-env TOKEN [HOST:PORT]              the token Secret as envFrom gives it, NAME=VALUE`

func main() {
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "tenantenv:", err)
		os.Exit(1)
	}
}

func run(args []string) error {
	if len(args) < 2 {
		return errors.New(usage)
	}
	ns, name, ok := strings.Cut(args[0], "/")
	if !ok || ns == "" || name == "" {
		return fmt.Errorf("%q is not NAMESPACE/NAME\n%s", args[0], usage)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	c, err := newClient()
	if err != nil {
		return err
	}
	t, err := tenant.Get(ctx, c, types.NamespacedName{Namespace: ns, Name: name})
	if err != nil {
		return err
	}
	command, rest := args[1], args[2:]
	switch {
	case command == "secret" && len(rest) == 1:
		n, err := secretName(t.Names, rest[0])
		if err != nil {
			return err
		}
		fmt.Println(n)
	case command == "storage" && len(rest) == 0:
		cfg, err := t.IngesterConfig(ctx)
		if err != nil {
			return err
		}
		fmt.Println(cfg.Storage)
	case command == "storage-env" && len(rest) == 0:
		creds, err := t.StorageCredentials(ctx)
		if err != nil {
			return err
		}
		printLines(creds.Env())
	case command == "token-env" && (len(rest) == 1 || len(rest) == 2):
		addr := ""
		if len(rest) == 2 {
			addr = rest[1]
		}
		env, err := t.TokenEnv(ctx, rest[0], addr)
		if err != nil {
			return err
		}
		printLines(env)
	default:
		return fmt.Errorf("%s: unknown command or wrong arguments\n%s", strings.Join(args[1:], " "), usage)
	}
	return nil
}

func secretName(n builders.Names, which string) (string, error) {
	switch which {
	case "config":
		return n.ConfigSecret, nil
	case "auth":
		return n.AuthSecret, nil
	case "storage":
		return n.StorageSecret, nil
	}
	if token, ok := strings.CutPrefix(which, "token:"); ok && token != "" {
		return n.TokenSecret(token), nil
	}
	return "", fmt.Errorf("secret %q: want config, auth, storage or token:TOKEN", which)
}

func printLines(lines []string) {
	for _, l := range lines {
		fmt.Println(l)
	}
}

// newClient is a client of the cluster $KUBECONFIG (or ~/.kube/config) names.
func newClient() (client.Client, error) {
	cfg, err := clientcmd.NewNonInteractiveDeferredLoadingClientConfig(
		clientcmd.NewDefaultClientConfigLoadingRules(), &clientcmd.ConfigOverrides{}).ClientConfig()
	if err != nil {
		return nil, fmt.Errorf("kubeconfig: %w", err)
	}
	scheme := runtime.NewScheme()
	if err := clientgoscheme.AddToScheme(scheme); err != nil {
		return nil, err
	}
	if err := lakev1.AddToScheme(scheme); err != nil {
		return nil, err
	}
	return client.New(cfg, client.Options{Scheme: scheme})
}
