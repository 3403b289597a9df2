"""Input listing: exactly the files Spark reads."""

import pytest

from lastfm.errors import UsageError
from lastfm.storage.reading import input_files, read_lines


def test_input_files_are_the_files_spark_reads(spark, tmp_path):
    source = tmp_path / "in"
    files = {"a.tsv": "1\n2\n", "day=2/b.tsv": "3\n", "_SUCCESS": "", "_temporary/0/c.tsv": "4\n",
             ".hidden/d.tsv": "5\n", "day=3/.e.tsv": "6\n", "day=3/_f.tsv": "7\n"}
    for name, text in files.items():
        (source / name).parent.mkdir(parents=True, exist_ok=True)
        (source / name).write_text(text)
    listed = input_files(spark, str(source))
    assert sorted(path.rsplit("/in/", 1)[1] for path, _, _ in listed) == ["a.tsv", "day=2/b.tsv"]
    assert sum(size for _, size, _ in listed) == 6
    assert sorted(r.value for r in read_lines(spark, str(source)).collect()) == ["1", "2", "3"]


def test_a_folder_of_only_hidden_files_is_empty(spark, tmp_path):
    (tmp_path / "in" / "_temporary").mkdir(parents=True)
    (tmp_path / "in" / "_temporary" / "part.tsv").write_text("u\t2009-01-01T00:00:00Z\t\tA\t\tB\n")
    with pytest.raises(UsageError, match="input is empty"):
        input_files(spark, str(tmp_path / "in"))
