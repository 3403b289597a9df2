import hashlib
import re
from collections import Counter
from datetime import datetime

import pytest

from lastfm.testing.sample_data import MALFORMED, users_for, write_sample

SHAPE = re.compile(r"user_\d{6}\t\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ(\t[^\t\n]*){4}")


def valid_rows(lines):
    return [line.split("\t") for line in lines if SHAPE.fullmatch(line) and line not in MALFORMED]


@pytest.fixture(scope="module")
def sample(tmp_path_factory):
    path = write_sample(tmp_path_factory.mktemp("s") / "plays.tsv", rows=50_000, users=40, seed=7,
                        malformed_every=10_000)
    return path, path.read_text(encoding="utf-8").split("\n")


def test_same_arguments_give_the_same_bytes(sample, tmp_path):
    path, _ = sample
    again = write_sample(tmp_path / "again.tsv", rows=50_000, users=40, seed=7, malformed_every=10_000)
    digest = lambda p: hashlib.sha256(p.read_bytes()).hexdigest()  # noqa: E731
    assert digest(again) == digest(path)


def test_row_count_and_malformed_lines(sample):
    _, lines = sample
    assert lines[-1] == ""
    lines = lines[:-1]
    assert len(valid_rows(lines)) == 50_000
    assert len(lines) == 50_005 and sum(line in MALFORMED for line in lines) == 5


def test_rows_are_grouped_by_user_newest_first(sample):
    _, lines = sample
    rows = valid_rows(lines)
    users = [r[0] for r in rows]
    assert users == sorted(users) and len(set(users)) == 40
    for a, b in zip(rows, rows[1:]):
        if a[0] == b[0]:
            assert a[1] >= b[1]  # ISO timestamps sort as text


def test_shape_traps_are_present(sample):
    _, lines = sample
    rows = valid_rows(lines)
    empty_track_ids = sum(1 for r in rows if r[4] == "") / len(rows)
    assert 0.05 < empty_track_ids < 0.2
    plays_per_user = Counter(r[0] for r in rows)
    mean = len(rows) / len(plays_per_user)
    assert max(plays_per_user.values()) > 3 * mean and min(plays_per_user.values()) < mean / 10
    assert any('"' in r[3] or '"' in r[5] for r in rows)
    assert any(not r[5].isascii() for r in rows)


def test_gaps_sit_on_both_sides_of_the_session_boundary(sample):
    _, lines = sample
    rows = valid_rows(lines)
    to_seconds = lambda r: datetime.fromisoformat(r[1].replace("Z", "+00:00")).timestamp()  # noqa: E731
    gaps = Counter(to_seconds(a) - to_seconds(b) for a, b in zip(rows, rows[1:]) if a[0] == b[0])
    assert gaps[1200] > 0 and gaps[1201] > 0 and gaps[0] > 0


def test_a_heavy_listener_stays_within_the_real_files_span(tmp_path):
    # 100k plays by one user: ~8,000 sessions a day apart would run to the 2030s
    lines = write_sample(tmp_path / "heavy.tsv", rows=100_000, users=1, seed=5).read_text(encoding="utf-8").split("\n")
    stamps = sorted(r[1] for r in valid_rows(lines))
    assert "2005-02-14T00:00:00Z" <= stamps[0] and stamps[-1] <= "2013-09-29T23:59:59Z"
    to_seconds = lambda s: datetime.fromisoformat(s.replace("Z", "+00:00")).timestamp()  # noqa: E731
    splits = sum(to_seconds(b) - to_seconds(a) > 1200 for a, b in zip(stamps, stamps[1:]))
    assert splits > 1000  # the pauses shrank, but still split sessions


def test_samples_larger_than_the_real_file_get_more_users_not_heavier_ones():
    assert ([users_for(n) for n in (1_000, 1_000_000, 19_150_868, 19_151_001, 76_603_472)]
            == [1000, 1000, 1000, 1001, 4000])
