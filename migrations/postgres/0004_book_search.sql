-- Search by title, author or ISBN: a full-text vector of the three (simple
-- dictionary: names and titles are not stemmed), with a GIN index.
ALTER TABLE books ADD COLUMN search tsvector GENERATED ALWAYS AS (
    to_tsvector('simple', title || ' ' || author || ' ' || COALESCE(isbn, ''))
) STORED;
CREATE INDEX books_search ON books USING GIN (search);
-- Pages of the shelf are read in shelf order.
CREATE INDEX books_by_position ON books (position, id);
