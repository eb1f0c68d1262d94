package rows

import (
	"fmt"
	"strings"
)

// Dialect is another engine's spelling of column types, for the tables it declares over the
// parts (see ExternalType).
type Dialect int

const (
	// Hive is HiveQL: Athena, Hive, and Spark or Trino through a Hive metastore.
	Hive Dialect = iota
	// Trino is Trino's own SQL, for CREATE TABLE through its Hive connector.
	Trino
)

// ExternalType spells a column's DuckDB type as an engine reading the parts declares it. The
// parts' Parquet types decide the mapping: TIMESTAMP_NS is INT64 TIMESTAMP(NANOS), which those
// engines read as their timestamp; UBIGINT and UINTEGER are INT64 and INT32 annotated unsigned,
// declared bigint (no count in OTLP comes near 2^63).
func ExternalType(duckType string, d Dialect) (string, error) {
	p := &typeParser{s: duckType, d: d}
	out, err := p.parse()
	if err == nil && p.rest() != "" {
		err = fmt.Errorf("unexpected %q", p.rest())
	}
	if err != nil {
		return "", fmt.Errorf("column type %s: %w", duckType, err)
	}
	return out, nil
}

// typeParser reads the few DuckDB type shapes the tables use: a scalar, MAP(K, V),
// STRUCT(name T, ...), and any of them followed by [] for a list.
type typeParser struct {
	s   string
	pos int
	d   Dialect
}

var scalarTypes = map[string][2]string{ // DuckDB type: {Hive, Trino}
	"VARCHAR":      {"string", "varchar"},
	"BOOLEAN":      {"boolean", "boolean"},
	"INTEGER":      {"int", "integer"},
	"UINTEGER":     {"bigint", "bigint"},
	"BIGINT":       {"bigint", "bigint"},
	"UBIGINT":      {"bigint", "bigint"},
	"DOUBLE":       {"double", "double"},
	"TIMESTAMP_NS": {"timestamp", "timestamp"},
}

func (p *typeParser) rest() string { return strings.TrimSpace(p.s[p.pos:]) }

func (p *typeParser) skipSpace() {
	for p.pos < len(p.s) && p.s[p.pos] == ' ' {
		p.pos++
	}
}

func (p *typeParser) word() string {
	p.skipSpace()
	start := p.pos
	for p.pos < len(p.s) && (p.s[p.pos] == '_' || p.s[p.pos] >= 'A' && p.s[p.pos] <= 'Z' ||
		p.s[p.pos] >= 'a' && p.s[p.pos] <= 'z' || p.s[p.pos] >= '0' && p.s[p.pos] <= '9') {
		p.pos++
	}
	return p.s[start:p.pos]
}

func (p *typeParser) expect(tok string) error {
	p.skipSpace()
	if !strings.HasPrefix(p.s[p.pos:], tok) {
		return fmt.Errorf("want %q at %q", tok, p.rest())
	}
	p.pos += len(tok)
	return nil
}

func (p *typeParser) parse() (string, error) {
	name := p.word()
	var out string
	switch name {
	case "MAP":
		if err := p.expect("("); err != nil {
			return "", err
		}
		k, err := p.parse()
		if err != nil {
			return "", err
		}
		if err := p.expect(","); err != nil {
			return "", err
		}
		v, err := p.parse()
		if err != nil {
			return "", err
		}
		if err := p.expect(")"); err != nil {
			return "", err
		}
		out = p.pick("map<"+k+","+v+">", "map("+k+", "+v+")")
	case "STRUCT":
		if err := p.expect("("); err != nil {
			return "", err
		}
		var fields []string
		for {
			field := p.word()
			t, err := p.parse()
			if err != nil {
				return "", err
			}
			fields = append(fields, p.pick(field+":"+t, `"`+field+`" `+t))
			p.skipSpace()
			if strings.HasPrefix(p.s[p.pos:], ")") {
				p.pos++
				break
			}
			if err := p.expect(","); err != nil {
				return "", err
			}
		}
		out = p.pick("struct<"+strings.Join(fields, ",")+">", "row("+strings.Join(fields, ", ")+")")
	default:
		spelled, ok := scalarTypes[name]
		if !ok {
			return "", fmt.Errorf("no mapping for %q", name)
		}
		out = spelled[p.d]
	}
	for strings.HasPrefix(p.s[p.pos:], "[]") {
		p.pos += 2
		out = p.pick("array<"+out+">", "array("+out+")")
	}
	return out, nil
}

func (p *typeParser) pick(hive, trino string) string {
	if p.d == Trino {
		return trino
	}
	return hive
}
