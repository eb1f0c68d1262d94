"""psycopg2 against `lakehouse serve`; the Go test (pgclients_test.go) checks what this prints.

Run with Debian's /usr/bin/python3 and python3-psycopg2. The DSN is the first argument."""
import datetime
import json
import sys

import psycopg2

conn = psycopg2.connect(sys.argv[1])
conn.autocommit = True
cur = conn.cursor()
out = {}
cur.execute(
    "SELECT attributes['model'] AS model, sum(value) AS usd FROM measures"
    " WHERE name = %s AND time > %s GROUP BY 1 ORDER BY 1",
    ("claude_code.cost.usage", datetime.datetime.now(datetime.timezone.utc) - datetime.timedelta(hours=2)),
)
out["costs"] = [[m, float(u)] for m, u in cur.fetchall()]
cur.execute("SELECT time, attributes FROM log_entries WHERE attributes['status_code'] = %s", ("529",))
at, attrs = cur.fetchone()
out["timeIsAware"] = isinstance(at, datetime.datetime) and at.tzinfo is not None
out["attributesIsDict"] = isinstance(attrs, dict)
out["error"] = attrs["error"]
cur.execute("SELECT attributes['tool_name'], count(*), avg(duration_ns) / 1e6 FROM otel_spans"
            " WHERE name = 'claude_code.tool' GROUP BY 1 ORDER BY 1")
out["tools"] = [[t, int(n), float(ms)] for t, n, ms in cur.fetchall()]
try:
    cur.execute("SELEC 1")
except psycopg2.Error as e:
    out["syntaxError"] = e.pgcode
cur.execute("SELECT 1")
out["afterError"] = cur.fetchone()[0]
print(json.dumps(out))
