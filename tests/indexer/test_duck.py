import subprocess
import sys

import pytest


@pytest.mark.slow
def test_a_long_query_prints_no_progress_bar_on_a_piped_stdout():
    code = """
from cooc.indexer.duck import connect
con = connect()
print(con.execute("SELECT sum(i * j) FROM range(30000) t(i), range(30000) s(j)").fetchone()[0] > 0)
"""
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120).stdout
    assert out == "True\n"  # a plain duckdb.connect() prints "60% ▕███..." lines here
