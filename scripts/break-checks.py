#!/usr/bin/env python3
"""Breaks one behaviour at a time and shows that the test claiming it goes red.

Each entry names a behaviour, the file and text to change, and the test that
must then fail. The breaks are applied in a throwaway git worktree of HEAD
(with a cargo target directory of its own), never in this tree.

    scripts/break-checks.py                 # every break
    scripts/break-checks.py pragma-normal   # some, by name

Each named test first runs once on the unchanged tree: a test that fails
there proves nothing about its break, so the check is reported as broken
(and the script fails) instead of as caught. Entries whose test needs
PostgreSQL (`postgres::`, `cluster::`) run only when LIVECART_TEST_POSTGRES
names a server; without one they are reported as not run, never as caught.
"""
import os
import subprocess
import sys
import tempfile

BREAKS = [
 ('no-notify','src/server/store/transaction.rs','        if self.backend == Backend::Postgres && self.notify {\n            // Every listening node','        if false {\n            // Every listening node','postgres::a_change_on_one_node_reaches_the_pages_of_the_others'),
 ('no-read-after-reconnect','src/server/writer/resync.rs',('        metrics.listener_up.set(1);\n        catch_up(&store, &notifier, &metrics).await;','                        tracing::info!("the stock listener reconnected");\n                        catch_up(&store, &notifier, &metrics).await;'),('        metrics.listener_up.set(1);','                        tracing::info!("the stock listener reconnected");'),'postgres::a_node_whose_listener_is_cut_catches_up_by_itself'),
 ('nothing-acknowledged','src/server/web/live/burts/mod.rs','            state.inventory.reserve(&shopper, &book).await\n        }','            Err(ShopError::SoldOut)\n        }','durability::a_burst_of_concurrent_reservations_survives_kill_9'),
 ('page-size-25','src/shared/views.rs','pub const PAGE_SIZE: u32 = 24;','pub const PAGE_SIZE: u32 = 25;','catalog::the_shelf_is_paged_and_searched_without_javascript'),
 ('shared-always','src/server/notifier/mod.rs','        if latest.change.since == Some(mine) {','        if true || latest.change.since == Some(mine) {','lib:server::notifier::tests::subscribers_that_skip_versions_end_on_the_true_stock'),
 ('catch-up-from-zero','src/server/notifier/mod.rs','.range((since.saturating_add(1), String::new())..)','.range((0, String::new())..)','catalog::a_client_resuming_from_a_version_gets_exactly_what_changed_after_it'),
 ('push-whole','src/server/web/live/websocket.rs','        Some(message.json())','        Some(notifier.whole_json())','catalog::with_fifty_thousand_books_a_change_is_pushed_in_under_200_bytes'),
 ('resync-off','src/server/writer/mod.rs','    tokio::spawn(resync::follow_the_database(','    let _ = resync::follow_the_database;\n    std::mem::drop((','catalog::an_imported_catalog_is_listed_and_pushed_to_open_pages'),
 ('merge-drops-carry-over','src/server/notifier/mod.rs','        let version = change.version;\n        for (book, count) in &change.stock {','        let version = change.version;\n        counts.books.retain(|b, _| change.stock.contains_key(b));\n        for (book, count) in &change.stock {','catalog::the_published_stock_always_equals_the_stock_on_disk'),
 ('expiry-not-marked','src/server/inventory/changes.rs','            touched.extend(released.books);\n','            let _ = released.books;\n','catalog::the_published_stock_always_equals_the_stock_on_disk'),
 ('changed-at-off-by-one','src/server/store/mod.rs','LEFT JOIN books b ON b.changed_at > $1 WHERE s.id = 1','LEFT JOIN books b ON b.changed_at >= $1 WHERE s.id = 1','catalog::changes_since_a_version_are_exactly_the_books_changed_after_it'),
 ('ack-before-commit','src/server/web/live/burts/mod.rs','            state.inventory.reserve(&shopper, &book).await\n        }','            { let (inventory, who, which) = (state.inventory.clone(), shopper.clone(), book.clone()); tokio::spawn(async move { let _ = inventory.reserve(&who, &which).await; }); Ok(crate::server::inventory::Holding { book: book.clone(), copies: 1 }) }\n        }','durability::a_kill_9_in_the_middle_of_a_stream_of_reservations_loses_no_acknowledged_one'),
 ('expiry-1200ms-late','src/server/inventory/changes.rs','let released = tx.release_lapsed(now).await?;','let released = tx.release_lapsed(now - 1_200).await?;','shop_rules::a_hold_lapses_after_its_ttl_and_subscribers_are_told'),
 ('writer-stalls-300ms','src/server/writer/mod.rs','        let started = std::time::Instant::now();\n','        let started = std::time::Instant::now();\n        if group.len() == 1 && rand::random::<u8>() < 32 { tokio::time::sleep(std::time::Duration::from_millis(300)).await; }\n','staff::a_burst_of_sign_ins_does_not_stall_live_updates'),
 ('argon2-inline-unbounded','src/server/staff.rs','''        let permit = self.verifying.acquire().await;
        drop(waiting);
        let permit = permit.map_err(|e| StaffError::Hashing(e.to_string()))?;
        let matches = tokio::task::spawn_blocking(move || {
            yield_to_live_updates();
            verify_password(&password, &hash)
        })
        .await
        .map_err(|e| StaffError::Hashing(e.to_string()))?;
        drop(permit);''','''        drop(waiting);
        let matches: bool = { let _ = (&self.verifying, yield_to_live_updates); tokio::task::yield_now().await; verify_password(&password, &hash) };''','staff::a_burst_of_sign_ins_does_not_stall_live_updates'),
 ('pragma-normal','src/server/store/mod.rs','PRAGMA synchronous = FULL','PRAGMA synchronous = NORMAL','durability::every_connection_commits_durably_in_wal_mode'),
 ('remove-does-nothing','src/server/web/live/burts/mod.rs','CartAction::Remove => state.inventory.return_copy(&shopper, &book).await,','CartAction::Remove => Ok(crate::server::inventory::Holding { book: book.clone(), copies: 0 }),','transports::versions_never_go_backwards_on_any_transport'),
 ('body-limit-1mb','src/server/routes.rs','.layer(DefaultBodyLimit::max(body_limit))','.layer(DefaultBodyLimit::max(body_limit * 16))','bad_input::burts_protocol_refuses_bad_input_without_changing_anything'),
 ('send-deadline-x8-ws','src/server/web/connections.rs','            let at = Instant::now() + self.send_deadline;','            let at = Instant::now() + self.send_deadline * 8;','transports::a_socket_that_stops_reading_is_dropped_within_the_send_timeout'),
 ('send-deadline-x8-sse','src/server/web/connections.rs','            let at = Instant::now() + self.send_deadline;','            let at = Instant::now() + self.send_deadline * 8;','abuse::an_sse_client_that_stops_reading_is_dropped_within_the_send_deadline'),
 ('poll-answers-at-current','src/server/web/live/poll.rs','|p| p.version() > since,','|p| p.version() >= since,','transports::a_poll_at_the_current_version_waits_for_the_next'),
 ('poll-holds-double','src/server/web/live/poll.rs','Duration::from_secs(wait),','Duration::from_secs(wait * 2),','transports::a_poll_that_times_out_answers_204_with_no_body'),
 ('renew-touched-only','src/server/store/holds.rs','WHERE expires_at > CAST(? AS BIGINT) AND line_offer = 0 AND shopper IN ({shoppers_in})"','WHERE expires_at > CAST(? AS BIGINT) AND line_offer = 0 AND shopper IN ({shoppers_in}) AND book_id = \'structure-and-interpretation-of-computer-programs\'"','shop_rules::touching_the_cart_renews_every_hold'),
 ('checkout-keeps-holds','src/server/store/orders.rs','"DELETE FROM reservations WHERE shopper = $1 AND expires_at > $2 RETURNING book_id, copies",','"SELECT book_id, copies FROM reservations WHERE shopper = $1 AND expires_at > $2",','shop_rules::checking_out_twice_at_once_makes_exactly_one_order'),
 ('cross-origin-book-socket-open','src/server/web/front_door.rs','if !self.origins.admits(request) {','if !self.origins.admits(request) && request.uri().path() != "/cart/status" {','cross_site::a_socket_from_another_site_is_refused'),
 ('form-back-keeps-all','src/server/web/forms.rs','.filter(|pair| pair.starts_with("q=") || pair.starts_with("page="))','.filter(|pair| !pair.is_empty())','storefront::without_javascript_the_form_reserves_and_comes_back_to_the_page'),
 ('no-row-lock','src/server/store/holds.rs','Batch::one(format!("{books_sql} FOR UPDATE"), books_args)','Batch::one(books_sql.clone(), books_args)','postgres::a_node_deciding_on_a_book_another_is_deciding_on_waits_and_reads_its_commit'),
 ('expiry-claims-without-deleting','src/server/store/holds.rs','            "DELETE FROM reservations r USING ( \\\n','            "SELECT r.book_id, r.copies FROM reservations r, ( \\\n','cluster::every_lapsed_hold_is_released_by_exactly_one_of_three_nodes'),
 ('featured-cookie-ignored','src/server/web/live/burts/mod.rs','        .read(headers, FEATURED_SEEN_COOKIE)\n        .and_then(|seen| seen.parse::<u64>().ok())\n','        .read(headers, FEATURED_SEEN_COOKIE)\n        .and_then(|seen| seen.parse::<u64>().ok())\n        .filter(|_| false)\n','cluster::a_burts_re_poll_that_reaches_another_node_is_answered_at_once'),
 ('nginx-no-upgrade','deploy/nginx/livecart.conf','        proxy_set_header Upgrade $http_upgrade;\n','','cluster::pages_behind_nginx_end_on_the_true_count_after_a_node_is_killed'),
 ('no-group-deadline','src/server/writer/mod.rs','const GROUP_DEADLINE: Duration = Duration::from_secs(5);','const GROUP_DEADLINE: Duration = Duration::from_secs(60);','cluster::while_the_database_is_gone_changes_get_503_quickly_and_every_node_recovers'),
 ('heartbeat-ignored','src/server/writer/resync.rs','                    if heard_myself.elapsed() > DEAF_AFTER {','                    if heard_myself.elapsed() > DEAF_AFTER * 100 {','postgres::a_node_whose_listener_goes_silent_notices_by_its_heartbeat'),
 ('expiry-clock-off','src/server/inventory/mod.rs','        tokio::spawn(expiry::release_lapsed_holds(','        std::mem::drop(expiry::release_lapsed_holds(','cluster::the_holds_of_a_node_that_died_are_released_by_another_on_time'),
 ('seed-unlocked','src/server/store/mod.rs','        tx.lock_stock().await?;\n','','cluster::nodes_started_together_on_a_new_database_stock_the_opening_books_once'),
 ('renew-lapsed','src/server/store/holds.rs','WHERE expires_at > CAST(? AS BIGINT) AND shopper IN ({shoppers_in})','WHERE (expires_at > CAST(? AS BIGINT) OR 1 = 1) AND shopper IN ({shoppers_in})','shop_rules::a_cart_view_never_revives_a_hold_past_its_deadline'),
 ('page-view-records','src/server/web/live/burts/page.rs','    // poll waits for the next. Nothing is recorded for a mere view.\n','    // poll waits for the next. Nothing is recorded for a mere view.\n    if let Ok(parsed) = crate::server::inventory::shopper::BurtsSession::parse(&uuid4()) { state.answered.record(parsed, featured.changed_at); }\n','burts_protocol::viewing_the_books_page_remembers_nothing_answering_a_poll_does'),
 ('sweep-when-full','src/server/web/live/burts/sessions.rs','        if now.duration_since(sessions.last_sweep) > self.forget_after / 5 {','        if sessions.by_session.len() >= self.capacity || now.duration_since(sessions.last_sweep) > self.forget_after / 5 {','lib:server::web::live::burts::sessions::tests::a_full_memory_is_swept_at_most_once_per_interval'),
 ('u32-total','src/server/store/orders.rs','        Ok(total_cents(prices).ok_or(ShopError::TotalTooLarge))','        Ok(Ok(u64::from(prices.iter().map(|(p, c)| p * c).sum::<u32>())))','abuse::an_order_past_four_billion_cents_is_charged_exactly'),
 ('sec-fetch-ignored','src/server/web/origin.rs','            return !cross_site;','            return true;','cross_site::a_change_the_browser_marks_cross_site_is_refused_and_changes_nothing'),
 ('no-security-headers','src/server/web/front_door.rs','        headers::stamp(response.headers_mut(), self.https);\n','','security_headers::every_answer_carries_the_security_headers'),
 ('refusal-unstamped','src/server/web/checkpoint.rs','            AnswerProj::Refused { refusal } => refusal.take().expect(DONE),','            AnswerProj::Refused { refusal } => return Poll::Ready(Ok(refusal.take().expect(DONE).1)),','cross_site::a_change_the_browser_marks_cross_site_is_refused_and_changes_nothing'),
 ('client-address-not-resolved','src/server/web/front_door.rs','            request.extensions_mut().insert(ClientAddress(client));\n','            let _ = client;\n','abuse::forwarded_for_is_believed_only_from_a_trusted_proxy'),
 ('shopper-cookie-not-set','src/server/web/cookies.rs','            response.headers_mut().append(SET_COOKIE, cookie);','            let _ = cookie;','storefront::the_catalog_page_is_rendered_with_every_live_count'),
 ('shopper-cookie-ignored','src/server/web/cookies.rs','            .and_then(|value| ShopperId::parse(&value));','            .and_then(|_| None::<ShopperId>);','storefront::reserve_and_return_move_the_count_and_the_cart'),
 ('healthz-always-ok','src/server/web/operator.rs','    health_answer(state.inventory.health(HEALTH_DEADLINE).await)\n}','    health_answer(Ok(()))\n}','cluster::while_the_database_is_gone_changes_get_503_quickly_and_every_node_recovers'),
 ('no-shutdown-deadline','src/server/web/connections.rs','    if timeout(deadline, everything_closed(&connections, &tasks))','    if timeout(deadline * 1000, everything_closed(&connections, &tasks))','durability::a_request_that_never_finishes_cannot_hold_up_shutdown'),
 ('cart-unbounded','src/server/inventory/decide.rs','        if hold.now == 0 && self.books_held(&key.0) >= rules.max_books_per_cart {','        if hold.now == 0 && self.books_held(&key.0) >= rules.max_books_per_cart + 1000 {','abuse::a_cart_past_its_books_is_refused_with_429_and_nothing_changes'),
 ('no-single-flight','src/server/book_details.rs','        Some(fetch.await)\n','        self.in_flight.lock().unwrap_or_else(|p| p.into_inner()).clear();\n        Some(fetch.await)\n','book_details::views_of_one_uncached_book_at_once_share_one_upstream_request'),
 ('reset-keeps-sessions','src/server/store/staff.rs','sqlx::query("DELETE FROM staff_sessions WHERE staff_name = $1")','sqlx::query("DELETE FROM staff_sessions WHERE staff_name = $1 AND 1 = 0")','abuse::a_new_password_signs_out_every_session_of_the_account'),
 ('hold-age-unbounded','src/server/inventory/changes.rs','    i64::try_from(rules.max_hold_age.as_millis()).unwrap_or(i64::MAX / 2)','    i64::MAX / 4 + 0 * i64::try_from(rules.max_hold_age.as_millis()).unwrap_or(0)','abuse::a_hold_ends_at_its_maximum_age_however_often_it_is_renewed'),
 ('count-after-verify','src/server/staff.rs','        self.record(name, from, now);\n        true\n','        true\n','abuse::two_hundred_wrong_sign_ins_at_once_get_no_more_guesses_than_five'),
 ('full-table-stops-counting','src/server/staff.rs','        make_room(&mut self.by_pair, &pair, now);\n','        if self.by_pair.len() >= FailedSignIns::TRACKED && !self.by_pair.contains_key(&pair) { return; }\n','lib:server::staff::tests::a_full_table_still_counts_new_accounts'),
 ('https-ignored','src/server/mod.rs','            https: self.settings.behind_https,','            https: false && self.settings.behind_https,','https::over_https_cookies_are_secure_host_only_and_hsts_is_sent'),
 ('release-keeps-copy','src/server/inventory/decide.rs','        hold.now -= 1;\n        *available += 1;\n','        hold.now -= 1;\n        *available += 0;\n','lib:server::inventory::decide::tests::reserves_and_returns_follow_the_model'),
 ('no-header-timeout','src/server/web/connections.rs','        .header_read_timeout(header_read_timeout);','        .header_read_timeout(None::<Duration>);','abuse::slow_headers_and_idle_keep_alives_are_closed_after_the_header_timeout'),
 ('per-address-uncapped','src/server/web/connections.rs','            if *n >= self.limits.per_address {','            if *n >= self.limits.per_address + 100 {','abuse::one_address_gets_its_connections_and_no_more_while_others_still_get_in'),
 ('ceiling-off','src/server/web/connections.rs','        if open > self.limits.max_open {','        if open > self.limits.max_open + 100 {','abuse::past_the_ceiling_a_connection_gets_503_at_once_instead_of_a_hang'),
 ('no-write-deadline','src/server/web/connections.rs','            Poll::Pending => self.poll_stalled(cx).map(Err),','            Poll::Pending => Poll::Pending,','abuse::an_sse_client_that_stops_reading_is_dropped_within_the_send_deadline'),
 ('lock-per-account','src/server/staff.rs','        let pair = (name.clone(), from);\n','        let pair = (name.clone(), IpAddr::from([0u8, 0, 0, 0]));\n','abuse::failed_sign_ins_slow_their_address_down_and_lock_nobody_out'),
 ('xff-from-anyone','src/server/web/client_address.rs','        if !self.trusts(client) {\n            return client;\n        }\n        let hops','        let hops','abuse::forwarded_for_is_believed_only_from_a_trusted_proxy'),
 ('holds-unlimited','src/server/web/hold_rate.rs','        if self.admit(from, Instant::now()) {','        if true || self.admit(from, Instant::now()) {','abuse::new_holds_past_an_addresss_rate_are_refused_with_429_and_nothing_changes'),
 ('restock-total-only','src/server/store/books.rs','"UPDATE books SET total = total + $2, available = available + $2 WHERE id = $1",','"UPDATE books SET total = total + $2, available = available + 0 * $2 WHERE id = $1",','model::the_inventory_follows_a_plain_model'),
 ('no-page-csp','src/server/routes.rs','        web::headers::allow_page_scripts();\n','','security_headers::a_pages_scripts_all_carry_the_nonce_its_policy_names'),
 ('pkg-uncompressed','src/server/web/assets.rs','    let files = ServeDir::new(dir).precompressed_br().precompressed_gzip();','    let files = ServeDir::new(dir);','storefront::the_sites_files_go_out_precompressed_and_hashed_names_are_cached_for_a_year'),
 ('abandoned-tx-pooled','src/server/store/transaction.rs','                drop(conn.detach());','                drop(conn);','durability::a_transaction_given_up_midway_leaves_nothing_and_no_connection_inside_it'),
 ('client-frames-capped','src/server/web/live/socket.rs',('        .max_message_size(4 * 1024)','        .max_frame_size(4 * 1024)'),('        .max_message_size(512)','        .max_frame_size(512)'),'transports::a_socket_reads_client_frames_longer_than_its_read_buffer'),
 ('group-not-gathered','src/server/writer/mod.rs','            gather_arrivals(&mut requests, &mut group.changes).await;\n','','concurrency::changes_asked_for_in_the_same_moment_share_one_commit'),
 ('sqlite-release-keeps-hold','src/server/store/holds.rs','"DELETE FROM reservations WHERE (shopper, book_id) IN \\\n','"DELETE FROM reservations WHERE 0 AND (shopper, book_id) IN \\\n','model::the_inventory_follows_a_plain_model'),
 ('sse-since-ignored','src/server/web/live/sse.rs','        None => since,','        None => None::<u64>.filter(|_| since.is_some()),','transports::server_sent_events_start_from_since_on_a_first_connection'),
 ('import-no-notify','src/server/store/import.rs','        stock.notify_version().await?;','        let _ = stock.conn().await?;','postgres::an_import_reaches_the_open_pages_of_every_node'),
 ('per-address-21','src/server/staff.rs','    const PER_ADDRESS: usize = 20;','    const PER_ADDRESS: usize = 21;','abuse::twenty_failures_from_one_address_slow_it_down_whatever_the_accounts'),
 ('max-waiting-unbounded','src/server/staff.rs','        const MAX_WAITING: usize = 32;','        const MAX_WAITING: usize = usize::MAX;','abuse::past_thirty_two_waiting_sign_ins_more_are_refused_at_once'),
 ('header-timeout-x3','src/server/web/connections.rs','        .header_read_timeout(header_read_timeout);','        .header_read_timeout(header_read_timeout * 3);','abuse::slow_headers_and_idle_keep_alives_are_closed_after_the_header_timeout'),
 ('shutdown-deadline-x3','src/server/web/connections.rs','    if timeout(deadline, everything_closed(&connections, &tasks))','    if timeout(deadline * 3, everything_closed(&connections, &tasks))','durability::a_request_that_never_finishes_cannot_hold_up_shutdown'),
 # Lines (issue 23).
 ('draw-in-arrival-order','src/server/inventory/lines.rs','    joined.shuffle(rng);\n','    let _ = rng;\n','lib:server::inventory::lines::tests::the_draw_is_uniform'),
 ('draw-biased','src/server/inventory/lines.rs','    joined.shuffle(rng);\n','    for i in 0..joined.len() { let j = rng.random_range(0..joined.len()); joined.swap(i, j); }\n','lib:server::inventory::lines::tests::the_draw_is_uniform'),
 ('reserve-outside-the-line','src/server/inventory/decide.rs','        if self.in_line.contains(book.as_str()) {\n            return Err(ShopError::InLine);','        if false {\n            return Err(ShopError::InLine);','lines::a_returned_copy_goes_to_whoever_asked_to_be_told_not_the_fastest_click'),
 ('no-address-cap','src/server/inventory/lines.rs','    if cap > 0 && tx.places_from(line.id, address).await? >= cap {','    if cap > 0 && tx.places_from(line.id, address).await? >= cap * 100 {','lines::a_script_with_two_hundred_cookies_from_one_address_gets_four_places'),
 ('offers-out-of-order','src/server/store/lines.rs','AND place IS NOT NULL ORDER BY place LIMIT $2','AND place IS NOT NULL ORDER BY place DESC LIMIT $2','lines::ten_thousand_join_a_launch_of_a_hundred_and_exactly_a_hundred_are_sold_in_order'),
 ('lapse-not-passed-on','src/server/inventory/changes.rs','            lines.extend(released.books.iter().cloned());\n','','lines::ten_thousand_join_a_launch_of_a_hundred_and_exactly_a_hundred_are_sold_in_order'),
 ('line-read-in-lock','src/server/store/lines.rs','            "SELECT available, line_id FROM books WHERE id = $1{lock}"','            "SELECT available, line_id FROM books WHERE id = $1"','lines::a_launch_over_three_nodes_sells_exactly_its_copies_even_when_one_is_killed'),
 ('burts-poll-cap-hour','src/server/web/live/burts/mod.rs','const BURTS_POLL_LIMIT: Duration = Duration::from_secs(50);','const BURTS_POLL_LIMIT: Duration = Duration::from_secs(3600);','burts_protocol::a_poll_held_fifty_seconds_is_answered_with_the_count_as_it_stands'),
 ('burts-poll-cap-short','src/server/web/live/burts/mod.rs','const BURTS_POLL_LIMIT: Duration = Duration::from_secs(50);','const BURTS_POLL_LIMIT: Duration = Duration::from_secs(45);','burts_protocol::a_poll_held_fifty_seconds_is_answered_with_the_count_as_it_stands'),
 ('group-deadline-7s','src/server/writer/mod.rs','const GROUP_DEADLINE: Duration = Duration::from_secs(5);','const GROUP_DEADLINE: Duration = Duration::from_secs(7);','cluster::while_the_database_is_gone_changes_get_503_quickly_and_every_node_recovers'),
 ('sign-in-all-refused','src/server/staff.rs','    const PER_PAIR: usize = 5;','    const PER_PAIR: usize = 0;','abuse::two_hundred_wrong_sign_ins_at_once_get_no_more_guesses_than_five'),
 ('ping-patience-x3','src/server/web/live/socket.rs','    let mut ping = interval_at(Instant::now() + upkeep.ping_every, upkeep.ping_every);','    let mut ping = interval_at(Instant::now() + upkeep.ping_every * 2, upkeep.ping_every * 2);','transports::a_socket_that_stops_answering_pings_is_dropped'),
 ('refusal-left-open','src/server/web/connections.rs','                tcp.shutdown().await?;','                let _ = tcp.flush().await;','abuse::past_the_ceiling_a_connection_gets_503_at_once_instead_of_a_hang'),
 ('upstream-deadline-3s','src/server/book_details.rs','const DEADLINE: Duration = Duration::from_secs(2);','const DEADLINE: Duration = Duration::from_secs(3);','book_details::a_silent_upstream_does_not_hold_up_the_page'),
 ('default-per-address-1001','src/server/config.rs','            max_connections_per_address: 1000,','            max_connections_per_address: 1001,','defaults::with_no_settings_the_shop_runs_with_the_documented_defaults'),
 ('default-headroom-256','src/server/web/connections.rs','pub const FILE_HEADROOM: usize = 512;','pub const FILE_HEADROOM: usize = 256;','defaults::with_no_settings_the_shop_runs_with_the_documented_defaults'),
 ('joins-never-paced','src/server/notifier/mod.rs','        let paced = quiet && counts.published_at.elapsed() < QUIET_PACE;','        let paced = false && quiet;','lib:server::notifier::tests::joins_in_a_burst_are_published_a_few_times_a_second_and_turns_at_once'),
 ('offer-uncounted','src/server/store/lines.rs','        self.count_places(line, -1, 1).await
','        Ok(())
','model::the_inventory_follows_a_plain_model'),
 ('place-reads-one-each','src/server/store/line_reads.rs','        while gathered < MOST_AT_ONCE {','        while gathered < 1 {','lines::a_thousand_pages_asking_at_once_cost_one_read'),
 ('place-of-another-page','src/server/store/line_reads.rs','let place = places.get(&ask.shopper).cloned();','let place = places.values().next().cloned();','lines::a_thousand_pages_asking_at_once_cost_one_read'),
 ('quiet-pace-never-stretches','src/server/notifier/mod.rs','        .clamp(QUIET_PACE, QUIET_PACE_MOST)','        .clamp(QUIET_PACE, QUIET_PACE)','lib:server::notifier::tests::the_quiet_pace_stretches_with_the_pages_open'),
 ('throttle-window-14min','src/server/staff.rs','    const WINDOW: Duration = Duration::from_secs(15 * 60);','    const WINDOW: Duration = Duration::from_secs(14 * 60);','lib:server::staff::tests::failures_age_out_after_fifteen_minutes_and_waits_stop_at_five'),
 ('throttle-window-16min','src/server/staff.rs','    const WINDOW: Duration = Duration::from_secs(15 * 60);','    const WINDOW: Duration = Duration::from_secs(16 * 60);','lib:server::staff::tests::failures_age_out_after_fifteen_minutes_and_waits_stop_at_five'),
 ('throttle-cap-6min','src/server/staff.rs','    const MAX_WAIT: Duration = Duration::from_secs(5 * 60);','    const MAX_WAIT: Duration = Duration::from_secs(6 * 60);','lib:server::staff::tests::failures_age_out_after_fifteen_minutes_and_waits_stop_at_five'),
 ('turns-paced-too','src/server/notifier/mod.rs','        *held == count && LineState { waiting: line.waiting, ..*held_line } == *line','        *held == count || LineState { waiting: line.waiting, ..*held_line } == *line','lib:server::notifier::tests::joins_in_a_burst_are_published_a_few_times_a_second_and_turns_at_once'),
]


def main():
    root = subprocess.run(['git', 'rev-parse', '--show-toplevel'], capture_output=True,
                          text=True, check=True).stdout.strip()
    work = tempfile.mkdtemp(prefix='livecart-breaks-')
    subprocess.run(['git', 'worktree', 'add', '--detach', work, 'HEAD'], cwd=root, check=True,
                   capture_output=True)
    env = dict(os.environ, CARGO_TARGET_DIR=os.environ.get(
        'BREAKS_TARGET_DIR', os.path.join(tempfile.gettempdir(), 'livecart-breaks-target')))
    only = sys.argv[1:]
    red = True
    postgres = bool(os.environ.get('LIVECART_TEST_POSTGRES'))

    def run_test(test):
        # "lib:NAME" is a unit test; anything else one of tests/api.
        target = ['--lib'] if test.startswith('lib:') else ['--test', 'api']
        run = subprocess.run(['cargo', 'test', '--features', 'ssr', *target, '--',
                              '--include-ignored', '--exact', test.removeprefix('lib:')],
                             cwd=work, env=env, capture_output=True, text=True)
        out = run.stdout + run.stderr
        if 'test result: FAILED' in out:
            return 'failed'
        if 'could not compile' in out:
            return 'does not compile'
        if 'test result: ok. 1 passed' in out:
            return 'passed'
        return 'did not run'

    baseline = {}
    try:
        for name, path, old, new, test in BREAKS:
            if only and name not in only:
                continue
            if (test.split('::')[0] in ('postgres', 'cluster') or 'over_three_nodes' in test) and not postgres:
                print(f'{name:32} {test}: not run (needs LIVECART_TEST_POSTGRES)', flush=True)
                continue
            # The test must pass as the tree is, or its failure below says nothing.
            if test not in baseline:
                baseline[test] = run_test(test)
            if baseline[test] != 'passed':
                print(f'{name:32} {test}: BROKEN CHECK: on the unchanged tree the test {baseline[test]}',
                      flush=True)
                red = False
                continue
            file = os.path.join(work, path)
            text = open(file).read()
            # One change, or several in the same file (tuples of old and new).
            olds, news = (old, new) if isinstance(old, tuple) else ((old,), (new,))
            if any(o not in text for o in olds):
                print(f'{name}: the text to break is gone from {path}; update this script')
                red = False
                continue
            for o, n in zip(olds, news):
                text = text.replace(o, n)
            open(file, 'w').write(text)
            outcome = run_test(test)
            subprocess.run(['git', 'checkout', '--', path], cwd=work, check=True)
            if outcome == 'failed':
                verdict = 'red, as it must be'
            elif outcome == 'does not compile':
                verdict = 'the break does not compile'
                red = False
            else:
                verdict = f'GREEN: the test did not catch it ({outcome})'
                red = False
            print(f'{name:32} {test}: {verdict}', flush=True)
    finally:
        subprocess.run(['git', 'worktree', 'remove', '--force', work], cwd=root)
    sys.exit(0 if red else 1)


if __name__ == '__main__':
    main()
