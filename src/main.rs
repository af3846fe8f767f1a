//! The livecart server.

use std::process::ExitCode;

use livecart::server::clock::now_ms;
use livecart::server::config::{ConfigError, Settings};
use livecart::server::inventory::lines::parse_opening;
use livecart::server::inventory::BookId;
use livecart::server::staff::{put_staff, StaffError, StaffName, StaffRole};
use livecart::server::store::{Store, StoreError};
use livecart::server::{leptos_options, open_inventory, Application};
use tracing_subscriber::EnvFilter;

/// mimalloc gives memory back after thousands of connections close at once
/// (a reconnect storm); glibc's allocator kept it (see the README's
/// reconnect-storm figures), and idle sockets cost no more under it.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Every subcommand `run` accepts is on the first lines.
const USAGE: &str = "usage: livecart [serve]
       livecart staff add NAME [--role owner|clerk]
       livecart books import FILE.csv
       livecart orders export [--since DATE]
       livecart nodes
       livecart lines launch BOOK --copies N --at TIME
       livecart lines list
       livecart lines show BOOK
       livecart version
       livecart help

serve (the default) runs the shop. Settings come from Leptos.toml ([livecart])
and LIVECART_* environment variables; the address from LEPTOS_SITE_ADDR
(default 127.0.0.1:3000).

staff add NAME adds a staff account (or sets a new password for it). The
password is read without echo from the terminal, or as one line from stdin.
--role clerk makes (or turns) it a clerk's: restock and view, no prices, no
new books, no lines; --role owner, everything. A new account without --role
is an owner's; an existing one keeps its role. Either change signs the
account out everywhere.

books import FILE.csv upserts books by id from a CSV file with a header row
naming its columns: id (optional: made from the title), title, author, isbn
(optional), price (like 20.00) and copies. The file is imported whole or not
at all; a bad line is named with its reason. A running shop publishes the
imported counts to its open pages within a second.

orders export writes every order to stdout as CSV, one row per book of each
order, oldest first (order, placed_at, book, title, copies, price,
line_total, order_total; money as 19.99), from --since DATE on (2026-12-01
or 2026-12-01T09:30:00Z, UTC) if given. It streams: a year of orders never
sits in memory. The same as /admin/orders.csv for the shop's owner.

nodes prints every node of the shop on record (each writes its row to the
database every 2 s): id, address, version, start, last beat, open
connections by transport, and up or gone (silent for more than 10 s).

lines launch BOOK --copies N --at TIME schedules a launch as the staff page
does: N more copies of BOOK, all for its line, which opens at TIME (RFC 3339
in UTC such as 2026-12-24T10:00:00Z, or a wait such as +30s). Everyone who
joins before the opening is put in a random order then. lines list prints
the newest lines; lines show BOOK prints a book's line, its draw and what
became of each place.

version (or --version, -V) prints livecart's version and its SQLite's.
help (or --help, -h) prints this.";

/// Why a subcommand failed; printed after "livecart: ".
#[derive(Debug, thiserror::Error)]
enum CommandError {
    #[error("cannot read the password: {0}")]
    ReadPassword(std::io::Error),
    #[error("the two passwords differ")]
    PasswordsDiffer,
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Staff(#[from] StaffError),
    #[error("{0}")]
    Usage(String),
    #[error(transparent)]
    Export(#[from] livecart::server::order_export::ExportError),
    #[error("writing: {0}")]
    Write(#[from] std::io::Error),
}

fn main() -> ExitCode {
    // Leptos names the site's files after LEPTOS_OUTPUT_NAME, which
    // cargo-leptos sets; a binary built by plain cargo gets the crate's name.
    // Set before any thread exists.
    if std::env::var_os("LEPTOS_OUTPUT_NAME").is_none()
        && option_env!("LEPTOS_OUTPUT_NAME").is_none()
    {
        std::env::set_var("LEPTOS_OUTPUT_NAME", env!("CARGO_PKG_NAME"));
    }
    match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime.block_on(run()),
        Err(e) => {
            eprintln!("livecart: cannot start the runtime: {e}");
            ExitCode::FAILURE
        }
    }
}

async fn run() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    // The server logs to stdout; a command's stdout is its output (`orders
    // export` writes CSV there), so a command logs to stderr.
    let serving = matches!(args.first().map(String::as_str), None | Some("serve"));
    let filter = EnvFilter::try_from_env("LIVECART_LOG")
        .unwrap_or_else(|_| EnvFilter::new("info,sqlx=warn"));
    if serving {
        tracing_subscriber::fmt()
            .with_env_filter(filter)
            .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stdout()))
            .init();
    } else {
        tracing_subscriber::fmt()
            .with_env_filter(filter)
            .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
            .with_writer(std::io::stderr)
            .init();
    }

    match args
        .iter()
        .map(String::as_str)
        .collect::<Vec<_>>()
        .as_slice()
    {
        [] | ["serve"] => serve().await,
        ["staff", "add", name] => add_staff(name, None).await,
        ["staff", "add", name, "--role", role] => add_staff(name, Some(role)).await,
        ["version" | "--version" | "-V"] => version().await,
        ["books", "import", file] => import_books(file).await,
        ["nodes"] => list_nodes().await,
        ["orders", "export"] => export_orders(None).await,
        ["orders", "export", "--since", since] => export_orders(Some(since)).await,
        ["lines", "launch", book, "--copies", copies, "--at", at] => launch(book, copies, at).await,
        ["lines", "list"] => list_lines().await,
        ["lines", "show", book] => show_line(book).await,
        ["help" | "--help" | "-h"] => {
            println!("{USAGE}");
            ExitCode::SUCCESS
        }
        _ => {
            eprintln!("{USAGE}");
            ExitCode::from(2)
        }
    }
}

async fn serve() -> ExitCode {
    let started = async {
        let settings = Settings::load()?;
        let options = leptos_options()?;
        Application::build(settings, options).await
    };
    let app = match started.await {
        Ok(app) => app,
        Err(e) => {
            eprintln!("livecart: {e}");
            return ExitCode::FAILURE;
        }
    };
    match app.local_addr() {
        Ok(addr) => tracing::info!("livecart is open at http://{addr}"),
        Err(e) => tracing::warn!("listening, address unknown: {e}"),
    }
    if let Err(e) = app.run_until_stopped(stop_signal()).await {
        eprintln!("livecart: {e}");
        return ExitCode::FAILURE;
    }
    ExitCode::SUCCESS
}

async fn import_books(file: &str) -> ExitCode {
    let started = std::time::Instant::now();
    let lines = match livecart::server::import::read_csv(std::path::Path::new(file)) {
        Ok(lines) => lines,
        Err(e) => {
            eprintln!("livecart: {file}: {e}; nothing was imported");
            return ExitCode::FAILURE;
        }
    };
    let imported = async {
        let settings = Settings::load().map_err(|e| e.to_string())?;
        let store = Store::open(&settings.database_url)
            .await
            .map_err(|e| e.to_string())?;
        livecart::server::inventory::stock_opening_books(&store)
            .await
            .map_err(|e| e.to_string())?;
        let bar = indicatif::ProgressBar::new(lines.len() as u64).with_style(
            indicatif::ProgressStyle::with_template("{bar:40} {pos}/{len} books, {eta} left")
                .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
        );
        let done = store
            .import_books(&lines, now_ms(), |n| bar.set_position(n as u64))
            .await
            .map_err(|e| e.to_string());
        bar.finish_and_clear();
        done
    };
    match imported.await {
        Ok(done) => {
            let seconds = started.elapsed().as_secs_f64();
            println!(
                "imported {} books from {file} ({} added, {} updated) in {seconds:.2} s, \
                 {:.0} books/s; stock version {}",
                lines.len(),
                done.added,
                done.updated,
                lines.len() as f64 / seconds.max(1e-9),
                done.version
            );
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("livecart: {file}: {e}; nothing was imported");
            ExitCode::FAILURE
        }
    }
}

/// The version, and the SQLite it carries (its durability depends on it).
/// The shop's inventory for a `livecart lines …` command, with the
/// server's settings (so it writes to the same database).
async fn command_inventory() -> Result<livecart::server::inventory::Inventory, String> {
    let settings = Settings::load().map_err(|e| e.to_string())?;
    open_inventory(&settings).await.map_err(|e| e.to_string())
}

async fn launch(book: &str, copies: &str, at: &str) -> ExitCode {
    let launched = async {
        let book = BookId::parse(book).map_err(|e| e.to_string())?;
        let copies: u32 = copies
            .parse()
            .map_err(|_| format!("--copies {copies:?} is not a whole number"))?;
        let opens_at = parse_opening(at, now_ms())?;
        let inventory = command_inventory().await?;
        inventory
            .launch(&book, copies, opens_at)
            .await
            .map_err(|e| e.to_string())?;
        Ok::<_, String>((book, opens_at))
    };
    match launched.await {
        Ok((book, opens_at)) => {
            println!(
                "{}: a launch of {copies} copies opens at {} UTC",
                book.as_str(),
                livecart::app::utc_time(opens_at)
            );
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("livecart: {e}");
            ExitCode::FAILURE
        }
    }
}

async fn list_lines() -> ExitCode {
    let listed = async {
        let inventory = command_inventory().await?;
        inventory.lines(100).await.map_err(|e| e.to_string())
    };
    match listed.await {
        Ok(lines) => {
            println!("book\tkind\tstate\topens (UTC)\tserving\twaiting\toffered\tcopies left");
            for (line, _title) in lines {
                println!(
                    "{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}",
                    line.book_id,
                    line.kind,
                    format!("{:?}", line.state).to_lowercase(),
                    livecart::app::utc_time(line.opens_at),
                    line.serving,
                    line.waiting,
                    line.offers_open,
                    line.copies_left
                );
            }
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("livecart: {e}");
            ExitCode::FAILURE
        }
    }
}

async fn show_line(book: &str) -> ExitCode {
    let shown = async {
        let id = BookId::parse(book).map_err(|e| e.to_string())?;
        let inventory = command_inventory().await?;
        let line = inventory
            .line_record(&id)
            .await
            .map_err(|e| e.to_string())?
            .ok_or_else(|| format!("{book} has never had a line"))?;
        let (places, counts) = inventory
            .line_places(&line, u32::MAX)
            .await
            .map_err(|e| e.to_string())?;
        Ok::<_, String>((line, places, counts))
    };
    match shown.await {
        Ok((line, places, counts)) => {
            let drawn = line
                .drawn_at
                .map_or("not yet".to_string(), livecart::app::utc_time);
            println!(
                "{}: {} line, {}; opens {} UTC, drawn {drawn}; serving {}, {} waiting, {} offered, {} copies left",
                line.book_id,
                line.kind,
                format!("{:?}", line.state).to_lowercase(),
                livecart::app::utc_time(line.opens_at),
                line.serving,
                line.waiting,
                line.offers_open,
                line.copies_left
            );
            let counts: Vec<String> = counts.iter().map(|(s, n)| format!("{n} {s}")).collect();
            println!("places: {}", counts.join(", "));
            println!("place\tshopper\tjoined (UTC)\tstate\toffered until (UTC)");
            for place in places {
                println!(
                    "{}\t{}\t{}\t{}\t{}",
                    place.place.map_or("-".to_string(), |p| p.to_string()),
                    place.shopper,
                    livecart::app::utc_time(place.joined_at),
                    place.state,
                    place
                        .offer_until
                        .map_or("-".to_string(), livecart::app::utc_time)
                );
            }
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("livecart: {e}");
            ExitCode::FAILURE
        }
    }
}

async fn version() -> ExitCode {
    match livecart::server::store::sqlite_version().await {
        Ok(sqlite) => {
            println!("livecart {} (SQLite {sqlite})", env!("CARGO_PKG_VERSION"));
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("livecart: {e}");
            ExitCode::FAILURE
        }
    }
}

async fn list_nodes() -> ExitCode {
    let listed = async {
        let settings = Settings::load()?;
        let store = Store::open(&settings.database_url).await?;
        let now = livecart::server::clock::now_ms();
        let nodes = livecart::server::nodes::NodeList::new(store)
            .read(now)
            .await?;
        Ok::<_, CommandError>((now, nodes))
    };
    match listed.await {
        Ok((now, nodes)) => {
            println!(
                "{:<28} {:<22} {:<8} {:>10} {:>10}  {:<5} connections",
                "node", "address", "version", "up for s", "beat s ago", "state"
            );
            for node in nodes {
                let connections: Vec<String> = node
                    .connections
                    .iter()
                    .map(|(transport, n)| format!("{transport}={n}"))
                    .collect();
                println!(
                    "{:<28} {:<22} {:<8} {:>10} {:>10}  {:<5} {}",
                    node.id,
                    node.address,
                    node.version,
                    (node.last_beat - node.started_at) / 1000,
                    (now - node.last_beat) / 1000,
                    if node.up { "up" } else { "gone" },
                    connections.join(" ")
                );
            }
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("livecart: {e}");
            ExitCode::FAILURE
        }
    }
}

async fn export_orders(since: Option<&str>) -> ExitCode {
    use std::io::Write;
    let exported = async {
        let since = since
            .map(livecart::server::order_export::parse_since)
            .transpose()
            .map_err(CommandError::Usage)?
            .unwrap_or(0);
        let settings = Settings::load()?;
        let store = Store::open(&settings.database_url).await?;
        let stdout = std::io::stdout();
        let orders =
            livecart::server::order_export::write_csv(store.sold_lines_since(since), |chunk| {
                let written = stdout
                    .lock()
                    .write_all(&chunk)
                    .map_err(livecart::server::order_export::ExportError::from);
                std::future::ready(written)
            })
            .await?;
        stdout.lock().flush()?;
        Ok::<_, CommandError>(orders)
    };
    match exported.await {
        Ok(orders) => {
            eprintln!("{orders} orders exported");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("livecart: {e}");
            ExitCode::FAILURE
        }
    }
}

async fn add_staff(name: &str, role: Option<&str>) -> ExitCode {
    let added = async {
        let name = StaffName::parse(name)?;
        let role = role.map(StaffRole::parse).transpose()?;
        let password = read_password(&name)?;
        let settings = Settings::load()?;
        let store = Store::open(&settings.database_url).await?;
        put_staff(&store, &name, &password, role).await?;
        Ok::<_, CommandError>(name)
    };
    match added.await {
        Ok(name) => {
            println!(
                "staff account {:?} is ready; sign in at /admin",
                name.as_str()
            );
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("livecart: {e}");
            ExitCode::FAILURE
        }
    }
}

/// From the terminal without echo (typed twice), or one line from stdin.
fn read_password(name: &StaffName) -> Result<String, CommandError> {
    use std::io::{BufRead, IsTerminal};
    if std::io::stdin().is_terminal() {
        let first = rpassword::prompt_password(format!("Password for {}: ", name.as_str()))
            .map_err(CommandError::ReadPassword)?;
        let again = rpassword::prompt_password("Again: ").map_err(CommandError::ReadPassword)?;
        if first != again {
            return Err(CommandError::PasswordsDiffer);
        }
        Ok(first)
    } else {
        let mut line = String::new();
        std::io::stdin()
            .lock()
            .read_line(&mut line)
            .map_err(CommandError::ReadPassword)?;
        Ok(line.trim_end_matches(['\r', '\n']).to_string())
    }
}

/// Resolves on Ctrl-C or SIGTERM.
async fn stop_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = terminate => {},
    }
    tracing::info!("shutting down");
}

#[cfg(test)]
mod tests {
    use super::USAGE;

    #[test]
    fn the_usage_lines_name_every_subcommand() {
        let lines = USAGE.split("\n\n").next().unwrap();
        for command in [
            "livecart [serve]",
            "livecart staff add NAME",
            "livecart books import FILE",
            "livecart version",
            "livecart help",
        ] {
            assert!(
                lines.contains(command),
                "{command} is missing from:\n{lines}"
            );
        }
    }
}
