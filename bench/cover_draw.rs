//! What drawing one cover costs, apart from the request that asks for it:
//! `cargo run --release --features ssr --example cover_draw` (pinned to one
//! core, as `bench/run.sh` pins the server: `taskset -c 0 …`). Draws the
//! covers of the seven books a new shop has, 200,000 times in all, and
//! prints the process's CPU time per cover.

use std::hint::black_box;

use livecart::server::covers::draw;

const BOOKS: [(&str, &str, &str); 7] = [
    (
        "definitive-guide-to-the-internet",
        "The Definitive Guide to the Internet",
        "Anonymous",
    ),
    (
        "introduction-to-tornado",
        "Introduction to Tornado",
        "Michael Dory, Adam Parrish, Brendan Berg",
    ),
    (
        "the-rust-programming-language",
        "The Rust Programming Language",
        "Steve Klabnik, Carol Nichols",
    ),
    (
        "designing-data-intensive-applications",
        "Designing Data-Intensive Applications",
        "Martin Kleppmann",
    ),
    (
        "high-performance-browser-networking",
        "High Performance Browser Networking",
        "Ilya Grigorik",
    ),
    (
        "the-pragmatic-programmer",
        "The Pragmatic Programmer",
        "David Thomas, Andrew Hunt",
    ),
    (
        "structure-and-interpretation-of-computer-programs",
        "Structure and Interpretation of Computer Programs",
        "Harold Abelson, Gerald Jay Sussman",
    ),
];

/// CPU time this process has used, in seconds.
fn cpu_seconds() -> f64 {
    let mut t = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: clock_gettime writes only into `t`, which outlives the call.
    unsafe { libc::clock_gettime(libc::CLOCK_PROCESS_CPUTIME_ID, &mut t) };
    t.tv_sec as f64 + t.tv_nsec as f64 / 1e9
}

fn main() {
    const COVERS: usize = 200_000;
    let mut bytes = 0;
    for (id, title, author) in BOOKS {
        bytes += draw(id, title, author).len();
    }
    let before = cpu_seconds();
    for n in 0..COVERS {
        let (id, title, author) = BOOKS[n % BOOKS.len()];
        bytes += black_box(draw(black_box(id), black_box(title), black_box(author))).len();
    }
    let cpu = cpu_seconds() - before;
    println!(
        "{COVERS} covers drawn in {:.3} s of CPU: {:.2} µs each ({} bytes on average)",
        cpu,
        cpu * 1e6 / COVERS as f64,
        bytes / (COVERS + BOOKS.len())
    );
}
