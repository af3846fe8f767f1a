-- Sold copies, orders, staff, and a catalog version so pages can tell when
-- titles, prices or the list of books changed.
ALTER TABLE books ADD COLUMN sold INTEGER NOT NULL DEFAULT 0;
ALTER TABLE stock_state ADD COLUMN catalog_version INTEGER NOT NULL DEFAULT 1;

CREATE TABLE orders (
    id          TEXT PRIMARY KEY,
    shopper     TEXT NOT NULL,
    placed_at   INTEGER NOT NULL,
    total_cents INTEGER NOT NULL
);
CREATE INDEX orders_by_shopper ON orders (shopper, placed_at);

CREATE TABLE order_lines (
    order_id    TEXT NOT NULL REFERENCES orders (id),
    book_id     TEXT NOT NULL REFERENCES books (id),
    title       TEXT NOT NULL,
    price_cents INTEGER NOT NULL,
    copies      INTEGER NOT NULL CHECK (copies > 0),
    PRIMARY KEY (order_id, book_id)
);

CREATE TABLE staff (
    name          TEXT PRIMARY KEY,
    password_hash TEXT NOT NULL,
    created_at    INTEGER NOT NULL
);

-- Only a hash of each session token is kept.
CREATE TABLE staff_sessions (
    token_hash TEXT PRIMARY KEY,
    staff_name TEXT NOT NULL REFERENCES staff (name),
    expires_at INTEGER NOT NULL
);
