// node-postgres against `lakehouse serve`: the connection comes from the standard PG* variables;
// the Go test (pgclients_test.go) checks what this prints.
const { Client } = require("pg");

async function main() {
  const client = new Client();
  await client.connect();
  const out = {};
  // A parameterized query goes over the extended protocol (Parse/Bind/Describe/Execute).
  const costs = await client.query(
    "SELECT attributes['model'] AS model, sum(value) AS usd FROM measures WHERE name = $1 AND time > $2 GROUP BY 1 ORDER BY 1",
    ["claude_code.cost.usage", new Date(Date.now() - 2 * 3600 * 1000)],
  );
  out.costs = costs.rows;
  const row = await client.query(
    "SELECT time, attributes, severity_number FROM log_entries WHERE attributes['status_code'] = $1",
    ["529"],
  );
  const r = row.rows[0];
  out.timeIsDate = r.time instanceof Date;
  out.ageSeconds = (Date.now() - r.time.getTime()) / 1000;
  out.attributesIsObject = typeof r.attributes === "object" && !Array.isArray(r.attributes);
  out.error = r.attributes.error;
  const version = await client.query("SELECT version()");
  out.version = version.rows[0].version;
  try {
    await client.query("SELECT * FROM nope");
  } catch (e) {
    out.unknownTable = e.code;
  }
  const tools = await client.query(
    "SELECT attributes['tool_name'] AS tool, count(*) AS calls FROM otel_spans WHERE name = 'claude_code.tool' GROUP BY 1 ORDER BY 1",
  );
  out.tools = tools.rows;
  await client.end();
  console.log(JSON.stringify(out));
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
