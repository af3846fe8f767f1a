-- Holds that lapsed, as the clock ended them: one row per book per run of
-- the clock, written in the same transaction that put the copies back, so
-- the staff desk's "holds that lapsed today" is read from here on every node.
CREATE TABLE hold_lapses (
    lapsed_at BIGINT NOT NULL,
    book_id   TEXT NOT NULL,
    holds     BIGINT NOT NULL,
    copies    BIGINT NOT NULL
);
CREATE INDEX hold_lapses_by_time ON hold_lapses (lapsed_at);
