from lastfm.testing.benchmark import files_written, file_sizes, newest_share, split_off_a_day


def lines_of(user, count):
    return [f"{user}\t2009-05-04T23:{59 - i:02d}:00Z\t\ta\t\tt{i}\n" for i in range(count)]  # newest first


def test_each_users_newest_plays_and_every_late_one_go_to_the_day(tmp_path):
    source = tmp_path / "all.tsv"
    u1, u2 = lines_of("u1", 10), lines_of("u2", 3)
    source.write_text("".join(u1 + u2)[:-1])  # the last line without its newline
    counts = split_off_a_day(source, tmp_path / "history.tsv", tmp_path / "day.tsv", every=4, recent=2, late_every=2)
    # u1: ceil(10/4) = 3 newest, then of the next ceil(10/2) = 5 every 2nd (indexes 4 and 6); u2: 1 newest, then of
    # the next 2 the 2nd (index 2)
    day = [u1[0], u1[1], u1[2], u1[4], u1[6], u2[0], u2[2]]
    assert (tmp_path / "day.tsv").read_text() == "".join(day)
    assert (tmp_path / "history.tsv").read_text() == "".join(line for line in u1 + u2 if line not in day)
    assert counts == (6, 7)


def test_the_newest_share_keeps_each_users_first_lines(tmp_path):
    source = tmp_path / "all.tsv"
    u1, u2 = lines_of("u1", 10), lines_of("u2", 3)
    source.write_text("".join(u1 + u2))
    assert newest_share(source, tmp_path / "quarter.tsv", share=0.25) == 4
    assert (tmp_path / "quarter.tsv").read_text() == "".join(u1[:3] + u2[:1])  # ceil(2.5), ceil(0.75)


def test_files_written_are_the_new_and_changed_files_per_table_and_log(tmp_path):
    (tmp_path / "t" / "_delta_log").mkdir(parents=True)
    (tmp_path / "t" / "a.parquet").write_bytes(b"12345")
    (tmp_path / "t" / "_delta_log" / "0.json").write_bytes(b"{}")
    before = file_sizes(tmp_path)
    (tmp_path / "t" / "b.parquet").write_bytes(b"123")
    (tmp_path / "t" / "_delta_log" / "1.json").write_bytes(b"{1}")
    (tmp_path / "u").mkdir()
    (tmp_path / "u" / "c.parquet").write_bytes(b"1")
    assert files_written(before, tmp_path) == {"t": 3, "t/_delta_log": 3, "u": 1}
