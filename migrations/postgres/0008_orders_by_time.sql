-- The orders export reads orders in the order they were placed, from a date
-- on: without this index a year of orders is sorted whole first.
CREATE INDEX orders_by_time ON orders (placed_at, id);
