-- The shop's stock. `available` is kept equal to total - reserved - sold by
-- every change, and the CHECKs make an oversell impossible to commit.
CREATE TABLE books (
    id          TEXT PRIMARY KEY,
    title       TEXT NOT NULL,
    author      TEXT NOT NULL,
    isbn        TEXT,
    price_cents BIGINT NOT NULL CHECK (price_cents >= 0),
    total       BIGINT NOT NULL CHECK (total >= 0),
    available   BIGINT NOT NULL CHECK (available >= 0 AND available <= total),
    featured    BIGINT NOT NULL DEFAULT 0,
    position    BIGINT NOT NULL
);

-- Copies a shopper holds; a row exists only while copies > 0.
CREATE TABLE reservations (
    shopper     TEXT NOT NULL,
    book_id     TEXT NOT NULL REFERENCES books (id),
    copies      BIGINT NOT NULL CHECK (copies > 0),
    expires_at  BIGINT NOT NULL,
    PRIMARY KEY (shopper, book_id)
);
CREATE INDEX reservations_by_expiry ON reservations (expires_at);

-- One row: the version of the stock, bumped by every committed change.
CREATE TABLE stock_state (
    id      BIGINT PRIMARY KEY CHECK (id = 1),
    version BIGINT NOT NULL
);
INSERT INTO stock_state (id, version) VALUES (1, 1);
