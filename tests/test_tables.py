"""The performance tables of docs/performance.md and benchmarks/README.md are the benchmark JSON files' (benchmarks/tables.py)."""

from benchmarks import tables


def test_performance_page_tables_match_the_benchmark_results():
    for path in tables.PAGES:
        with open(path) as f:
            page = f.read()
        assert "<!-- table:main -->" in page and "<!-- table:kuramoto_sizes -->" in page, path
        assert tables.render(page) == page, f"{path}: run python -m benchmarks.tables after a benchmark run"
    assert tables.g(123456.0) == "1.23e5" and tables.ratio(1253.4) == "1,253x" and tables.ratio(0.784) == "0.78x"
