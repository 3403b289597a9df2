from lastfm.testing.benchmark import file_sizes, files_written, newest_share, split_off_a_day


def lines_of(user, count):
    return [f"{user}\t2009-05-04T23:{59 - i:02d}:00Z\t\ta\t\tt{i}\n" for i in range(count)]  # newest first


def test_the_day_is_the_newest_plays_by_time_and_some_late_ones_of_the_month_before(tmp_path):
    play = lambda user, stamp: f"{user}\t{stamp}\t\ta\t\tt\n"  # noqa: E731
    u1 = [play("u1", s) for s in ("2009-05-10T12:00:00Z", "2009-05-09T00:00:00Z", "2009-05-01T00:00:00Z",
                                  "2009-04-20T00:00:00Z", "2009-03-01T00:00:00Z")]
    u2 = [play("u2", s) for s in ("2009-05-10T11:00:00Z", "yesterday", "2009-04-25T00:00:00Z", "2009-04-15T00:00:00Z")]
    source = tmp_path / "all.tsv"
    source.write_text("".join(u1 + u2)[:-1])  # the last line without its newline
    counts = split_off_a_day(source, tmp_path / "history.tsv", tmp_path / "day.tsv", every=4, late=2, late_days=30)
    # 8 timestamps: the newest ceil(8/4) = 2 are at or after the cut, 05-10T11:00; the 30 days before it
    # (from 04-10T11:00) hold 5 plays, so every 5 // 2 = 2nd of them in file order is late, two at most
    day = [u1[0], u1[2], u2[0], u2[2]]
    assert (tmp_path / "day.tsv").read_text() == "".join(day)
    assert (tmp_path / "history.tsv").read_text() == "".join(line for line in u1 + u2 if line not in day)
    assert counts == (5, 4)


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
