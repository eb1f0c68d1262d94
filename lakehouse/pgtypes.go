//go:build cgo

package lakehouse

import (
	"encoding/json"
	"fmt"
	"math/big"
	"strings"
	"time"

	duckdb "github.com/duckdb/duckdb-go/v2"
	"github.com/jackc/pgx/v5/pgtype"
)

// pgColumnType is the PostgreSQL type a DuckDB result column is sent as. Times are instants in
// UTC (the session's TimeZone), so every timestamp is a timestamptz; maps, structs and lists are
// json, which psql prints, Grafana shows and drivers (psycopg2, node-postgres, pgx) decode into
// their own maps and arrays. Unsigned and huge integers that may not fit a bigint are numeric.
func pgColumnType(duckType string) (oid uint32, size int16) {
	t := strings.ToUpper(duckType)
	switch {
	case strings.HasPrefix(t, "MAP(") || strings.HasPrefix(t, "STRUCT(") || strings.HasSuffix(t, "]") ||
		strings.HasPrefix(t, "UNION(") || t == "JSON":
		return pgtype.JSONOID, -1
	case strings.HasPrefix(t, "DECIMAL"):
		return pgtype.NumericOID, -1
	}
	switch t {
	case "BOOLEAN":
		return pgtype.BoolOID, 1
	case "TINYINT", "SMALLINT", "UTINYINT":
		return pgtype.Int2OID, 2
	case "INTEGER", "USMALLINT":
		return pgtype.Int4OID, 4
	case "BIGINT", "UINTEGER":
		return pgtype.Int8OID, 8
	case "UBIGINT", "HUGEINT", "UHUGEINT", "BIGNUM", "VARINT":
		return pgtype.NumericOID, -1
	case "FLOAT":
		return pgtype.Float4OID, 4
	case "DOUBLE":
		return pgtype.Float8OID, 8
	case "TIMESTAMP", "TIMESTAMP_NS", "TIMESTAMP_MS", "TIMESTAMP_S", "TIMESTAMPTZ", "TIMESTAMP WITH TIME ZONE":
		return pgtype.TimestamptzOID, 8
	case "DATE":
		return pgtype.DateOID, 4
	case "TIME", "TIME_NS":
		return pgtype.TimeOID, 8
	case "INTERVAL":
		return pgtype.IntervalOID, 16
	case "BLOB":
		return pgtype.ByteaOID, -1
	case "UUID":
		return pgtype.UUIDOID, 16
	}
	return pgtype.TextOID, -1
}

// pgValue makes a value scanned from DuckDB one that pgtype encodes as the column's type.
func pgValue(oid uint32, v any) (any, error) {
	if v == nil {
		return nil, nil
	}
	switch oid {
	case pgtype.JSONOID:
		b, err := json.Marshal(jsonValue(v))
		if err != nil {
			return nil, err
		}
		return json.RawMessage(b), nil
	case pgtype.NumericOID:
		switch x := v.(type) {
		case *big.Int:
			return pgtype.Numeric{Int: x, Valid: true}, nil
		case uint64:
			return pgtype.Numeric{Int: new(big.Int).SetUint64(x), Valid: true}, nil
		case duckdb.Decimal:
			return pgtype.Numeric{Int: x.Value, Exp: -int32(x.Scale), Valid: true}, nil
		}
	case pgtype.Int2OID:
		switch x := v.(type) {
		case uint8:
			return int16(x), nil
		case int8:
			return int16(x), nil
		}
	case pgtype.Int4OID:
		if x, ok := v.(uint16); ok {
			return int32(x), nil
		}
	case pgtype.Int8OID:
		if x, ok := v.(uint32); ok {
			return int64(x), nil
		}
	case pgtype.TimestamptzOID:
		if x, ok := v.(time.Time); ok {
			return x.UTC(), nil
		}
	case pgtype.TimeOID:
		if x, ok := v.(time.Time); ok {
			d := time.Duration(x.Hour())*time.Hour + time.Duration(x.Minute())*time.Minute +
				time.Duration(x.Second())*time.Second + time.Duration(x.Nanosecond())
			return pgtype.Time{Microseconds: d.Microseconds(), Valid: true}, nil
		}
	case pgtype.IntervalOID:
		if x, ok := v.(duckdb.Interval); ok {
			return pgtype.Interval{Months: x.Months, Days: x.Days, Microseconds: x.Micros, Valid: true}, nil
		}
	case pgtype.UUIDOID:
		switch x := v.(type) {
		case []byte:
			var u [16]byte
			copy(u[:], x)
			return pgtype.UUID{Bytes: u, Valid: true}, nil
		case duckdb.UUID:
			return pgtype.UUID{Bytes: x, Valid: true}, nil
		}
	case pgtype.TextOID:
		switch x := v.(type) {
		case string:
			return x, nil
		case []byte:
			return string(x), nil
		}
		return text(v), nil
	}
	return v, nil
}

// pgTypeNames are the names SHOW and the catalog give the types sent.
var pgTypeNames = map[uint32]string{
	pgtype.BoolOID: "boolean", pgtype.Int2OID: "smallint", pgtype.Int4OID: "integer", pgtype.Int8OID: "bigint",
	pgtype.NumericOID: "numeric", pgtype.Float4OID: "real", pgtype.Float8OID: "double precision",
	pgtype.TimestamptzOID: "timestamp with time zone", pgtype.DateOID: "date", pgtype.TimeOID: "time without time zone",
	pgtype.IntervalOID: "interval", pgtype.ByteaOID: "bytea", pgtype.UUIDOID: "uuid", pgtype.JSONOID: "json",
	pgtype.TextOID: "text",
}

// encodeValue renders one value in the format the client asked for.
func encodeValue(m *pgtype.Map, oid uint32, format int16, v any) ([]byte, error) {
	pv, err := pgValue(oid, v)
	if err != nil || pv == nil {
		return nil, err
	}
	if t, ok := pv.(time.Time); ok && oid == pgtype.TimestamptzOID && format == pgtype.TextFormatCode {
		// PostgreSQL's own text form, which psycopg2 and JDBC parse: microseconds, zone +00.
		return []byte(t.Truncate(time.Microsecond).Format("2006-01-02 15:04:05.999999") + "+00"), nil
	}
	buf, err := m.Encode(oid, format, pv, nil)
	if err != nil {
		return nil, fmt.Errorf("encode %T as %s: %w", v, pgTypeNames[oid], err)
	}
	if buf == nil {
		buf = []byte{} // an empty value is not NULL
	}
	return buf, nil
}

// paramText is a parameter's value as text: sent as text, or decoded from binary by its type.
func paramText(m *pgtype.Map, oid uint32, format int16, raw []byte) (*string, error) {
	if raw == nil {
		return nil, nil
	}
	if format == pgtype.TextFormatCode {
		s := string(raw)
		return &s, nil
	}
	t, ok := m.TypeForOID(oid)
	if !ok {
		return nil, fmt.Errorf("a binary parameter of type oid %d, which this server cannot read: send it as text", oid)
	}
	v, err := t.Codec.DecodeValue(m, oid, pgtype.BinaryFormatCode, raw)
	if err != nil {
		return nil, fmt.Errorf("binary parameter of type %s: %w", t.Name, err)
	}
	if tm, ok := v.(time.Time); ok {
		s := tm.UTC().Format("2006-01-02 15:04:05.999999999Z07:00")
		return &s, nil
	}
	b, err := m.Encode(oid, pgtype.TextFormatCode, v, nil)
	if err != nil {
		return nil, fmt.Errorf("parameter of type %s: %w", t.Name, err)
	}
	s := string(b)
	return &s, nil
}
