"""DuckDB as the oracle of the differential test (tests/duckdb.rs).

Reads a job (a JSON list of SQL texts), runs each in one DuckDB connection and writes a JSON
list of results: each a list of rows, or {"error": message}. Values JSON cannot hold plainly are
made plain: decimals become floats, infinities and NaN become null (as the engine prints a
DOUBLE that is not finite).
"""

import decimal
import json
import math
import sys

import duckdb


def plain(value):
    if isinstance(value, decimal.Decimal):
        value = float(value)
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def main():
    queries = json.load(open(sys.argv[1]))
    connection = duckdb.connect()
    connection.execute("SET TimeZone = 'UTC'")
    results = []
    for sql in queries:
        try:
            rows = connection.execute(sql).fetchall()
            results.append([[plain(v) for v in row] for row in rows])
        except duckdb.Error as error:
            results.append({"error": str(error)})
    json.dump(results, open(sys.argv[2], "w"))


main()
