//! Integration tests: each starts the real server with its own SQLite file
//! and drives it over HTTP and WebSocket.

mod abuse;
mod bad_input;
mod book_details;
mod burts_protocol;
mod catalog;
mod cluster;
mod concurrency;
mod covers;
mod cross_site;
mod defaults;
mod desk;
mod durability;
mod health;
mod helpers;
mod https;
mod lines;
mod model;
mod nodes;
mod orders_export;
mod postgres;
mod security_headers;
mod shop_rules;
mod staff;
mod stock_api;
mod storefront;
mod transports;
