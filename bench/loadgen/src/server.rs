//! The servers under test: livecart and its two peers, each started fresh,
//! pinned to one core, and watched through /proc.

use std::io;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::Stdio;
use std::time::{Duration, Instant};

use serde::Serialize;
use tokio::io::AsyncWriteExt;
use tokio::process::{Child, Command};

use crate::net::Http;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    Livecart,
    Node,
    Floor,
}

impl Kind {
    pub fn name(self) -> &'static str {
        match self {
            Kind::Livecart => "livecart",
            Kind::Node => "node",
            Kind::Floor => "floor",
        }
    }

    pub fn parse(name: &str) -> Option<Kind> {
        [Kind::Livecart, Kind::Node, Kind::Floor]
            .into_iter()
            .find(|k| k.name() == name)
    }
}

/// Where the three servers are.
#[derive(Clone, Debug)]
pub struct Binaries {
    pub livecart: PathBuf,
    pub floor: PathBuf,
    pub node_script: PathBuf,
    /// The core servers are pinned to (None: not pinned).
    pub core: Option<usize>,
    /// Books imported into livecart's shop before each run, besides its
    /// opening seven (`--catalog N`; 0: none).
    pub catalog: usize,
}

pub struct Running {
    pub kind: Kind,
    pub addr: SocketAddr,
    child: Child,
    pid: u32,
    _dir: tempfile::TempDir,
}

/// The settings livecart runs with in the benchmark, besides its database
/// and address (recorded with the results). Every simulated shopper comes
/// from 127.0.0.1, so the limits per address (which would refuse a single
/// client holding 19,000 sockets or making 30,000 holds a second, as they
/// should) are lifted; the global ceiling stays.
pub const LIVECART_ENV: &[(&str, &str)] = &[
    ("LIVECART_LOG", "warn"),
    ("LIVECART_MAX_CONNECTIONS_PER_ADDRESS", "0"),
    ("LIVECART_HOLDS_PER_MINUTE_PER_ADDRESS", "0"),
    // The launch case: every page joins from 127.0.0.1, and offers are
    // held 15 s so lapses happen within the run (no other case has a line).
    ("LIVECART_LINE_PLACES_PER_ADDRESS", "0"),
    ("LIVECART_LINE_OFFER_TTL", "15s"),
];

pub const STAFF: &str = "bench";
pub const STAFF_PASSWORD: &str = "benchmark staff password";

impl Running {
    /// Starts a fresh server whose featured book has `copies` copies.
    pub async fn start(kind: Kind, bins: &Binaries, copies: u32) -> io::Result<Running> {
        let dir = tempfile::tempdir()?;
        let addr = free_address()?;
        let db = format!("sqlite://{}", dir.path().join("shop.db").display());
        if kind == Kind::Livecart {
            add_staff(bins, &db).await?;
            if bins.catalog > 0 {
                import_catalog(bins, &db, dir.path()).await?;
            }
        }
        let (program, args): (PathBuf, Vec<String>) = match kind {
            Kind::Livecart => (bins.livecart.clone(), vec![]),
            Kind::Floor => (bins.floor.clone(), vec![]),
            Kind::Node => (
                "node".into(),
                vec!["--expose-gc".into(), bins.node_script.display().to_string()],
            ),
        };
        let mut command = match bins.core {
            Some(core) => {
                let mut c = Command::new("taskset");
                c.arg("-c").arg(core.to_string()).arg(&program).args(&args);
                c
            }
            None => {
                let mut c = Command::new(&program);
                c.args(&args);
                c
            }
        };
        command
            .env("LIVECART_DATABASE_URL", &db)
            .env("LEPTOS_SITE_ADDR", addr.to_string())
            .envs(LIVECART_ENV.iter().copied())
            .env("PEER_ADDR", addr.to_string())
            .env("TOTAL_COPIES", copies.to_string())
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .kill_on_drop(true);
        let running = Running::launch(kind, addr, &mut command, dir).await?;
        if kind == Kind::Livecart && copies != 10 {
            // Set through the staff pages, then a fresh process on the same
            // database: every server starts its measurement equally cold.
            running.set_featured_total(copies).await?;
            let Running {
                mut child, _dir, ..
            } = running;
            let _ = child.start_kill();
            let _ = child.wait().await;
            return Running::launch(kind, addr, &mut command, _dir).await;
        }
        Ok(running)
    }

    /// A livecart node on a shared database (PostgreSQL), pinned like the
    /// others, with `env` on top of the benchmark's settings.
    pub async fn start_node(
        bins: &Binaries,
        database: &str,
        env: &[(&str, &str)],
    ) -> io::Result<Running> {
        let dir = tempfile::tempdir()?;
        let addr = free_address()?;
        let mut command = match bins.core {
            Some(core) => {
                let mut c = Command::new("taskset");
                c.arg("-c").arg(core.to_string()).arg(&bins.livecart);
                c
            }
            None => Command::new(&bins.livecart),
        };
        command
            .env("LIVECART_DATABASE_URL", database)
            .env("LEPTOS_SITE_ADDR", addr.to_string())
            .envs(LIVECART_ENV.iter().copied())
            .envs(env.iter().copied())
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .kill_on_drop(true);
        Running::launch(Kind::Livecart, addr, &mut command, dir).await
    }

    /// Spawns the server and waits until it answers.
    async fn launch(
        kind: Kind,
        addr: SocketAddr,
        command: &mut Command,
        dir: tempfile::TempDir,
    ) -> io::Result<Running> {
        let child = command.spawn()?;
        let pid = child.id().ok_or_else(|| io::Error::other("no pid"))?;
        let running = Running {
            kind,
            addr,
            child,
            pid,
            _dir: dir,
        };
        running.wait_until_ready().await?;
        Ok(running)
    }

    /// Lets the server free what it no longer holds before its memory is
    /// read: Node collects its garbage (it runs with --expose-gc); the Rust
    /// servers free as they go.
    pub async fn settle_memory(&self) -> io::Result<()> {
        if self.kind == Kind::Node {
            let mut http = Http::open(self.addr).await?;
            let answer = http.request("POST", "/gc", &[], b"").await?;
            if answer.status != 200 {
                return Err(io::Error::other(format!("/gc answered {}", answer.status)));
            }
        }
        Ok(())
    }

    async fn wait_until_ready(&self) -> io::Result<()> {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Ok(mut http) = Http::open(self.addr).await {
                if http.request("GET", "/api/stock", &[], b"").await.is_ok() {
                    return Ok(());
                }
            }
            if Instant::now() > deadline {
                return Err(io::Error::other(format!(
                    "{} did not start",
                    self.kind.name()
                )));
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Through the staff pages, as an operator would.
    pub async fn set_featured_total(&self, total: u32) -> io::Result<()> {
        let cookie = staff_cookie(self.addr).await?;
        let mut http = Http::open(self.addr).await?;
        let form = format!("book={}&total={total}", crate::cases::FEATURED_BOOK);
        post_staff_form(&mut http, &cookie, "/api/admin/total", &form).await
    }

    /// CPU time the server's threads have used so far: the sum of each
    /// thread's run time from /proc/PID/task/*/schedstat (nanoseconds), or
    /// user + system time from /proc/PID/stat (10 ms ticks) where that is
    /// missing.
    pub fn cpu(&self) -> Duration {
        let mut total_ns: u64 = 0;
        let mut threads = 0;
        if let Ok(tasks) = std::fs::read_dir(format!("/proc/{}/task", self.pid)) {
            for task in tasks.flatten() {
                let stat =
                    std::fs::read_to_string(task.path().join("schedstat")).unwrap_or_default();
                if let Some(ns) = stat
                    .split_whitespace()
                    .next()
                    .and_then(|v| v.parse::<u64>().ok())
                {
                    total_ns += ns;
                    threads += 1;
                }
            }
        }
        if threads > 0 {
            return Duration::from_nanos(total_ns);
        }
        let stat = std::fs::read_to_string(format!("/proc/{}/stat", self.pid)).unwrap_or_default();
        Duration::from_millis(cpu_ticks(&stat) * 10)
    }

    /// Resident memory, in KiB.
    pub fn rss_kib(&self) -> u64 {
        let status =
            std::fs::read_to_string(format!("/proc/{}/status", self.pid)).unwrap_or_default();
        status
            .lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            .unwrap_or(0)
    }

    /// SIGKILL, as an operator's `kill -9` or the OOM killer: no shutdown.
    pub async fn kill_now(&mut self) {
        let _ = self.child.start_kill();
        let _ = self.child.wait().await;
    }

    pub async fn stop(mut self) {
        self.kill_now().await;
    }
}

/// A form posted as the staff pages post it, signed in with `staff` (the
/// cookie); anything but 200 ends the run, saying which form.
pub async fn post_staff_form(
    http: &mut Http,
    staff: &str,
    path: &str,
    form: &str,
) -> io::Result<()> {
    let answer = http.post_form(path, form, &[("cookie", staff)]).await?;
    if answer.status != 200 {
        return Err(io::Error::other(format!(
            "{path} answered {}",
            answer.status
        )));
    }
    Ok(())
}

/// User + system time in a /proc/PID/stat line, in 10 ms ticks.
pub fn cpu_ticks(stat: &str) -> u64 {
    // utime and stime are fields 14 and 15, here 11 and 12 (0-based).
    stat_fields_sum(stat, &[11, 12])
}

/// CPU ticks a process's ended (waited-for) children used: cutime and
/// cstime, fields 16 and 17 of `/proc/PID/stat`.
pub fn ended_children_cpu_ticks(stat: &str) -> u64 {
    stat_fields_sum(stat, &[13, 14])
}

/// The sum of `/proc/PID/stat` fields, counted 0-based after the command
/// name (which may hold spaces, so the count starts at its ")").
fn stat_fields_sum(stat: &str, at: &[usize]) -> u64 {
    let rest = stat.rsplit_once(')').map(|(_, r)| r).unwrap_or("");
    let fields: Vec<&str> = rest.split_whitespace().collect();
    at.iter()
        .filter_map(|&i| fields.get(i)?.parse::<u64>().ok())
        .sum()
}

/// A loopback address no one listens on yet.
/// The staff cookie of the benchmark's staff account, signed in on `addr`.
pub async fn staff_cookie(addr: SocketAddr) -> io::Result<String> {
    let mut http = Http::open(addr).await?;
    let signed_in = http
        .post_form(
            "/api/admin/sign-in",
            &format!("name={STAFF}&password={}", STAFF_PASSWORD.replace(' ', "+")),
            &[],
        )
        .await?;
    signed_in
        .header("set-cookie")
        .and_then(|c| c.split(';').next())
        .map(str::to_string)
        .ok_or_else(|| io::Error::other("no staff cookie"))
}

fn free_address() -> io::Result<SocketAddr> {
    let probe = std::net::TcpListener::bind("127.0.0.1:0")?;
    probe.local_addr()
}

/// `livecart books import` of a generated catalog, as a shop owner would.
async fn import_catalog(bins: &Binaries, db: &str, dir: &std::path::Path) -> io::Result<()> {
    let file = dir.join("catalog.csv");
    crate::catalog::write(&file, bins.catalog)?;
    let status = Command::new(&bins.livecart)
        .args(["books", "import"])
        .arg(&file)
        .env("LIVECART_DATABASE_URL", db)
        .env("LIVECART_LOG", "warn")
        .stdout(Stdio::null())
        .status()
        .await?;
    if !status.success() {
        return Err(io::Error::other("livecart books import failed"));
    }
    Ok(())
}

pub async fn add_staff(bins: &Binaries, db: &str) -> io::Result<()> {
    let mut child = Command::new(&bins.livecart)
        .args(["staff", "add", STAFF])
        .env("LIVECART_DATABASE_URL", db)
        .env("LIVECART_LOG", "warn")
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()?;
    if let Some(mut stdin) = child.stdin.take() {
        stdin
            .write_all(format!("{STAFF_PASSWORD}\n").as_bytes())
            .await?;
    }
    let status = child.wait().await?;
    if !status.success() {
        return Err(io::Error::other("livecart staff add failed"));
    }
    Ok(())
}
