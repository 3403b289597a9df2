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
    ],
    extras_require={
        "test": [
            "pytest>=8,<10",
            "chispa>=0.10,<1",
            "hypothesis>=6.100,<7",
            "duckdb>=1.1,<3",
            "deltalake>=0.22,<2",
        ],
    },
)
