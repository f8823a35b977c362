"""Lines of therapy from raw drug exposures: parameters, a pure-Python reference engine (the oracle) and
vectorised engines (DuckDB, Spark) that must give identical output."""
