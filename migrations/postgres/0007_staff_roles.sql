-- A staff account's role. An owner may do everything; a clerk restocks and
-- views, and may not set prices, add books, or run lines. Accounts made
-- before roles could do everything, so they are owners.
ALTER TABLE staff ADD COLUMN role TEXT NOT NULL DEFAULT 'owner' CHECK (role IN ('owner', 'clerk'));
