package rows

import "testing"

func TestExternalTypeSpellsEachShapeForEachEngine(t *testing.T) {
	cases := []struct{ duck, hive, trino string }{
		{"VARCHAR", "string", "varchar"},
		{"TIMESTAMP_NS", "timestamp", "timestamp"},
		{"UBIGINT[]", "array<bigint>", "array(bigint)"},
		{MapType, "map<string,string>", "map(varchar, varchar)"},
		{"STRUCT(quantile DOUBLE, value DOUBLE)[]", "array<struct<quantile:double,value:double>>", `array(row("quantile" double, "value" double))`},
		{"STRUCT(time TIMESTAMP_NS, name VARCHAR, attributes " + MapType + ")[]",
			"array<struct<time:timestamp,name:string,attributes:map<string,string>>>",
			`array(row("time" timestamp, "name" varchar, "attributes" map(varchar, varchar)))`},
	}
	for _, c := range cases {
		for d, want := range map[Dialect]string{Hive: c.hive, Trino: c.trino} {
			if got, err := ExternalType(c.duck, d); err != nil || got != want {
				t.Errorf("ExternalType(%s, %d) = %q, %v; want %q", c.duck, d, got, err, want)
			}
		}
	}
	for _, bad := range []string{"HUGEINT", "MAP(VARCHAR)", "STRUCT(a VARCHAR", "VARCHAR junk"} {
		if got, err := ExternalType(bad, Hive); err == nil {
			t.Errorf("ExternalType(%s) = %q, want an error", bad, got)
		}
	}
}

func TestEveryColumnHasAnExternalType(t *testing.T) {
	for _, tb := range Tables {
		for _, c := range tb.Columns {
			for _, d := range []Dialect{Hive, Trino} {
				if _, err := ExternalType(c.Type, d); err != nil {
					t.Errorf("%s.%s: %v", tb.Name, c.Name, err)
				}
			}
		}
	}
}
