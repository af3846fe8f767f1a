//! livecart's load generator. `loadgen suite` starts each server (livecart,
//! a Node.js `ws` peer and a bare tokio + tungstenite floor) fresh for every
//! case, pinned to one core, runs the case from this process, and writes a
//! table, JSON and an SVG chart. Run it through bench/run.sh.

mod cases;
mod catalog;
mod cluster;
mod cluster_launch;
mod launch;
mod net;
mod report;
mod server;

use std::path::PathBuf;
use std::time::Duration;

use cases::Via;
use report::{Metric, Run};
use serde_json::{json, Value};
use server::{Binaries, Kind, Running};

const USAGE: &str = "usage: loadgen suite --out DIR [--repeat N] [--servers livecart,node,floor] [--core N] [--quick] [--only TEXT]
  [--catalog N (books imported into livecart before each run)]
  --livecart PATH  --floor PATH  --node-script PATH   (defaults: built paths under CARGO_TARGET_DIR)
       loadgen catalog --books N --out FILE.csv   (a catalog for `livecart books import`)
       loadgen launch [--pages N] [--copies N] [--repeat N] [--core N] [--livecart PATH] [--out DIR]
       loadgen cluster --postgres URL [--out DIR] [--repeat N] [--core N] [--core-b N] [--subscribers N] [--seconds S] [--livecart PATH] [--only TEXT]
                        (nodes on one PostgreSQL: cross-node delivery, reserve/return on 1 and 2 nodes)
       loadgen cluster-launch --postgres URL [--case all|scripts] [--nodes N] [--pages N] [--copies N] [--join-rate R] [--kill-node-after S] [--core N] [--load-core N] [--livecart PATH] [--out DIR]
                        (launch day: N nodes on one PostgreSQL, one page process per node)";

/// One case of the matrix.
#[derive(Clone, Copy)]
enum Case {
    IdleSockets {
        n: usize,
    },
    FanOut {
        n: usize,
        api: bool,
    },
    LongPollWake {
        n: usize,
    },
    /// `n` long polls held open, for the memory each costs the server:
    /// the pages' `/api/stock/poll` (`api`) or Burt's `/cart/status`.
    HeldPolls {
        n: usize,
        api: bool,
    },
    ReserveReturn {
        via: Via,
        connections: usize,
        seconds: f64,
        /// With one staff desk open on `/api/admin/desk/ws` meanwhile.
        desk: bool,
    },
    Race,
    SignInBurst {
        n: usize,
    },
    /// The catalog page, rendered again and again.
    CatalogPage,
    /// A book's page, rendered again and again.
    BookPage,
    /// A book's cover, drawn again and again (`/covers/:id.svg`).
    Cover,
    /// The bytes a first visit to `/` transfers.
    FirstVisit,
    /// `n` pages' sockets dropped at once, back with the page's backoff.
    ReconnectStorm {
        n: usize,
    },
}

impl Case {
    fn label(self) -> String {
        match self {
            Case::IdleSockets { n } => format!("idle WebSockets {n}"),
            Case::FanOut { n, api: false } => format!("fan-out {n} subscribers"),
            Case::FanOut { n, api: true } => format!("fan-out {n} subscribers /api/stock/ws"),
            Case::LongPollWake { n } => format!("long-poll wake {n}"),
            Case::HeldPolls { n, api: true } => format!("held long polls {n} /api/stock/poll"),
            Case::HeldPolls { n, api: false } => format!("held long polls {n} /cart/status"),
            Case::ReserveReturn {
                via: Via::BookProtocol,
                connections,
                ..
            } => format!("reserve/return, {connections} connections"),
            Case::ReserveReturn {
                via: Via::ServerFunctions,
                connections,
                desk: false,
                ..
            } => format!("reserve and return through the pages, {connections} connections"),
            Case::ReserveReturn {
                via: Via::ServerFunctions,
                connections,
                desk: true,
                ..
            } => format!(
                "reserve and return with a staff desk open, through the pages, {connections} connections"
            ),
            Case::Race => "200 buyers, 10 copies".to_string(),
            Case::SignInBurst { n } => format!("{n} staff sign-ins during a change every 50 ms"),
            Case::CatalogPage => "catalog page /".to_string(),
            Case::ReconnectStorm { n } => format!("reconnect storm {n} WebSockets"),
            Case::BookPage => "book page /books/:id".to_string(),
            Case::Cover => "cover /covers/:id.svg".to_string(),
            Case::FirstVisit => "first visit to /".to_string(),
        }
    }

    fn metrics(self) -> Vec<Metric> {
        let m = |label, pointer, lower_is_better| Metric {
            label,
            pointer,
            lower_is_better,
        };
        match self {
            Case::HeldPolls { .. } => vec![
                m("bytes per poll", "/bytes_per_poll", true),
                m("polls held", "/held", false),
                m("answered after", "/answered", false),
            ],
            Case::IdleSockets { .. } => vec![
                m("bytes per connection", "/bytes_per_connection", true),
                m("sockets open", "/opened", false),
                m("delivered after", "/delivered", false),
            ],
            Case::FanOut { .. } => vec![
                m("p50 ms", "/latency/p50_ms", true),
                m("p90 ms", "/latency/p90_ms", true),
                m("p99 ms", "/latency/p99_ms", true),
                m("max ms", "/latency/max_ms", true),
                m("µs CPU per message", "/cpu_us_per_message", true),
                m("bytes per message", "/bytes_per_message", true),
                m("delivered", "/delivered", false),
                m("expected", "/expected", false),
            ],
            Case::LongPollWake { .. } => vec![
                m("µs CPU per answer", "/cpu_us_per_answer", true),
                m("p50 ms", "/latency/p50_ms", true),
                m("p99 ms", "/latency/p99_ms", true),
                m("missed", "/missed", true),
            ],
            Case::ReserveReturn { .. } => vec![
                m("operations per second", "/per_second", false),
                m("p50 ms", "/latency/p50_ms", true),
                m("p99 ms", "/latency/p99_ms", true),
                m("µs CPU per operation", "/cpu_us_per_operation", true),
            ],
            Case::FirstVisit => vec![
                m("bytes transferred", "/total_bytes", true),
                m("wasm bytes", "/wasm_bytes", true),
                m("cover bytes", "/cover_bytes", true),
                m("HTML bytes", "/html_bytes", true),
            ],
            Case::Cover => vec![
                m("bytes", "/bytes", true),
                m("covers per second", "/per_second", false),
                m("µs CPU per cover", "/cpu_us_per_cover", true),
                m("µs CPU per 304", "/cpu_us_per_not_modified", true),
                m("µs CPU drawing and sending", "/cpu_us_drawing", true),
            ],
            Case::CatalogPage | Case::BookPage => vec![
                m("bytes", "/bytes", true),
                m("p50 ms", "/latency/p50_ms", true),
                m("pages per second", "/per_second", false),
                m("µs CPU per page", "/cpu_us_per_page", true),
            ],
            Case::SignInBurst { .. } => vec![
                m("largest gap between pushes ms", "/largest_gap_ms", true),
                m("signed in", "/signed_in", false),
                m("pushes", "/pushes", false),
            ],
            Case::ReconnectStorm { .. } => vec![
                m("recovered ms", "/recover_ms", true),
                m("back and on the true count", "/on_true_count", false),
                m("peak RSS KiB", "/rss_peak_kib", true),
                m("RSS before KiB", "/rss_before_kib", true),
                m("RSS after KiB", "/rss_after_kib", true),
                m("memory after ÷ before", "/memory_after_vs_before", true),
                m("server CPU ms", "/server_cpu_ms", true),
                m("peak CPU %", "/peak_cpu_percent", true),
            ],
            Case::Race => vec![
                m("succeeded", "/succeeded", false),
                m("refused (409)", "/refused_409", false),
                m("lowest count told", "/lowest_count_told", false),
            ],
        }
    }

    fn servers(self, chosen: &[Kind]) -> Vec<Kind> {
        match self {
            // The peers speak only Burt's protocol and have no staff.
            Case::FanOut { api: true, .. }
            | Case::HeldPolls { api: true, .. }
            | Case::ReserveReturn {
                via: Via::ServerFunctions,
                ..
            }
            | Case::SignInBurst { .. }
            | Case::CatalogPage
            | Case::BookPage
            | Case::Cover
            | Case::FirstVisit
            | Case::ReconnectStorm { .. } => chosen
                .iter()
                .copied()
                .filter(|k| *k == Kind::Livecart)
                .collect(),
            _ => chosen.to_vec(),
        }
    }

    /// Copies of the featured book the server starts with.
    fn copies(self) -> u32 {
        match self {
            Case::ReserveReturn { .. } => 100_000,
            _ => 10,
        }
    }

    async fn run(self, server: &Running) -> std::io::Result<Value> {
        let to_json = |v: Result<Value, serde_json::Error>| v.map_err(std::io::Error::other);
        match self {
            Case::IdleSockets { n } => to_json(serde_json::to_value(
                cases::idle_sockets(server, "/cart/status", n).await?,
            )),
            Case::FanOut { n, api } => {
                // A page subscribes from the version it was rendered at.
                let path = if api {
                    format!(
                        "/api/stock/ws?since={}",
                        cases::stock_version(server).await?
                    )
                } else {
                    "/cart/status".to_string()
                };
                let path = path.as_str();
                to_json(serde_json::to_value(
                    cases::fan_out(server, path, n, 20).await?,
                ))
            }
            Case::LongPollWake { n } => to_json(serde_json::to_value(
                cases::long_poll_wake(server, n).await?,
            )),
            Case::HeldPolls { n, api } => to_json(serde_json::to_value(
                cases::held_polls(server, api, n).await?,
            )),
            Case::ReserveReturn {
                via,
                connections,
                seconds,
                desk: false,
            } => to_json(serde_json::to_value(
                cases::reserve_return(server, via, connections, seconds).await?,
            )),
            Case::ReserveReturn {
                via,
                connections,
                seconds,
                desk: true,
            } => to_json(serde_json::to_value(
                cases::reserve_return_with_desk(server, via, connections, seconds).await?,
            )),
            Case::Race => to_json(serde_json::to_value(cases::race(server, 200, 10).await?)),
            Case::CatalogPage => to_json(serde_json::to_value(
                cases::page_load(server, "/", 200).await?,
            )),
            Case::SignInBurst { n } => {
                to_json(serde_json::to_value(cases::sign_in_burst(server, n).await?))
            }
            Case::ReconnectStorm { n } => to_json(serde_json::to_value(
                cases::reconnect_storm(server, n).await?,
            )),
            Case::BookPage => {
                let path = format!("/books/{}", cases::FEATURED_BOOK);
                to_json(serde_json::to_value(
                    cases::page_load(server, &path, 200).await?,
                ))
            }
            Case::Cover => to_json(serde_json::to_value(
                cases::cover_cost(server, cases::FEATURED_BOOK, 2000).await?,
            )),
            Case::FirstVisit => to_json(serde_json::to_value(cases::first_visit(server).await?)),
        }
    }
}

fn matrix(quick: bool) -> Vec<Case> {
    if quick {
        return vec![
            Case::IdleSockets { n: 1000 },
            Case::FanOut { n: 200, api: false },
            Case::FanOut {
                n: 1000,
                api: false,
            },
            Case::FanOut { n: 1000, api: true },
            Case::LongPollWake { n: 500 },
            Case::HeldPolls { n: 1000, api: true },
            Case::ReserveReturn {
                via: Via::BookProtocol,
                connections: 32,
                seconds: 2.0,
                desk: false,
            },
            Case::ReserveReturn {
                via: Via::ServerFunctions,
                connections: 32,
                seconds: 2.0,
                desk: false,
            },
            Case::ReserveReturn {
                via: Via::ServerFunctions,
                connections: 32,
                seconds: 2.0,
                desk: true,
            },
            Case::Race,
            Case::SignInBurst { n: 20 },
            Case::CatalogPage,
            Case::BookPage,
            Case::Cover,
            Case::FirstVisit,
            Case::ReconnectStorm { n: 1_000 },
        ];
    }
    vec![
        Case::IdleSockets { n: 19_000 },
        Case::FanOut {
            n: 1_000,
            api: false,
        },
        Case::FanOut {
            n: 5_000,
            api: false,
        },
        Case::FanOut {
            n: 10_000,
            api: false,
        },
        Case::FanOut {
            n: 10_000,
            api: true,
        },
        Case::LongPollWake { n: 5_000 },
        Case::HeldPolls {
            n: 10_000,
            api: true,
        },
        Case::HeldPolls {
            n: 10_000,
            api: false,
        },
        Case::ReserveReturn {
            via: Via::BookProtocol,
            connections: 64,
            seconds: 5.0,
            desk: false,
        },
        Case::ReserveReturn {
            via: Via::ServerFunctions,
            connections: 64,
            seconds: 5.0,
            desk: false,
        },
        Case::ReserveReturn {
            via: Via::ServerFunctions,
            connections: 64,
            seconds: 5.0,
            desk: true,
        },
        Case::Race,
        Case::SignInBurst { n: 20 },
        Case::CatalogPage,
        Case::BookPage,
        Case::Cover,
        Case::FirstVisit,
        Case::ReconnectStorm { n: 10_000 },
    ]
}

struct Options {
    out: PathBuf,
    repeat: usize,
    servers: Vec<Kind>,
    quick: bool,
    /// Only the cases whose label contains this.
    only: Option<String>,
    bins: Binaries,
}

fn parse(args: &[String]) -> Result<Options, String> {
    let target = std::env::var("CARGO_TARGET_DIR").unwrap_or_else(|_| "target".into());
    let mut options = Options {
        out: PathBuf::from("bench/results"),
        repeat: 3,
        servers: vec![Kind::Livecart, Kind::Node, Kind::Floor],
        quick: false,
        only: None,
        bins: Binaries {
            livecart: PathBuf::from(&target).join("release/livecart"),
            floor: PathBuf::from(&target).join("release/tokio-floor"),
            node_script: PathBuf::from("bench/peers/node/server.js"),
            core: Some(0),
            catalog: 0,
        },
    };
    let mut it = args.iter();
    if it.next().map(String::as_str) != Some("suite") {
        return Err(USAGE.into());
    }
    while let Some(flag) = it.next() {
        let mut value = || {
            it.next()
                .cloned()
                .ok_or_else(|| format!("{flag} needs a value\n{USAGE}"))
        };
        match flag.as_str() {
            "--out" => options.out = value()?.into(),
            "--repeat" => {
                options.repeat = value()?.parse().map_err(|_| "--repeat takes a number")?
            }
            "--servers" => {
                options.servers = value()?
                    .split(',')
                    .map(|s| Kind::parse(s.trim()).ok_or_else(|| format!("unknown server {s:?}")))
                    .collect::<Result<_, _>>()?
            }
            "--core" => {
                options.bins.core = Some(value()?.parse().map_err(|_| "--core takes a number")?)
            }
            "--no-pin" => options.bins.core = None,
            "--catalog" => {
                options.bins.catalog = value()?.parse().map_err(|_| "--catalog takes a number")?
            }
            "--livecart" => options.bins.livecart = value()?.into(),
            "--floor" => options.bins.floor = value()?.into(),
            "--node-script" => options.bins.node_script = value()?.into(),
            "--quick" => options.quick = true,
            "--only" => options.only = Some(value()?),
            other => return Err(format!("unknown flag {other}\n{USAGE}")),
        }
    }
    Ok(options)
}

fn machine() -> Value {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .unwrap_or_default()
        .lines()
        .find_map(|l| {
            l.strip_prefix("model name")
                .map(|v| v.trim_start_matches([' ', '\t', ':']).to_string())
        })
        .unwrap_or_default();
    let memory = std::fs::read_to_string("/proc/meminfo")
        .unwrap_or_default()
        .lines()
        .next()
        .unwrap_or("")
        .to_string();
    let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease")
        .unwrap_or_default()
        .trim()
        .to_string();
    // The machine's cores, not this process's (it runs pinned to one).
    let cores = std::fs::read_to_string("/proc/cpuinfo")
        .unwrap_or_default()
        .lines()
        .filter(|l| l.starts_with("processor"))
        .count();
    json!({ "cpu": cpu, "cores": cores, "memory": memory, "kernel": kernel })
}

/// The first line a command prints, or why it could not run.
fn first_line(program: &str, args: &[&str]) -> String {
    match std::process::Command::new(program).args(args).output() {
        Ok(out) if out.status.success() => String::from_utf8_lossy(&out.stdout)
            .lines()
            .next()
            .unwrap_or("")
            .trim()
            .to_string(),
        Ok(out) => format!("{program} exited with {}", out.status),
        Err(e) => format!("{program}: {e}"),
    }
}

/// What the figures depend on besides the machine: the commit measured,
/// the compilers and runtimes, the SQLite livecart carries, the filesystem
/// its database file is on, and the settings it ran with.
fn software(bins: &server::Binaries) -> Value {
    let dirty = !first_line("git", &["status", "--porcelain"]).is_empty();
    let temp = std::env::temp_dir();
    let temp = temp.to_string_lossy();
    let livecart_table = std::fs::read_to_string("Leptos.toml")
        .ok()
        .and_then(|text| {
            let start = text.find("[livecart]")?;
            let rest = &text[start..];
            let end = rest[1..].find("\n[").map_or(rest.len(), |i| i + 1);
            Some(rest[..end].trim().to_string())
        })
        .unwrap_or_default();
    json!({
        "commit": first_line("git", &["rev-parse", "HEAD"]),
        "uncommitted_changes": dirty,
        "rustc": first_line("rustc", &["-V"]),
        "node": first_line("node", &["-v"]),
        "livecart": first_line(&bins.livecart.to_string_lossy(), &["version"]),
        "livecart_catalog": format!("the opening 7 books + {} imported", bins.catalog),
        "database_filesystem": {
            "path": temp,
            "type": first_line("stat", &["-f", "-c", "%T", &temp]),
            "mount": first_line("findmnt", &["-no", "SOURCE,FSTYPE,OPTIONS", "-T", &temp]),
        },
        "livecart_settings": {
            "leptos_toml": livecart_table,
            "environment": server::LIVECART_ENV
                .iter()
                .map(|(k, v)| ((*k).to_string(), Value::from(*v)))
                .collect::<serde_json::Map<_, _>>(),
            "note": "every other setting at its default: SQLite WAL with synchronous = FULL, one copy per book-protocol session",
        },
    })
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if let ["catalog", "--books", books, "--out", out] = args
        .iter()
        .map(String::as_str)
        .collect::<Vec<_>>()
        .as_slice()
    {
        let Ok(books) = books.parse::<usize>() else {
            eprintln!("--books takes a number\n{USAGE}");
            std::process::exit(2);
        };
        if let Err(e) = catalog::write(std::path::Path::new(out), books) {
            eprintln!("cannot write {out}: {e}");
            std::process::exit(1);
        }
        eprintln!("wrote {books} books to {out}");
        return;
    }
    if args.first().map(String::as_str) == Some("cluster") {
        return cluster_suite(&args[1..]).await;
    }
    if args.first().map(String::as_str) == Some("launch") {
        return launch_case(&args[1..]).await;
    }
    if args.first().map(String::as_str) == Some("cluster-launch") {
        return cluster_launch_case(&args[1..]).await;
    }
    if let ["launch-pages", "--node", node, "--first", first, "--count", count, "--join-rate", rate, "--others", others] =
        args.iter()
            .map(String::as_str)
            .collect::<Vec<_>>()
            .as_slice()
    {
        // Its own node first, then where its pages go if that one dies.
        let nodes: Result<Vec<std::net::SocketAddr>, _> = std::iter::once(*node)
            .chain(others.split(',').filter(|o| !o.is_empty()))
            .map(str::parse)
            .collect();
        let (Ok(nodes), Ok(first), Ok(count), Ok(rate)) =
            (nodes, first.parse(), count.parse(), rate.parse())
        else {
            eprintln!("launch-pages: bad arguments {args:?}");
            std::process::exit(2);
        };
        return cluster_launch::pages(nodes, first, count, rate).await;
    }
    let options = match parse(&args) {
        Ok(o) => o,
        Err(e) => {
            eprintln!("{e}");
            std::process::exit(2);
        }
    };
    if let Err(e) = std::fs::create_dir_all(&options.out) {
        eprintln!("cannot create {}: {e}", options.out.display());
        std::process::exit(1);
    }
    let cases: Vec<Case> = matrix(options.quick)
        .into_iter()
        .filter(|c| {
            options
                .only
                .as_ref()
                .is_none_or(|only| c.label().contains(only.as_str()))
        })
        .collect();
    let mut runs = Vec::new();
    for case in &cases {
        for kind in case.servers(&options.servers) {
            for repetition in 1..=options.repeat {
                eprint!(
                    "{:<48} {:<9} run {repetition}/{} … ",
                    case.label(),
                    kind.name(),
                    options.repeat
                );
                let outcome = async {
                    let server = Running::start(kind, &options.bins, case.copies()).await?;
                    let result = case.run(&server).await;
                    server.stop().await;
                    result
                }
                .await;
                let (result, failed) = recorded(outcome);
                runs.push(Run {
                    server: kind.name().into(),
                    case: case.label(),
                    repetition,
                    result,
                    failed,
                });
                // Let sockets in TIME_WAIT and the kernel settle between runs.
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
        }
    }
    let described: Vec<(String, Vec<Metric>)> =
        cases.iter().map(|c| (c.label(), c.metrics())).collect();
    let rows = report::summarize(&runs, &described);
    let table = report::markdown(&rows);
    println!("{table}");
    let stamp = std::env::var("BENCH_STAMP").unwrap_or_else(|_| "latest".into());
    let json_path = options.out.join(format!("{stamp}.json"));
    let md_path = options.out.join(format!("{stamp}.md"));
    let svg_path = options.out.join(format!("{stamp}-fan-out.svg"));
    let document = json!({
        "machine": machine(),
        "software": software(&options.bins),
        "pinned_core": options.bins.core,
        "repeat": options.repeat,
        "runs": runs,
        "summary": rows,
    });
    write_results(&json_path, &document, &md_path, &table);
    if let Err(e) = report::chart(&rows, &svg_path) {
        eprintln!("cannot draw the chart: {e}");
    }
    eprintln!(
        "wrote {}, {} and {}",
        json_path.display(),
        md_path.display(),
        svg_path.display()
    );
}

/// Writes the JSON document and the table, or ends the run saying why.
fn write_results(
    json_path: &std::path::Path,
    document: &Value,
    md_path: &std::path::Path,
    table: &str,
) {
    let written = json_path
        .parent()
        .map_or(Ok(()), std::fs::create_dir_all)
        .and_then(|_| {
            std::fs::write(
                json_path,
                serde_json::to_string_pretty(document).unwrap_or_default(),
            )
        })
        .and_then(|_| std::fs::write(md_path, table));
    if let Err(e) = written {
        eprintln!("cannot write the results: {e}");
        std::process::exit(1);
    }
}

/// A run's result as the report keeps it, printed as it comes: a failed run
/// is kept, with why, never dropped.
fn recorded(outcome: std::io::Result<Value>) -> (Value, Option<String>) {
    match outcome {
        Ok(result) => {
            eprintln!("{result}");
            (result, None)
        }
        Err(e) => {
            eprintln!("failed: {e}");
            (Value::Null, Some(e.to_string()))
        }
    }
}

/// `loadgen launch`: a launch on one node (see launch.rs), `--repeat` runs
/// each in a fresh server; prints each run and writes them, with the
/// medians, to `<out>/<stamp>-launch.json` and `.md`.
async fn launch_case(args: &[String]) {
    let mut bins = livecart_only();
    let (mut pages, mut copies, mut repeat, mut out) =
        (10_000usize, 100u32, 3usize, PathBuf::from("bench/results"));
    each_flag(args, |flag, value| match flag {
        "--pages" => pages = number(flag, &value) as usize,
        "--copies" => copies = number(flag, &value) as u32,
        "--repeat" => repeat = number(flag, &value) as usize,
        "--core" => bins.core = Some(number(flag, &value) as usize),
        "--livecart" => bins.livecart = value.into(),
        "--out" => out = value.into(),
        other => fail(format!("unknown flag {other}")),
    });
    let mut runs = Vec::new();
    for run in 1..=repeat {
        eprintln!("==> launch: {pages} waiting pages, {copies} copies (run {run} of {repeat})");
        match launch::launch(&bins, pages, copies).await {
            Ok(result) => {
                let value = serde_json::to_value(&result).unwrap_or(Value::Null);
                println!(
                    "{}",
                    serde_json::to_string_pretty(&value).unwrap_or_default()
                );
                runs.push(value);
            }
            Err(e) => {
                eprintln!("launch run {run} failed: {e}");
                std::process::exit(1);
            }
        }
    }
    let median = |pointer: &str| {
        let mut values: Vec<f64> = runs
            .iter()
            .filter_map(|r| r.pointer(pointer)?.as_f64())
            .collect();
        values.sort_by(|a, b| a.total_cmp(b));
        values.get(values.len() / 2).copied().unwrap_or(f64::NAN)
    };
    let all = |pointer: &str| {
        runs.iter()
            .map(|r| {
                r.pointer(pointer)
                    .cloned()
                    .unwrap_or(Value::Null)
                    .to_string()
            })
            .collect::<Vec<_>>()
            .join(", ")
    };
    let table = format!(
        "| launch: {pages} waiting pages, {copies} copies, one node (median of {repeat}) | target | livecart |\n|---|---|---|\n\
         | joins per second at the opening | 2,000 | {:.0} |\n\
         | join p99 ms | ≤ 50 | {:.1} |\n\
         | copy freed → next page shows its turn, p99 ms | ≤ 500 | {:.1} |\n\
         | last copy sold → every page shows closed, p99 ms | ≤ 1,000 | {:.1} |\n\
         | server memory per waiting page, bytes | ≤ 3,072 | {:.0} |\n\
         | stock versions committed during the joins (published to the pages at most 4 a second) | — | {:.0} |\n\
         | oversold (each run) | 0 | {} |\n\
         | offers in place order (each run) | yes | {} |\n",
        median("/joins_per_s"),
        median("/join/p99_ms"),
        median("/turn_after_freed/p99_ms"),
        median("/closed_after_last_sale/p99_ms"),
        median("/rss_per_waiting_page_bytes"),
        median("/versions_during_joins"),
        all("/oversold"),
        all("/offers_in_place_order"),
    );
    println!("{table}");
    let stamp = std::env::var("BENCH_STAMP").unwrap_or_else(|_| "launch".into());
    write_results(
        &out.join(format!("{stamp}-launch.json")),
        &Value::from(runs),
        &out.join(format!("{stamp}-launch.md")),
        &table,
    );
}

/// livecart's release build under CARGO_TARGET_DIR, pinned to core 0 (the
/// cases that run livecart alone).
fn livecart_only() -> Binaries {
    let target = std::env::var("CARGO_TARGET_DIR").unwrap_or_else(|_| "target".into());
    Binaries {
        livecart: PathBuf::from(&target).join("release/livecart"),
        floor: PathBuf::new(),
        node_script: PathBuf::new(),
        core: Some(0),
        catalog: 0,
    }
}

/// Ends the run, saying why, with the usage.
fn fail(message: String) -> ! {
    eprintln!("{message}\n{USAGE}");
    std::process::exit(2);
}

/// A flag's value as a number, or the end of the run.
fn number(flag: &str, value: &str) -> f64 {
    value
        .parse::<f64>()
        .unwrap_or_else(|_| fail(format!("{flag} takes a number")))
}

/// Walks `--flag value` pairs, giving `set` each one.
fn each_flag(args: &[String], mut set: impl FnMut(&str, String)) {
    let mut it = args.iter();
    while let Some(flag) = it.next() {
        let value = it
            .next()
            .cloned()
            .unwrap_or_else(|| fail(format!("{flag} needs a value")));
        set(flag.as_str(), value);
    }
}

/// `loadgen cluster-launch`: launch day over several nodes (see cluster_launch.rs).
async fn cluster_launch_case(args: &[String]) {
    let mut bins = livecart_only();
    let (mut postgres, mut out) = (None, PathBuf::from("bench/results"));
    let (mut nodes, mut pages, mut copies, mut join_rate, mut load_core) =
        (6usize, 100_000usize, 1000u32, 1000.0f64, 1usize);
    // `--case scripts`: only the scripts-against-people launch.
    let mut case = String::from("all");
    // `--kill-node-after S`: the last node is killed S s after the opening.
    let mut kill_node_after = None;
    each_flag(args, |flag, value| match flag {
        "--postgres" => postgres = Some(value),
        "--kill-node-after" => kill_node_after = Some(number(flag, &value)),
        "--out" => out = value.into(),
        "--nodes" => nodes = number(flag, &value) as usize,
        "--pages" => pages = number(flag, &value) as usize,
        "--copies" => copies = number(flag, &value) as u32,
        "--join-rate" => join_rate = number(flag, &value),
        "--core" => bins.core = Some(number(flag, &value) as usize),
        "--load-core" => load_core = number(flag, &value) as usize,
        "--livecart" => bins.livecart = value.into(),
        "--case" => case = value,
        other => fail(format!("unknown flag {other}")),
    });
    let postgres = postgres.unwrap_or_else(|| fail("--postgres is required".into()));
    if case == "scripts" {
        match cluster_launch::scripts_only(&bins, &postgres).await {
            Ok(result) => println!(
                "{}",
                serde_json::to_string_pretty(&result).unwrap_or_default()
            ),
            Err(e) => {
                eprintln!("scripts against people failed: {e}");
                std::process::exit(1);
            }
        }
        return;
    }
    eprintln!("==> launch day: {pages} pages over {nodes} nodes, {copies} copies");
    let result = match cluster_launch::cluster_launch(
        &bins,
        &postgres,
        nodes,
        pages,
        copies,
        join_rate,
        load_core,
        kill_node_after,
    )
    .await
    {
        Ok(result) => result,
        Err(e) => {
            eprintln!("the cluster launch failed: {e}");
            std::process::exit(1);
        }
    };
    let r = &result;
    let rss = r
        .rss_per_waiting_page_bytes
        .iter()
        .map(|b| format!("{b:.0}"))
        .collect::<Vec<_>>()
        .join(", ");
    let table = format!(
        "| launch day: {} pages over {} nodes on one PostgreSQL, {} copies ({} on the long poll) | target | livecart |\n|---|---|---|\n\
         | pages waiting | 100,000 on six nodes | {} on {} |\n\
         | opening → page shows its place, p50 / p99 / max ms | p99 ≤ 3,000 | {:.0} / {:.0} / {:.0} ({} pages) |\n\
         | copy offered → its page shows the turn, p50 / p99 ms | p99 ≤ 1,000 | {:.0} / {:.0} ({} turns) |\n\
         | last copy sold → page shows closed, p99 / max ms | p99 ≤ 2,000 | {:.0} / {:.0} ({} pages) |\n\
         | server memory per waiting page, bytes, each node | ≤ 3,072 | {} |\n\
         | nodes' CPU per broadcast per 1,000 pages, µs | — | {:.0} ({} broadcasts) |\n\
         | PostgreSQL commits per second at the peak (each NOTIFYs the other nodes) | — | {:.0} ({} commits, {:.1} s of PostgreSQL CPU, opening to close) |\n\
         | places asked / database reads that answered them | — | {} / {} |\n\
         | joins per second (paced at {join_rate:.0}); answered 503 and asked again; joined after the opening | — | {:.0}; {}; {} |\n\
         | sold / oversold | {} / 0 | {} / {} |\n\
         | offers in draw order (from the database) | yes | {} |\n\
         | pages that ended on a wrong state / whose stream dropped for good / that lost their stream on a live node and came back | 0 | {} / {} / {} |\n\
         | node killed mid-launch (SIGKILL): which, s after the opening; its pages that carried on on the others | — | {} |\n\
         | offers that lapsed before the page's checkout reached the node | — | {} |\n\
         | opening → line closed, s | — | {:.1} |\n\
         \n\
         | scripts against people: {} people (an address each), {} scripts of {} cookies (an address each), {} copies, one node, 4 places per address | limit | livecart |\n|---|---|---|\n\
         | places: people / scripts (most at one script address) | scripts ≤ 4 an address | {} / {} ({}) |\n\
         | scripts' share of places / of copies offered | copies ≈ places | {:.2} % / {:.2} % ({} copies) |\n\
         | chance the draw gives the scripts at least as many copies | not small | {:.2} |\n",
        r.pages, r.nodes, r.copies, r.long_poll_pages,
        r.pages, r.nodes,
        r.place_after_opening.p50_ms, r.place_after_opening.p99_ms, r.place_after_opening.max_ms, r.pages_placed,
        r.turn_after_offer.p50_ms, r.turn_after_offer.p99_ms, r.turns,
        r.closed_after_last_sale.p99_ms, r.closed_after_last_sale.max_ms, r.pages_told_closed,
        rss,
        r.cpu_us_per_broadcast_per_1000_pages, r.broadcasts,
        r.postgres_commits_per_s_peak, r.postgres_commits, r.postgres_cpu_s,
        r.line_asks, r.line_reads,
        r.joins_per_s, r.retried_joins, r.joined_after_opening,
        r.copies, r.sold, r.oversold,
        r.offers_in_draw_order,
        r.wrong_pages, r.dropped_pages, r.reconnected_on_live_nodes,
        match (r.killed_node, r.killed_after_opening_s) {
            (Some(n), Some(at)) => format!("node {n}, {at:.0} s; {} pages", r.moved_pages),
            _ => "none".to_string(),
        },
        r.checkouts_too_late,
        r.seconds_opening_to_closed,
        r.scripts_against_people.people,
        r.scripts_against_people.scripts,
        r.scripts_against_people.cookies_per_script,
        r.scripts_against_people.copies,
        r.scripts_against_people.people_placed,
        r.scripts_against_people.script_places,
        r.scripts_against_people.most_places_per_script_address,
        r.scripts_against_people.script_share_of_places * 100.0,
        r.scripts_against_people.script_share_of_copies * 100.0,
        r.scripts_against_people.script_copies,
        r.scripts_against_people.chance_of_at_least_as_many,
    );
    println!("{table}");
    let stamp = std::env::var("BENCH_STAMP").unwrap_or_else(|_| "cluster".into());
    write_results(
        &out.join(format!("{stamp}-launch-day.json")),
        &serde_json::to_value(&result).unwrap_or(Value::Null),
        &out.join(format!("{stamp}-launch-day.md")),
        &table,
    );
}

/// `loadgen cluster`: the cross-node family (see cluster.rs).
async fn cluster_suite(args: &[String]) {
    let mut bins = livecart_only();
    let (mut postgres, mut out, mut repeat) = (None, PathBuf::from("bench/results"), 3usize);
    let (mut subscribers, mut seconds, mut only) = (1000usize, 10.0f64, None::<String>);
    // Node B's core (default: A's, --core).
    let mut core_b = None::<usize>;
    each_flag(args, |flag, value| match flag {
        "--postgres" => postgres = Some(value),
        "--out" => out = value.into(),
        "--repeat" => repeat = number(flag, &value) as usize,
        "--core" => bins.core = Some(number(flag, &value) as usize),
        "--core-b" => core_b = Some(number(flag, &value) as usize),
        "--subscribers" => subscribers = number(flag, &value) as usize,
        "--seconds" => seconds = number(flag, &value),
        "--livecart" => bins.livecart = value.into(),
        "--only" => only = Some(value),
        other => fail(format!("unknown flag {other}")),
    });
    let postgres = postgres.unwrap_or_else(|| fail("--postgres is required".into()));
    let m = |label, pointer, lower_is_better| Metric {
        label,
        pointer,
        lower_is_better,
    };
    let delivery_metrics = || {
        vec![
            m("A: ack → receipt p50 ms", "/on_a/p50_ms", true),
            m("A: ack → receipt p99 ms", "/on_a/p99_ms", true),
            m("B: ack → receipt p50 ms", "/on_b/p50_ms", true),
            m("B: ack → receipt p99 ms", "/on_b/p99_ms", true),
            m("change (due → answer) p50 ms", "/change/p50_ms", true),
            m("change (due → answer) p99 ms", "/change/p99_ms", true),
            m("subscribers behind on A", "/behind_a", true),
            m("subscribers behind on B", "/behind_b", true),
            m("µs CPU per change, node A", "/cpu_us_per_change_a", true),
            m("µs CPU per change, node B", "/cpu_us_per_change_b", true),
            m("changes", "/changes", false),
        ]
    };
    let ops_metrics = || {
        vec![
            m("operations per second", "/per_second", false),
            m("p99 ms", "/latency/p99_ms", true),
            m(
                "µs CPU per operation (all nodes)",
                "/cpu_us_per_operation",
                true,
            ),
        ]
    };
    #[derive(Clone, Copy)]
    enum Job {
        Delivery { rate: u32, notify: bool },
        Ops { nodes: usize, notify: bool },
    }
    let jobs = [
        Job::Delivery {
            rate: 100,
            notify: true,
        },
        Job::Delivery {
            rate: 1000,
            notify: true,
        },
        Job::Delivery {
            rate: 1000,
            notify: false,
        },
        Job::Ops {
            nodes: 1,
            notify: true,
        },
        Job::Ops {
            nodes: 1,
            notify: false,
        },
        Job::Ops {
            nodes: 2,
            notify: true,
        },
    ];
    let label = |job: Job| match job {
        Job::Delivery { rate, notify } => format!(
            "cross-node delivery, {rate} changes/s, {subscribers}+{subscribers} subscribers{}",
            if notify { "" } else { ", NOTIFY off" }
        ),
        Job::Ops { nodes, notify } => format!(
            "reserve/return on PostgreSQL, 64 connections, {nodes} node(s){}",
            if notify { "" } else { ", NOTIFY off" }
        ),
    };
    let jobs: Vec<Job> = jobs
        .into_iter()
        .filter(|j| only.as_ref().is_none_or(|o| label(*j).contains(o.as_str())))
        .collect();
    let mut runs = Vec::new();
    for job in &jobs {
        for repetition in 1..=repeat {
            eprint!("{:<72} run {repetition}/{repeat} … ", label(*job));
            let outcome = match *job {
                Job::Delivery { rate, notify } => {
                    cluster::delivery(&bins, &postgres, rate, notify, subscribers, seconds, core_b)
                        .await
                        .and_then(|d| serde_json::to_value(d).map_err(std::io::Error::other))
                }
                Job::Ops { nodes, notify } => {
                    cluster::reserve_return(&bins, &postgres, nodes, notify, 64, 5.0)
                        .await
                        .and_then(|d| serde_json::to_value(d).map_err(std::io::Error::other))
                }
            };
            let (result, failed) = recorded(outcome);
            runs.push(Run {
                server: "livecart".into(),
                case: label(*job),
                repetition,
                result,
                failed,
            });
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
    }
    let described: Vec<(String, Vec<Metric>)> = jobs
        .iter()
        .map(|j| {
            let metrics = match j {
                Job::Delivery { .. } => delivery_metrics(),
                Job::Ops { .. } => ops_metrics(),
            };
            (label(*j), metrics)
        })
        .collect();
    let rows = report::summarize(&runs, &described);
    let table = report::markdown(&rows);
    println!("{table}");
    let stamp = std::env::var("BENCH_STAMP").unwrap_or_else(|_| "latest".into());
    let json_path = out.join(format!("{stamp}-cluster.json"));
    let md_path = out.join(format!("{stamp}-cluster.md"));
    let document = json!({
        "machine": machine(),
        "livecart": bins.livecart.display().to_string(),
        "postgres": first_line("psql", &["--version"]),
        "pinned_core": bins.core,
        "node_b_core": core_b.or(bins.core),
        "subscribers_per_node": subscribers,
        "seconds": seconds,
        "repeat": repeat,
        "runs": runs,
        "summary": rows,
    });
    write_results(&json_path, &document, &md_path, &table);
    eprintln!("wrote {} and {}", json_path.display(), md_path.display());
}
