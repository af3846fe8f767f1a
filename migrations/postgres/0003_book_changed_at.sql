-- The stock version at which each book's count or catalog fields last
-- changed, so "what changed since V" is one indexed query whatever V is.
ALTER TABLE books ADD COLUMN changed_at BIGINT NOT NULL DEFAULT 0;
UPDATE books SET changed_at = (SELECT version FROM stock_state WHERE id = 1);
CREATE INDEX books_by_change ON books (changed_at);
