package lakehouse

import (
	"os"
	"strings"
	"testing"
)

// TestTheDocumentedDDLIsWhatTheCommandPrints keeps docs/lakehouse.md in step with the tables:
// a column added to package rows changes `lakehouse ddl`, and this test, until the page shows it.
func TestTheDocumentedDDLIsWhatTheCommandPrints(t *testing.T) {
	doc, err := os.ReadFile("../docs/lakehouse.md")
	if err != nil {
		t.Fatal(err)
	}
	documented := []struct {
		engine, location string
		tables           int // how many of the tables the page shows in full
	}{
		{EngineAthena, "s3://BUCKET/PREFIX", 4},
		{EngineHive, "s3a://BUCKET/PREFIX", 1},
		{EngineTrino, "s3://BUCKET/PREFIX", 1},
	}
	for _, d := range documented {
		stmts, err := ExternalTables(d.engine, d.location, "lake")
		if err != nil {
			t.Fatal(err)
		}
		for _, s := range stmts[:d.tables] {
			if !strings.Contains(string(doc), s) {
				t.Errorf("docs/lakehouse.md does not show what `lakehouse ddl --engine %s --location %s` prints:\n%s\n(rerun it and paste the output)", d.engine, d.location, s)
			}
		}
	}
	if _, err := ExternalTables("bigquery", "s3://b", "lake"); err == nil {
		t.Error("an unknown engine was accepted")
	}
}
