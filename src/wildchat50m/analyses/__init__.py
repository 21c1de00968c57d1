"""The paper's analyses over built repositories, run directories and judgments.

Each analysis module computes plain tables from parquet (streamed through
DuckDB or pyarrow, never a whole config in Python objects); ``report`` writes
them as markdown, CSV and PNG; ``wildchat50m.cli.analyze`` is the command line.
"""
