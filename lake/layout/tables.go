package layout

import (
	"path"
	"strings"
	"time"
)

// The lakehouse's parts are Hive-style, tables/<table>/date=YYYY-MM-DD/hour=HH/<name>.parquet,
// so that DuckDB, Trino, Spark and Athena read tables/<table>/ as a table partitioned by the
// string columns date and hour.
const (
	partDayDir  = "date="
	partHourDir = "hour="
	// PartLocationTemplate is a part's hour directory below TableDir in the ${column} notation of
	// Athena's partition projection (storage.location.template).
	PartLocationTemplate = partDayDir + "${date}/" + partHourDir + "${hour}"
)

// TableDir is the directory of a table's parts, relative to the tenant prefix.
func TableDir(table string) string {
	return path.Join(TablesPrefix, table)
}

// PartKey is where a part lives, relative to the tenant prefix.
func PartKey(table string, hour time.Time, name string) string {
	return path.Join(PartHourDir(table, hour), name+PartSuffix)
}

// PartHourDir is the directory of a table's parts of one UTC hour.
func PartHourDir(table string, hour time.Time) string {
	hour = hour.UTC()
	return path.Join(TableDir(table), partDayDir+hour.Format(dayFormat), partHourDir+hour.Format(hourFormat))
}

// PartDayListPrefix is where a table's parts of one UTC day live, for listing.
func PartDayListPrefix(table string, day time.Time) string {
	return path.Join(TableDir(table), partDayDir+day.UTC().Format(dayFormat)) + "/"
}

// PartRef is a part found by listing: its key and what the key alone says.
type PartRef struct {
	Key   string
	Table string
	Hour  time.Time
	Name  string
}

// ParsePartKey reads a key relative to the tenant prefix; ok is false for anything that is not a
// part.
func ParsePartKey(key string) (ref PartRef, ok bool) {
	p := strings.Split(key, "/")
	if len(p) != 5 || p[0] != TablesPrefix || !strings.HasSuffix(p[4], PartSuffix) {
		return PartRef{}, false
	}
	day, ok1 := strings.CutPrefix(p[2], partDayDir)
	hh, ok2 := strings.CutPrefix(p[3], partHourDir)
	if !ok1 || !ok2 {
		return PartRef{}, false
	}
	hour, err := time.Parse(dayFormat+" "+hourFormat, day+" "+hh)
	if err != nil {
		return PartRef{}, false
	}
	return PartRef{Key: key, Table: p[1], Hour: hour, Name: strings.TrimSuffix(p[4], PartSuffix)}, true
}
