-- Each book's available count hour by hour (UTC), for the ledger's
-- sparkline of a book's count over the day: the count the hour opened at,
-- closed at (so far) and the lowest it reached. Every commit that changes
-- a book writes its row for the hour under way (`store::stock_day`).
--
-- A book has a row for each hour of the day (`slot`, 0-23), overwritten
-- when the same hour comes round the next day: the table never holds more
-- than 24 rows a book, and needs no clearing out.
CREATE TABLE stock_by_hour (
    book_id TEXT NOT NULL,
    slot    BIGINT NOT NULL CHECK (slot >= 0 AND slot < 24),
    -- The hour's first millisecond (Unix ms).
    hour    BIGINT NOT NULL,
    opened  BIGINT NOT NULL,
    closed  BIGINT NOT NULL,
    low     BIGINT NOT NULL,
    PRIMARY KEY (book_id, slot)
);

-- Every book's count as it stands, so a book's first change after this
-- knows the count it changed from.
INSERT INTO stock_by_hour (book_id, slot, hour, opened, closed, low)
SELECT id, (CAST(floor(extract(epoch FROM now()) / 3600) AS BIGINT) * 3600000 / 3600000) % 24, CAST(floor(extract(epoch FROM now()) / 3600) AS BIGINT) * 3600000, available, available, available
FROM books;
