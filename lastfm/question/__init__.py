"""The question itself, as pure DataFrame -> DataFrame transforms: raw lines -> plays
(parsing), plays -> sessions (sessions), sessions and plays -> the rankings (rankings)."""
