-- Search by title, author or ISBN: an FTS5 index over the books table,
-- kept in step by triggers (a count changing does not touch it).
CREATE VIRTUAL TABLE books_search USING fts5(
    title, author, isbn, content = 'books', content_rowid = 'rowid'
);
INSERT INTO books_search (books_search) VALUES ('rebuild');
CREATE TRIGGER books_search_insert AFTER INSERT ON books BEGIN
    INSERT INTO books_search (rowid, title, author, isbn)
    VALUES (new.rowid, new.title, new.author, new.isbn);
END;
CREATE TRIGGER books_search_delete AFTER DELETE ON books BEGIN
    INSERT INTO books_search (books_search, rowid, title, author, isbn)
    VALUES ('delete', old.rowid, old.title, old.author, old.isbn);
END;
CREATE TRIGGER books_search_update AFTER UPDATE OF title, author, isbn ON books BEGIN
    INSERT INTO books_search (books_search, rowid, title, author, isbn)
    VALUES ('delete', old.rowid, old.title, old.author, old.isbn);
    INSERT INTO books_search (rowid, title, author, isbn)
    VALUES (new.rowid, new.title, new.author, new.isbn);
END;
-- Pages of the shelf are read in shelf order.
CREATE INDEX books_by_position ON books (position, id);
