"""Data quality: Great Expectations suites (versioned in ``expectations/``) run on frames pulled from DuckDB."""
