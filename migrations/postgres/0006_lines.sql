-- Lines. While a book's current line (books.line_id) is not 'ended', every
-- copy of it goes to the next place in that line, never to whoever clicks
-- first. A launch's line is scheduled for an opening; "tell me when it's
-- back" starts a line on a sold-out book. Lines and their places are kept
-- after they end, so staff can show the draw and what became of each offer.
CREATE TABLE lines (
    id          BIGSERIAL PRIMARY KEY,
    book_id     TEXT NOT NULL REFERENCES books (id),
    kind        TEXT NOT NULL CHECK (kind IN ('launch', 'notify')),
    state       TEXT NOT NULL CHECK (state IN ('scheduled', 'open', 'closed', 'ended')),
    opens_at    BIGINT NOT NULL,
    -- Copies a launch put on the shelf for the line.
    copies      BIGINT NOT NULL DEFAULT 0,
    -- The greatest place offered a copy so far ("now serving").
    serving     BIGINT NOT NULL DEFAULT 0,
    waiting     BIGINT NOT NULL DEFAULT 0,
    offers_open BIGINT NOT NULL DEFAULT 0,
    copies_left BIGINT NOT NULL DEFAULT 0,
    -- The place the next arrival after the draw gets.
    next_place  BIGINT NOT NULL DEFAULT 1,
    drawn_at    BIGINT,
    created_at  BIGINT NOT NULL
);
-- One line a book at a time.
CREATE UNIQUE INDEX one_live_line_a_book ON lines (book_id) WHERE state <> 'ended';
CREATE INDEX lines_by_opening ON lines (state, opens_at);

-- A shopper's place in a line. `place` is NULL until the draw for those who
-- joined before the opening. `address` is the address group (IPv6: /64) the
-- per-address cap counts by.
CREATE TABLE line_places (
    line_id     BIGINT NOT NULL REFERENCES lines (id),
    shopper     TEXT NOT NULL,
    address     TEXT NOT NULL,
    joined_at   BIGINT NOT NULL,
    place       BIGINT,
    state       TEXT NOT NULL CHECK (state IN ('waiting', 'offered', 'bought', 'lapsed', 'declined', 'left')),
    offered_at  BIGINT,
    offer_until BIGINT,
    PRIMARY KEY (line_id, shopper)
);
CREATE INDEX line_places_in_order ON line_places (line_id, state, place);
CREATE INDEX line_places_by_address ON line_places (line_id, address);

ALTER TABLE books ADD COLUMN line_id BIGINT REFERENCES lines (id);
-- A hold made by a line's offer: it ends at the offer's deadline, and
-- touching the cart does not renew it.
ALTER TABLE reservations ADD COLUMN line_offer BIGINT NOT NULL DEFAULT 0;
