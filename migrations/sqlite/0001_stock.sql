-- The shop's stock. `available` is kept equal to total - reserved - sold by
-- every change, and the CHECKs make an oversell impossible to commit.
CREATE TABLE books (
    id          TEXT PRIMARY KEY,
    title       TEXT NOT NULL,
    author      TEXT NOT NULL,
    isbn        TEXT,
    price_cents INTEGER NOT NULL CHECK (price_cents >= 0),
    total       INTEGER NOT NULL CHECK (total >= 0),
    available   INTEGER NOT NULL CHECK (available >= 0 AND available <= total),
    featured    INTEGER NOT NULL DEFAULT 0,
    position    INTEGER NOT NULL
);

-- Copies a shopper holds; a row exists only while copies > 0.
CREATE TABLE reservations (
    shopper     TEXT NOT NULL,
    book_id     TEXT NOT NULL REFERENCES books (id),
    copies      INTEGER NOT NULL CHECK (copies > 0),
    expires_at  INTEGER NOT NULL,
    PRIMARY KEY (shopper, book_id)
);
CREATE INDEX reservations_by_expiry ON reservations (expires_at);

-- One row: the version of the stock, bumped by every committed change.
CREATE TABLE stock_state (
    id      INTEGER PRIMARY KEY CHECK (id = 1),
    version INTEGER NOT NULL
);
INSERT INTO stock_state (id, version) VALUES (1, 1);
