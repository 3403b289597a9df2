"""The oracle itself is checked against answers worked out by hand."""

from lastfm.testing.duckdb_reference import top_tracks

LINES = [
    # u1: a 3-play session (gaps 20:00 and 0:00 join) then a 1-play one (gap 20:01 splits)
    "u1\t2009-01-01T10:00:00Z\t\tCake\t\tJolene",
    "u1\t2009-01-01T10:20:00Z\t\tCake\t\tJolene",
    "u1\t2009-01-01T10:20:00Z\t\tDolly Parton\t\tJolene",
    "u1\t2009-01-01T10:40:01Z\t\tAbba\t\tSOS",
    # u2, out of order: a 2-play session
    "u2\t2009-01-02T10:05:00Z\t\tJohnny \"Hammond\" Smith\t\t\"Heroes\"",
    "u2\t2009-01-02T10:00:00Z\t\tJohnny \"Hammond\" Smith\t\t\"Heroes\"",
    # rejects: never counted
    "u1\tnot a time\t\tAbba\t\tSOS",
    "u1\t2009-01-01T10:00:00Z\tthree fields",
]


def test_answers_the_question_as_worked_out_by_hand(tmp_path):
    path = tmp_path / "plays.tsv"
    path.write_text("\r\n".join(LINES) + "\r\n", encoding="utf-8")
    assert top_tracks(str(path), top_sessions=2, top_tracks=3) == [
        ("Cake", "Jolene", 2),
        ('Johnny "Hammond" Smith', '"Heroes"', 2),
        ("Dolly Parton", "Jolene", 1),
    ]
    assert (top_tracks(str(path), top_sessions=1, top_tracks=10)
            == [("Cake", "Jolene", 2), ("Dolly Parton", "Jolene", 1)])
