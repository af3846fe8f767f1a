-- Every node of the shop records itself here every few seconds, so staff
-- and operators see from any node (or `livecart nodes`) which are up: a
-- node silent for more than 10 s is gone. `connections` is JSON: open
-- subscribers by transport.
CREATE TABLE nodes (
    id          TEXT PRIMARY KEY,
    address     TEXT NOT NULL,
    version     TEXT NOT NULL,
    started_at  BIGINT NOT NULL,
    last_beat   BIGINT NOT NULL,
    connections TEXT NOT NULL
);
