-- When each hold was first taken: however often it is renewed, a hold ends
-- at held_since + the shop's max_hold_age, so one shopper cannot keep a book
-- off the shelf forever. Holds that exist already count from their deadline.
ALTER TABLE reservations ADD COLUMN held_since BIGINT NOT NULL DEFAULT 0;
UPDATE reservations SET held_since = expires_at;
