package lakehouse

import (
	"fmt"
	"strings"

	"github.com/telemetrylake/telemetrylake/lake/layout"
	"github.com/telemetrylake/telemetrylake/lakehouse/rows"
)

// Engines that ExternalTables declares the lake's tables in.
const (
	EngineAthena = "athena" // HiveQL with partition projection: no partition to register
	EngineHive   = "hive"   // HiveQL for a Hive metastore, then MSCK REPAIR TABLE
	EngineTrino  = "trino"  // Trino's Hive connector, then sync_partition_metadata
)

// ExternalTables renders, for each lakehouse table, the statements that declare it in another
// engine over the parts under location (the tenant's bucket and prefix, as that engine names
// it: s3://bucket/prefix). The columns come from package rows, so they are those of the parts
// that materialize writes; date and hour are the Hive partition columns of the layout. schema
// qualifies Trino's statements, which need one to register partitions.
func ExternalTables(engine, location, schema string) ([]string, error) {
	location = strings.TrimSuffix(location, "/")
	var out []string
	for _, t := range rows.Tables {
		dir := location + "/" + layout.TableDir(t.Name)
		var cols []string
		dialect := rows.Hive
		if engine == EngineTrino {
			dialect = rows.Trino
		}
		for _, c := range t.Columns {
			typ, err := rows.ExternalType(c.Type, dialect)
			if err != nil {
				return nil, fmt.Errorf("%s.%s: %w", t.Name, c.Name, err)
			}
			if dialect == rows.Trino {
				cols = append(cols, fmt.Sprintf("  %q %s", c.Name, typ))
			} else {
				cols = append(cols, fmt.Sprintf("  `%s` %s", c.Name, typ))
			}
		}
		switch engine {
		case EngineAthena:
			out = append(out, fmt.Sprintf(`CREATE EXTERNAL TABLE IF NOT EXISTS `+"`%s`"+` (
%s
)
PARTITIONED BY (`+"`date` string, `hour` string"+`)
STORED AS PARQUET
LOCATION '%s/'
TBLPROPERTIES (
  'projection.enabled' = 'true',
  'projection.date.type' = 'date',
  'projection.date.format' = 'yyyy-MM-dd',
  'projection.date.range' = 'NOW-1YEARS,NOW',
  'projection.date.interval' = '1',
  'projection.date.interval.unit' = 'DAYS',
  'projection.hour.type' = 'integer',
  'projection.hour.range' = '0,23',
  'projection.hour.digits' = '2',
  'storage.location.template' = '%s/%s/'
);`, t.Name, strings.Join(cols, ",\n"), dir, dir, layout.PartLocationTemplate))
		case EngineHive:
			out = append(out, fmt.Sprintf(`CREATE EXTERNAL TABLE IF NOT EXISTS `+"`%s`"+` (
%s
)
PARTITIONED BY (`+"`date` string, `hour` string"+`)
STORED AS PARQUET
LOCATION '%s/';
MSCK REPAIR TABLE `+"`%s`"+`;`, t.Name, strings.Join(cols, ",\n"), dir, t.Name))
		case EngineTrino:
			// Trino wants the partition columns last in the column list.
			cols = append(cols, `  "date" varchar`, `  "hour" varchar`)
			out = append(out, fmt.Sprintf(`CREATE TABLE IF NOT EXISTS %s.%s (
%s
)
WITH (
  external_location = '%s',
  format = 'PARQUET',
  partitioned_by = ARRAY['date', 'hour']
);
CALL system.sync_partition_metadata('%s', '%s', 'FULL');`, schema, t.Name, strings.Join(cols, ",\n"), dir, schema, t.Name))
		default:
			return nil, fmt.Errorf("engine %q: want %s, %s or %s", engine, EngineAthena, EngineHive, EngineTrino)
		}
	}
	return out, nil
}
