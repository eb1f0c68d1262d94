package builders

import (
	"slices"
	"strings"
	"testing"

	"github.com/telemetrylake/telemetrylake/api/wellknown"
)

func TestQueryServer(t *testing.T) {
	for _, c := range []struct {
		variant string
		enable  bool
		want    bool
	}{
		{variantQuery, true, true},
		{variantSessions, true, true},
		{variantMinimal, false, false},
		// Its volume can be mounted by the ingester alone.
		{variantFilesystem, true, false},
	} {
		t.Run(c.variant, func(t *testing.T) {
			in := inputs(c.variant)
			in.Lake.Spec.Query.Enabled = c.enable
			d := QueryDeployment(in, testHash)
			if got := d != nil; got != c.want {
				t.Fatalf("QueryDeployment wanted = %v, want %v", got, c.want)
			}
			svc := QueryService(in)
			conn := QueryConnectionSecret(in)
			if (svc != nil) != c.want || (conn != nil) != c.want {
				t.Fatalf("QueryService %v, QueryConnectionSecret %v; want both %v", svc != nil, conn != nil, c.want)
			}
			checkGolden(t, "querydeployment", c.variant, d)
			checkGolden(t, "queryservice", c.variant, svc)
			checkGolden(t, "queryconnectionsecret", c.variant, conn)
			if !c.want {
				return
			}
			checkGolden(t, "querystoragesecret", c.variant, QueryStorageSecret(in.Lake, *in.QueryCredentials))
			auth, err := AuthSecret(in.Lake, in.Tokens)
			if err != nil {
				t.Fatal(err)
			}
			checkGolden(t, "authsecret", c.variant, auth)
			if !strings.Contains(string(auth.Data[wellknown.SecretKeyTokens]), "permissions:\n  - ingest\n  - query\n") {
				t.Errorf("the token file does not give grafana both permissions, once each:\n%s", auth.Data[wellknown.SecretKeyTokens])
			}
			pod := d.Spec.Template.Spec
			for _, e := range pod.Containers[0].Env {
				if e.ValueFrom != nil && e.ValueFrom.SecretKeyRef.Name != NamesFor(in.Lake).QueryStorageSecret {
					t.Errorf("env %s comes from Secret %s, not the read-only key's", e.Name, e.ValueFrom.SecretKeyRef.Name)
				}
			}
			if args := strings.Join(pod.Containers[0].Args, " "); !strings.HasPrefix(args, "serve --storage "+in.StorageURL+" ") {
				t.Errorf("args %s", args)
			}
			if d.Spec.Selector.MatchLabels[wellknown.LabelComponent] == wellknown.ComponentIngester {
				t.Error("the query server's selector selects the ingester's pods")
			}
		})
	}
}

func TestBuildRemovesTheQueryServerWhenItIsOff(t *testing.T) {
	objs, err := Build(inputs(variantMinimal))
	if err != nil {
		t.Fatal(err)
	}
	removed := kinds(objs.Remove)
	for _, want := range []string{"Deployment team-a-query", "Service team-a-query", "Secret team-a-query-connection", "Secret team-a-query-storage"} {
		if !slices.Contains(removed, want) {
			t.Errorf("Remove = %q lacks %s", removed, want)
		}
	}
	in := inputs(variantQuery)
	in.QueryCredentials = nil
	if _, err := Build(in); err == nil || !strings.Contains(err.Error(), "no read-only storage key") {
		t.Errorf("Build without the read-only key: %v", err)
	}
}
