//! Every helper the tests share: real livecart servers (in-process on port 0
//! with a SQLite file of their own, or as a separate process that can be
//! killed), the client calls that drive them, the inventory alone on a
//! SQLite file, and throwaway PostgreSQL databases.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use futures::{SinkExt, StreamExt};
use leptos::config::LeptosOptions;
use livecart::server::config::Settings;
use livecart::server::inventory::{stock_opening_books, Inventory, Rules};
use livecart::server::metrics::Metrics;
use livecart::server::notifier::Notifier;
use livecart::server::store::Store;
use livecart::server::writer;
use livecart::server::Application;
use livecart::shared::stock::{StockSnapshot, FEATURED_BOOK};
use serde_json::Value;
use sqlx::Connection;
use tempfile::TempDir;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::net::TcpStream;
use tokio::sync::oneshot;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

pub const FEATURED: &str = "definitive-guide-to-the-internet";

pub type Socket = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// A server running inside the test process.
pub struct TestApp {
    pub addr: SocketAddr,
    pub database_url: String,
    pub http: reqwest::Client,
    /// Holds the database file until the test ends.
    _dir: TempDir,
    stop: Option<oneshot::Sender<()>>,
}

pub async fn spawn_app() -> TestApp {
    spawn_app_with(|_| {}).await
}

pub fn test_settings(dir: &Path) -> Settings {
    Settings {
        database_url: format!("sqlite://{}", dir.join("shop.db").display()),
        ..Settings::default()
    }
}

pub async fn spawn_app_with(tweak: impl FnOnce(&mut Settings)) -> TestApp {
    spawn_app_with_site(tweak, |_| {}).await
}

/// A server whose Leptos options (where the site's files are, whether their
/// names are hashed) the test sets too.
pub async fn spawn_app_with_site(
    tweak: impl FnOnce(&mut Settings),
    site: impl FnOnce(&mut LeptosOptions),
) -> TestApp {
    let dir = tempfile::tempdir().expect("temp dir");
    let mut settings = test_settings(dir.path());
    tweak(&mut settings);
    let mut options = LeptosOptions::builder()
        .output_name("livecart")
        .site_addr(SocketAddr::from(([127, 0, 0, 1], 0)))
        .build();
    site(&mut options);
    let database_url = settings.database_url.clone();
    let app = Application::build(settings, options)
        .await
        .expect("server starts");
    let addr = app.local_addr().expect("bound");
    let (stop, stopped) = oneshot::channel::<()>();
    tokio::spawn(app.run_until_stopped(async move {
        let _ = stopped.await;
    }));
    TestApp {
        addr,
        database_url,
        http: shopper_client(),
        _dir: dir,
        stop: Some(stop),
    }
}

/// An HTTP client that keeps its cookies, like one browser.
pub fn shopper_client() -> reqwest::Client {
    reqwest::Client::builder()
        .cookie_store(true)
        .timeout(Duration::from_secs(30))
        .build()
        .expect("client")
}

impl TestApp {
    /// Adds a staff account straight in the shop's database, as
    /// `livecart staff add` does (an owner's).
    pub async fn add_staff(&self, name: &str, password: &str) {
        self.add_staff_as(name, password, None).await;
    }

    /// The same with a role, as `livecart staff add NAME --role ROLE` does.
    pub async fn add_staff_as(
        &self,
        name: &str,
        password: &str,
        role: Option<livecart::server::staff::StaffRole>,
    ) {
        let store = livecart::server::store::Store::open(&self.database_url)
            .await
            .expect("store");
        let name = livecart::server::staff::StaffName::parse(name).expect("name");
        livecart::server::staff::put_staff(&store, &name, password, role)
            .await
            .expect("staff added");
    }

    /// A client signed in as staff.
    pub async fn staff_client(&self, name: &str, password: &str) -> reqwest::Client {
        let client = shopper_client();
        let response = client
            .post(self.url("/api/admin/sign-in"))
            .form(&[("name", name), ("password", password)])
            .send()
            .await
            .expect("sign in");
        assert_eq!(
            response.status(),
            200,
            "{}",
            response.text().await.unwrap_or_default()
        );
        client
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

/// A running shop a test can talk to: a server in the test process, a
/// server process, nginx in front of nodes, or a node known by its address.
pub trait RunningShop {
    /// Where it listens.
    fn addr(&self) -> SocketAddr;

    /// The URL of `path` on it: `shop.url("/api/stock")`.
    fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr())
    }

    /// The WebSocket URL of `path` on it: `shop.ws_url("/api/stock/ws")`.
    fn ws_url(&self, path: &str) -> String {
        format!("ws://{}{path}", self.addr())
    }
}

impl RunningShop for TestApp {
    fn addr(&self) -> SocketAddr {
        self.addr
    }
}

pub async fn stock(shop: &impl RunningShop) -> StockSnapshot {
    reqwest::get(shop.url("/api/stock"))
        .await
        .expect("GET /api/stock")
        .json()
        .await
        .expect("snapshot JSON")
}

/// What a client holds after taking `messages` in order: each must follow on
/// from the one before (no gap), as a page's live stock takes them.
pub fn merged(messages: impl IntoIterator<Item = StockSnapshot>) -> StockSnapshot {
    use livecart::shared::stock::Absorbed;
    let mut held = StockSnapshot::default();
    for message in messages {
        let (version, since) = (message.version, message.since);
        assert_eq!(
            held.absorb(message),
            Absorbed::Applied,
            "version {version} (since {since:?}) follows on from {}",
            held.version
        );
    }
    held
}

/// The value of one series of `/metrics`, e.g.
/// `livecart_subscribers{transport="Websocket"}`.
pub async fn gauge(shop: &impl RunningShop, series: &str) -> i64 {
    let text = reqwest::get(shop.url("/metrics"))
        .await
        .expect("GET /metrics")
        .text()
        .await
        .expect("metrics text");
    text.lines()
        .find_map(|line| {
            line.strip_prefix(series)
                .map(|v| v.trim().parse::<i64>().expect("a number"))
        })
        .unwrap_or(0)
}

/// Waits until the series reads `want`; returns what it read last.
pub async fn gauge_reaches(
    shop: &impl RunningShop,
    series: &str,
    want: i64,
    within: Duration,
) -> i64 {
    let deadline = tokio::time::Instant::now() + within;
    loop {
        let value = gauge(shop, series).await;
        if value == want || tokio::time::Instant::now() > deadline {
            return value;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

pub const WEBSOCKETS: &str = r#"livecart_subscribers{transport="Websocket"}"#;
pub const LONG_POLLS: &str = r#"livecart_subscribers{transport="LongPoll"}"#;
pub const BURTS_LONG_POLLS: &str = r#"livecart_subscribers{transport="BurtsLongPoll"}"#;
pub const BURTS_WEBSOCKETS: &str = r#"livecart_subscribers{transport="BurtsWebsocket"}"#;

/// A page's HTML, as the test app's shopper gets it (200 expected).
pub async fn page_html(app: &TestApp, path: &str) -> String {
    let response = app.http.get(app.url(path)).send().await.expect("GET");
    assert_eq!(response.status(), 200, "{path}");
    response.text().await.expect("HTML")
}

/// What `client` is answered at `path` (200 expected): a page as a signed-in
/// staff member or a given shopper sees it.
pub async fn text_as(shop: &impl RunningShop, client: &reqwest::Client, path: &str) -> String {
    let response = client.get(shop.url(path)).send().await.expect("GET");
    assert_eq!(response.status(), 200, "{path}");
    response.text().await.expect("text")
}

/// How many books a catalog page lists.
pub fn cards(html: &str) -> usize {
    html.matches("class=\"book-card").count()
}

/// One book as `/api/books` lists it.
pub async fn listed_book(shop: &impl RunningShop, id: &str) -> Value {
    listed_books(shop)
        .await
        .into_iter()
        .find(|b| b["id"] == id)
        .unwrap_or_else(|| panic!("{id} is listed"))
}

/// Every book `/api/books` lists, in shelf order.
pub async fn listed_books(shop: &impl RunningShop) -> Vec<Value> {
    let books: Value = reqwest::get(shop.url("/api/books"))
        .await
        .expect("GET /api/books")
        .json()
        .await
        .expect("books JSON");
    books.as_array().expect("a list").clone()
}

pub async fn available(shop: &impl RunningShop, book: &str) -> u32 {
    stock(shop).await.available(book).expect("book in stock")
}

/// `POST /cart` as the book's jQuery client sends it.
pub async fn burts_cart(shop: &impl RunningShop, session: &str, action: &str) -> reqwest::Response {
    reqwest::Client::new()
        .post(shop.url("/cart"))
        .form(&[("session", session), ("action", action)])
        .send()
        .await
        .expect("POST /cart")
}

/// The storefront's Add to cart, as its script calls the server function.
pub async fn reserve(
    shop: &impl RunningShop,
    client: &reqwest::Client,
    book: &str,
) -> (u16, Value) {
    call(shop, client, "/api/cart/reserve", book).await
}

pub async fn return_copy(
    shop: &impl RunningShop,
    client: &reqwest::Client,
    book: &str,
) -> (u16, Value) {
    call(shop, client, "/api/cart/return", book).await
}

async fn call(
    shop: &impl RunningShop,
    client: &reqwest::Client,
    path: &str,
    book: &str,
) -> (u16, Value) {
    post_form(shop, client, path, &[("book", book)]).await
}

/// The staff page's sign-in, as its script calls it.
pub async fn sign_in(
    shop: &impl RunningShop,
    client: &reqwest::Client,
    name: &str,
    password: &str,
) -> (u16, Value) {
    post_form(
        shop,
        client,
        "/api/admin/sign-in",
        &[("name", name), ("password", password)],
    )
    .await
}

/// Calls a server function with a form, as its script does; the status and
/// the JSON answer.
pub async fn post_form(
    shop: &impl RunningShop,
    client: &reqwest::Client,
    path: &str,
    form: &[(&str, &str)],
) -> (u16, Value) {
    let response = client
        .post(shop.url(path))
        .form(form)
        .send()
        .await
        .expect("server function call");
    let status = response.status().as_u16();
    let body = response.json::<Value>().await.unwrap_or(Value::Null);
    (status, body)
}

pub async fn open_socket(shop: &impl RunningShop, path: &str) -> Socket {
    let url = shop.ws_url(path);
    let (socket, _) = tokio_tungstenite::connect_async(url)
        .await
        .expect("websocket opens");
    socket
}

/// The next text message, or None if none comes within `wait`.
pub async fn next_text(socket: &mut Socket, wait: Duration) -> Option<String> {
    let deadline = tokio::time::Instant::now() + wait;
    loop {
        let message = tokio::time::timeout_at(deadline, socket.next())
            .await
            .ok()??;
        match message.ok()? {
            Message::Text(text) => return Some(text.to_string()),
            Message::Ping(payload) => {
                let _ = socket.send(Message::Pong(payload)).await;
            }
            Message::Close(_) => return None,
            _ => {}
        }
    }
}

/// livecart as its own process, so a test can kill it.
pub struct ServerProcess {
    pub addr: SocketAddr,
    child: tokio::process::Child,
    /// Every line the server logs after it started listening.
    pub log: tokio::sync::mpsc::UnboundedReceiver<String>,
}

impl RunningShop for ServerProcess {
    fn addr(&self) -> SocketAddr {
        self.addr
    }
}

impl ServerProcess {
    pub async fn start(db: &Path) -> ServerProcess {
        ServerProcess::start_with(db, &[]).await
    }

    pub async fn start_with(db: &Path, env: &[(&str, &str)]) -> ServerProcess {
        let mut command = tokio::process::Command::new(env!("CARGO_BIN_EXE_livecart"));
        command
            .env(
                "LIVECART_DATABASE_URL",
                format!("sqlite://{}", db.display()),
            )
            .env("LEPTOS_SITE_ADDR", "127.0.0.1:0")
            .env("LIVECART_LOG", "info")
            .envs(env.iter().copied())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .kill_on_drop(true);
        let mut child = command.spawn().expect("livecart starts");
        let stdout = child.stdout.take().expect("stdout");
        let mut lines = BufReader::new(stdout).lines();
        let addr = tokio::time::timeout(Duration::from_secs(30), async {
            while let Some(line) = lines.next_line().await.expect("read log") {
                if let Some(at) = line.find("http://") {
                    let addr = line[at + 7..].trim().to_string();
                    return addr.parse::<SocketAddr>().expect("address in log");
                }
            }
            panic!("livecart exited before listening");
        })
        .await
        .expect("livecart listens within 30 s");
        // Keep draining the log so the child never blocks on a full pipe.
        let (log_tx, log) = tokio::sync::mpsc::unbounded_channel();
        tokio::spawn(async move {
            while let Ok(Some(line)) = lines.next_line().await {
                let _ = log_tx.send(line);
            }
        });
        ServerProcess { addr, child, log }
    }

    /// The next logged line containing every one of `parts`, within `wait`.
    pub async fn logged(&mut self, parts: &[&str], wait: Duration) -> Option<String> {
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            let line = tokio::time::timeout_at(deadline, self.log.recv())
                .await
                .ok()??;
            if parts.iter().all(|p| line.contains(p)) {
                return Some(line);
            }
        }
    }

    /// `kill -9`: no chance to flush or clean up.
    pub async fn kill_hard(mut self) {
        self.child.start_kill().expect("SIGKILL");
        let _ = self.child.wait().await;
    }

    /// SIGTERM, then wait for a clean exit.
    pub async fn stop(mut self) -> std::process::ExitStatus {
        let pid = self.child.id().expect("running") as i32;
        let status = std::process::Command::new("kill")
            .args(["-TERM", &pid.to_string()])
            .status()
            .expect("kill -TERM");
        assert!(status.success());
        tokio::time::timeout(Duration::from_secs(15), self.child.wait())
            .await
            .expect("exits within 15 s after SIGTERM")
            .expect("exit status")
    }
}

pub fn db_path(dir: &TempDir) -> PathBuf {
    dir.path().join("shop.db")
}

/// The inventory alone, without a server, on a fresh SQLite file with the
/// opening books: for tests of the writer and the rules themselves. Borrow
/// its parts (`&shop.inventory`); it cannot be taken apart (see `Drop`).
pub struct InventoryOnDisk {
    pub inventory: Inventory,
    pub notifier: Notifier,
    pub metrics: Metrics,
    /// The database file's URL, for a test's own connection.
    pub url: String,
    pub rules: Rules,
    _dir: TempDir,
}

impl InventoryOnDisk {
    /// Each shopper may hold `copies_per_shopper` of a book and
    /// `books_per_cart` books; holds last 15 minutes, an hour at most.
    pub async fn start(copies_per_shopper: u32, books_per_cart: u32) -> InventoryOnDisk {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", dir.path().join("shop.db").display());
        let store = Store::open(&url).await.unwrap();
        stock_opening_books(&store).await.unwrap();
        let rules = Rules {
            max_copies_per_shopper: copies_per_shopper,
            max_books_per_cart: books_per_cart,
            reservation_ttl: Duration::from_secs(900),
            max_hold_age: Duration::from_secs(3600),
            line_offer_ttl: Duration::from_secs(600),
            line_places_per_address: 4,
        };
        let notifier = Notifier::new(store.stock().await.unwrap(), FEATURED_BOOK);
        let metrics = Metrics::new();
        // As the shop starts it (Application::build), without a staff desk.
        let (writer, _staff_sessions) = writer::start(
            store.clone(),
            notifier.clone(),
            rules.clone(),
            metrics.clone(),
        );
        let inventory = Inventory::new(store, rules.clone(), writer);
        InventoryOnDisk {
            inventory,
            notifier,
            metrics,
            url,
            rules,
            _dir: dir,
        }
    }
}

/// A type with `Drop` cannot be destructured by moving its fields out, so
/// the compiler refuses `let InventoryOnDisk { inventory, .. } = …`, which
/// would drop the temporary directory (and the database under the running
/// inventory) at the end of that statement: a test once failed a third of
/// its runs that way.
impl Drop for InventoryOnDisk {
    fn drop(&mut self) {}
}

// PostgreSQL: the tests that need it are #[ignore]d, and run when
// LIVECART_TEST_POSTGRES names a server to create their databases on.

const NEEDS_POSTGRES: &str = "LIVECART_TEST_POSTGRES must name a PostgreSQL server \
     (e.g. postgres://postgres@127.0.0.1:5432/test): scripts/test.sh sets it when one answers";

/// A database of the test's own on the test PostgreSQL, dropped on drop.
pub struct TestDatabase {
    pub admin_url: String,
    pub name: String,
    pub url: String,
}

impl TestDatabase {
    pub async fn create() -> TestDatabase {
        let admin_url = std::env::var("LIVECART_TEST_POSTGRES").expect(NEEDS_POSTGRES);
        let mut admin = sqlx::postgres::PgConnection::connect(&admin_url)
            .await
            .expect("PostgreSQL answers");
        let name = format!("livecart_test_{:016x}", rand_suffix());
        sqlx::query(&format!("CREATE DATABASE {name}"))
            .execute(&mut admin)
            .await
            .expect("create database");
        let base = admin_url
            .rsplit_once('/')
            .map(|(base, _)| base.to_string())
            .unwrap_or(admin_url.clone());
        TestDatabase {
            url: format!("{base}/{name}"),
            admin_url,
            name,
        }
    }
}

impl TestDatabase {
    /// A connection to the server's admin database, outside this one.
    pub async fn admin(&self) -> sqlx::postgres::PgConnection {
        sqlx::postgres::PgConnection::connect(&self.admin_url)
            .await
            .expect("PostgreSQL answers")
    }

    /// Lets new connections into the database, or refuses them (those
    /// open stay open), as a server that is restarting does.
    pub async fn allow_connections(&self, allowed: bool) {
        sqlx::query(&format!(
            "ALTER DATABASE {} ALLOW_CONNECTIONS {allowed}",
            self.name
        ))
        .execute(&mut self.admin().await)
        .await
        .expect("ALTER DATABASE");
    }
}

impl Drop for TestDatabase {
    /// Drops the database even when the test failed, and even though the
    /// test's servers still hold connections (FORCE ends them).
    fn drop(&mut self) {
        let (admin_url, name) = (self.admin_url.clone(), self.name.clone());
        let dropped = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("runtime");
            runtime.block_on(async move {
                let mut admin = sqlx::postgres::PgConnection::connect(&admin_url).await?;
                sqlx::query(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                    .execute(&mut admin)
                    .await
                    .map(|_| ())
            })
        })
        .join();
        if !matches!(dropped, Ok(Ok(()))) {
            eprintln!("could not drop test database {}: {dropped:?}", self.name);
        }
    }
}

fn rand_suffix() -> u64 {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u128(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos(),
    );
    h.finish()
}

/// `livecart books import FILE` against the database at `database_url`, as
/// an operator runs it beside the shop.
pub async fn import_books(database_url: &str, file: &std::path::Path) -> std::process::Output {
    tokio::process::Command::new(env!("CARGO_BIN_EXE_livecart"))
        .args(["books", "import"])
        .arg(file)
        .env("LIVECART_DATABASE_URL", database_url)
        .env("LIVECART_LOG", "warn")
        .output()
        .await
        .expect("livecart books import runs")
}

/// Signs in as staff and returns the session cookie (`name=value`), for a
/// client that keeps no cookies of its own (a WebSocket).
pub async fn staff_cookie(shop: &impl RunningShop, name: &str, password: &str) -> String {
    let response = reqwest::Client::new()
        .post(shop.url("/api/admin/sign-in"))
        .form(&[("name", name), ("password", password)])
        .send()
        .await
        .expect("sign in");
    assert_eq!(response.status(), 200);
    let set = response
        .headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|v| v.starts_with("livecart_staff="))
        .expect("a staff cookie")
        .to_string();
    set.split(';').next().unwrap_or_default().to_string()
}

/// The staff desk's socket, opened with `cookie` (none: refused).
pub async fn desk_socket(
    shop: &impl RunningShop,
    cookie: Option<&str>,
) -> Result<Socket, tokio_tungstenite::tungstenite::Error> {
    use tokio_tungstenite::tungstenite::client::IntoClientRequest;
    let mut request = shop
        .ws_url("/api/admin/desk/ws")
        .into_client_request()
        .expect("a request");
    if let Some(cookie) = cookie {
        request
            .headers_mut()
            .insert("cookie", cookie.parse().expect("a header"));
    }
    tokio_tungstenite::connect_async(request)
        .await
        .map(|(socket, _)| socket)
}

/// Reads the desk's socket until its figures satisfy `wanted`, for at most
/// `wait`; the last figures read, whether or not they did.
pub async fn desk_until(
    socket: &mut Socket,
    wait: Duration,
    wanted: impl Fn(&livecart::shared::views::DeskFigures) -> bool,
) -> Option<livecart::shared::views::DeskFigures> {
    let deadline = tokio::time::Instant::now() + wait;
    let mut last = None;
    while let Some(text) = next_text(socket, deadline - tokio::time::Instant::now()).await {
        let figures: livecart::shared::views::DeskFigures =
            serde_json::from_str(&text).expect("the desk's figures");
        if wanted(&figures) {
            return Some(figures);
        }
        last = Some(figures);
    }
    last
}
