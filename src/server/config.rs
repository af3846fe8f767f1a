//! livecart's own settings: read from Leptos.toml (table `[livecart]`) at
//! start-up, each key overridable by an environment variable `LIVECART_<KEY>`.
//! cargo-leptos's build settings live in Cargo.toml and are not repeated here.

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

use crate::server::network::Network;

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path} is not valid TOML for livecart: {source}")]
    Parse {
        path: PathBuf,
        source: toml::de::Error,
    },
    #[error("setting {key}: {message}")]
    Invalid { key: &'static str, message: String },
}

/// The settings the shop runs with.
#[derive(Clone, Debug)]
pub struct Settings {
    /// `sqlite://…` (the embedded default) or `postgres://…`.
    pub database_url: String,
    /// How long a reserved copy stays held without the shopper touching the cart.
    pub reservation_ttl: Duration,
    /// The most copies of one book a web shopper may hold at once.
    pub max_copies_per_shopper: u32,
    /// The most different books one cart may hold at once.
    pub max_books_per_cart: u32,
    /// How long a hold lasts at most after it was first taken, however often
    /// the shopper renews it.
    pub max_hold_age: Duration,
    /// Origins besides the shop's own that may open sockets and post forms.
    pub allowed_origins: Vec<String>,
    /// Base URL of the upstream catalog (Open Library's shape); off when unset.
    pub catalog_url: Option<String>,
    /// Base URL of the cover images the catalog's cover ids point into.
    pub covers_url: String,
    /// Largest request body accepted, in bytes.
    pub max_body_bytes: usize,
    /// How often an idle WebSocket is pinged; a peer silent for two pings is dropped.
    pub ws_ping_interval: Duration,
    /// How long one message may wait to leave before its socket is dropped.
    pub ws_send_timeout: Duration,
    /// Staff password verifications (argon2id) run at once.
    pub sign_in_concurrency: usize,
    /// The kernel's send buffer for each connection (SO_SNDBUF), in bytes;
    /// None leaves it to the kernel's autotuning.
    pub socket_send_buffer: Option<usize>,
    /// On PostgreSQL, whether each commit NOTIFYs the other nodes. Off only
    /// for a single node (it saves the lock NOTIFY takes at commit); with
    /// several nodes, off leaves their pages stale.
    pub pg_notify: bool,
    /// How long a stopping server waits for requests in flight to finish.
    pub shutdown_deadline: Duration,
    /// The shop is served over HTTPS (itself or through a proxy that ends
    /// TLS): cookies are Secure with the `__Host-` prefix, and HSTS is sent.
    pub behind_https: bool,
    /// Client connections open at once; None: the open-file limit less
    /// headroom for the database (read at start).
    pub max_connections: Option<usize>,
    /// Connections from one address at once (IPv6: one /64); 0 for no cap.
    /// Trusted proxies are exempt.
    pub max_connections_per_address: usize,
    /// A request's head must arrive within this, counted from when the
    /// connection opened or went idle after its last answer (so it is also
    /// the keep-alive idle limit).
    pub header_read_timeout: Duration,
    /// Proxies whose X-Forwarded-For is believed (addresses or networks).
    pub trusted_proxies: Vec<Network>,
    /// New holds one address may take per minute (a burst of as many, then
    /// as many per minute); 0 for no limit.
    pub holds_per_minute_per_address: u32,
    /// How long a copy a line offers is held for the shopper whose turn it is.
    pub line_offer_ttl: Duration,
    /// Places one address (IPv6: one /64) may hold in one book's line; 0 for
    /// no cap.
    pub line_places_per_address: u32,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            database_url: "sqlite://data/livecart.db".to_string(),
            reservation_ttl: Duration::from_secs(15 * 60),
            max_copies_per_shopper: 1,
            max_books_per_cart: 20,
            max_hold_age: Duration::from_secs(3600),
            allowed_origins: Vec::new(),
            catalog_url: None,
            covers_url: "https://covers.openlibrary.org".to_string(),
            max_body_bytes: 64 * 1024,
            ws_ping_interval: Duration::from_secs(20),
            ws_send_timeout: Duration::from_secs(10),
            // One core is left to the event loop, so live updates go on.
            sign_in_concurrency: std::thread::available_parallelism()
                .map_or(1, |n| n.get())
                .saturating_sub(1)
                .max(1),
            socket_send_buffer: None,
            pg_notify: true,
            shutdown_deadline: Duration::from_secs(10),
            behind_https: false,
            max_connections: None,
            max_connections_per_address: 1000,
            header_read_timeout: Duration::from_secs(10),
            trusted_proxies: Vec::new(),
            holds_per_minute_per_address: 600,
            line_offer_ttl: Duration::from_secs(10 * 60),
            line_places_per_address: 4,
        }
    }
}

/// The `[livecart]` table of Leptos.toml; every key is optional.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileSettings {
    database_url: Option<String>,
    reservation_ttl: Option<String>,
    max_copies_per_shopper: Option<u32>,
    allowed_origins: Option<Vec<String>>,
    catalog_url: Option<String>,
    covers_url: Option<String>,
    max_body_bytes: Option<usize>,
    ws_ping_interval: Option<String>,
    ws_send_timeout: Option<String>,
    sign_in_concurrency: Option<usize>,
    socket_send_buffer: Option<usize>,
    pg_notify: Option<bool>,
    shutdown_deadline: Option<String>,
    max_books_per_cart: Option<u32>,
    max_hold_age: Option<String>,
    behind_https: Option<bool>,
    max_connections: Option<usize>,
    max_connections_per_address: Option<usize>,
    header_read_timeout: Option<String>,
    trusted_proxies: Option<Vec<String>>,
    holds_per_minute_per_address: Option<u32>,
    line_offer_ttl: Option<String>,
    line_places_per_address: Option<u32>,
}

#[derive(Debug, Default, Deserialize)]
struct LeptosToml {
    #[serde(default)]
    livecart: FileSettings,
}

/// `Settings { key: setting(…), … }` for `key: check` pairs, each key read
/// from `LIVECART_<KEY>`, else from the file's field of its name, else
/// taken from the default's; a struct literal, so a setting left out (or a
/// key with no file field) does not compile. Fields are evaluated in the
/// order written.
macro_rules! settings_from {
    ($env:ident, $file:ident, $default:ident; { $($key:ident: $check:expr,)* }) => {
        Ok(Settings {
            $($key: setting(&$env, stringify!($key), $file.$key, $default.$key, $check)?,)*
        })
    };
}

impl Settings {
    /// Reads `LIVECART_CONFIG` (default `./Leptos.toml`, skipped when absent),
    /// then applies the environment.
    pub fn load() -> Result<Settings, ConfigError> {
        let path = std::env::var_os("LIVECART_CONFIG")
            .map(PathBuf::from)
            .unwrap_or_else(|| PathBuf::from("Leptos.toml"));
        let explicit = std::env::var_os("LIVECART_CONFIG").is_some();
        let file = if path.exists() || explicit {
            Some(read_file(&path)?)
        } else {
            None
        };
        Settings::from_sources(file, |key| std::env::var(key).ok())
    }

    /// Builds settings from a parsed file and an environment lookup; the
    /// environment wins.
    fn from_sources(
        file: Option<FileSettings>,
        env: impl Fn(&str) -> Option<String>,
    ) -> Result<Settings, ConfigError> {
        let file = file.unwrap_or_default();
        let default = Settings::default();
        // One line a setting: its key and the check its value must pass. The
        // key names the field, the `[livecart]` key and `LIVECART_<KEY>`; its
        // default is `Settings::default()`'s. Settings are read in this order,
        // so the first bad one here is the one an error names.
        settings_from!(env, file, default; {
            database_url: non_empty,
            reservation_ttl: duration,
            max_copies_per_shopper: within(1..=100),
            allowed_origins: web_origins,
            catalog_url: optional_base_url,
            covers_url: non_empty,
            max_body_bytes: at_least(1024),
            ws_ping_interval: duration,
            ws_send_timeout: duration,
            sign_in_concurrency: within(1..=256),
            socket_send_buffer: some(within(4096..=64 * 1024 * 1024)),
            max_books_per_cart: within(1..=1000),
            max_hold_age: duration,
            shutdown_deadline: duration,
            pg_notify: any,
            behind_https: any,
            max_connections: some(within(16..=10_000_000)),
            max_connections_per_address: any,
            header_read_timeout: duration,
            trusted_proxies: networks,
            holds_per_minute_per_address: any,
            line_offer_ttl: duration,
            line_places_per_address: any,
        })
    }
}

/// One setting: `LIVECART_<KEY>` if set (read as its file value's type),
/// else its file value if given, passed through `check`; else `default`.
fn setting<R: FromEnv, T>(
    env: &impl Fn(&str) -> Option<String>,
    key: &'static str,
    file: Option<R>,
    default: T,
    check: impl FnOnce(&'static str, R) -> Result<T, ConfigError>,
) -> Result<T, ConfigError> {
    let var = format!("LIVECART_{}", key.to_ascii_uppercase());
    let from_env = env(&var).map(|raw| R::from_env(key, raw)).transpose()?;
    match from_env.or(file) {
        Some(raw) => check(key, raw),
        None => Ok(default),
    }
}

/// How an environment variable's text becomes the type the same key has in
/// the file (where serde has already parsed it).
trait FromEnv: Sized {
    fn from_env(key: &'static str, raw: String) -> Result<Self, ConfigError>;
}

impl FromEnv for String {
    fn from_env(_: &'static str, raw: String) -> Result<String, ConfigError> {
        Ok(raw)
    }
}

/// A whole number.
macro_rules! whole_number_from_env {
    ($($t:ty),*) => {$(
        impl FromEnv for $t {
            fn from_env(key: &'static str, raw: String) -> Result<$t, ConfigError> {
                raw.trim().parse::<$t>().map_err(|_| ConfigError::Invalid {
                    key,
                    message: format!("{raw:?} is not a whole number"),
                })
            }
        }
    )*};
}
whole_number_from_env!(u32, usize);

/// An on/off setting: true, false, on, off, 1 or 0.
impl FromEnv for bool {
    fn from_env(key: &'static str, raw: String) -> Result<bool, ConfigError> {
        match raw.trim() {
            "true" | "on" | "1" => Ok(true),
            "false" | "off" | "0" => Ok(false),
            other => Err(ConfigError::Invalid {
                key,
                message: format!("{other:?} is not true or false"),
            }),
        }
    }
}

/// A list: comma-separated, blanks between commas skipped.
impl FromEnv for Vec<String> {
    fn from_env(_: &'static str, raw: String) -> Result<Vec<String>, ConfigError> {
        Ok(raw
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_string)
            .collect())
    }
}

fn read_file(path: &Path) -> Result<FileSettings, ConfigError> {
    let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    let parsed: LeptosToml = toml::from_str(&text).map_err(|source| ConfigError::Parse {
        path: path.to_path_buf(),
        source,
    })?;
    Ok(parsed.livecart)
}

// The checks a setting's value passes, as `setting` calls them: with the
// setting's key (for the error) and the value read.

/// Any value the setting's type holds.
fn any<T>(_: &'static str, value: T) -> Result<T, ConfigError> {
    Ok(value)
}

/// A number in `range`.
fn within<T>(
    range: std::ops::RangeInclusive<T>,
) -> impl FnOnce(&'static str, T) -> Result<T, ConfigError>
where
    T: PartialOrd + std::fmt::Display,
{
    move |key, n| {
        if range.contains(&n) {
            Ok(n)
        } else {
            Err(ConfigError::Invalid {
                key,
                message: format!("{n} is outside {}..={}", range.start(), range.end()),
            })
        }
    }
}

/// A number of at least `min`.
fn at_least(min: usize) -> impl FnOnce(&'static str, usize) -> Result<usize, ConfigError> {
    move |key, n| {
        if n < min {
            return Err(ConfigError::Invalid {
                key,
                message: format!("{n} is below {min}"),
            });
        }
        Ok(n)
    }
}

/// `check`'s value, for a setting whose default is None.
fn some<R, T>(
    check: impl FnOnce(&'static str, R) -> Result<T, ConfigError>,
) -> impl FnOnce(&'static str, R) -> Result<Option<T>, ConfigError> {
    move |key, raw| check(key, raw).map(Some)
}

/// Text, trimmed, that is not blank.
fn non_empty(key: &'static str, value: String) -> Result<String, ConfigError> {
    let value = value.trim().to_string();
    if value.is_empty() {
        return Err(ConfigError::Invalid {
            key,
            message: "must not be empty".into(),
        });
    }
    Ok(value)
}

/// A base URL without its trailing slashes; blank turns the feature off.
fn optional_base_url(_: &'static str, url: String) -> Result<Option<String>, ConfigError> {
    Ok(Some(url.trim().trim_end_matches('/').to_string()).filter(|s| !s.is_empty()))
}

/// Origins a browser sends: each starts with http:// or https://.
fn web_origins(key: &'static str, origins: Vec<String>) -> Result<Vec<String>, ConfigError> {
    for origin in &origins {
        if !(origin.starts_with("http://") || origin.starts_with("https://")) {
            return Err(ConfigError::Invalid {
                key,
                message: format!("{origin:?} must start with http:// or https://"),
            });
        }
    }
    Ok(origins)
}

/// Addresses or networks (`10.0.0.0/8`); the first bad one is named.
fn networks(key: &'static str, list: Vec<String>) -> Result<Vec<Network>, ConfigError> {
    list.iter()
        .map(|raw| Network::parse(raw))
        .collect::<Result<_, _>>()
        .map_err(|message| ConfigError::Invalid { key, message })
}

/// Accepts `2s`, `15m`, `1h` or any humantime duration of a second or more.
fn duration(key: &'static str, raw: String) -> Result<Duration, ConfigError> {
    let duration = humantime::parse_duration(raw.trim()).map_err(|e| ConfigError::Invalid {
        key,
        message: format!("{raw:?}: {e}"),
    })?;
    if duration < Duration::from_secs(1) {
        return Err(ConfigError::Invalid {
            key,
            message: format!("{raw:?} is shorter than one second"),
        });
    }
    Ok(duration)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn env(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let map: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        move |key| map.get(key).cloned()
    }

    /// "a second or more": one second is the shortest duration accepted.
    #[test]
    fn a_duration_of_one_second_is_the_shortest_accepted() {
        assert_eq!(
            duration("ws_ping_interval", "1s".to_string()).unwrap(),
            Duration::from_secs(1)
        );
        assert!(duration("ws_ping_interval", "999ms".to_string()).is_err());
    }

    #[test]
    fn defaults_apply_without_file_or_environment() {
        let s = Settings::from_sources(None, env(&[])).unwrap();
        assert_eq!(s.database_url, "sqlite://data/livecart.db");
        assert_eq!(s.reservation_ttl, Duration::from_secs(900));
        assert_eq!(s.max_copies_per_shopper, 1);
    }

    #[test]
    fn the_environment_overrides_the_file() {
        let file: LeptosToml =
            toml::from_str("[livecart]\nreservation_ttl = \"2m\"\nmax_copies_per_shopper = 3\n")
                .unwrap();
        let s = Settings::from_sources(
            Some(file.livecart),
            env(&[("LIVECART_RESERVATION_TTL", "2s")]),
        )
        .unwrap();
        assert_eq!(s.reservation_ttl, Duration::from_secs(2));
        assert_eq!(s.max_copies_per_shopper, 3);
    }

    #[test]
    fn bad_values_are_refused_with_the_key_named() {
        let err =
            Settings::from_sources(None, env(&[("LIVECART_RESERVATION_TTL", "soon")])).unwrap_err();
        assert!(err.to_string().contains("reservation_ttl"), "{err}");
        let err = Settings::from_sources(None, env(&[("LIVECART_MAX_COPIES_PER_SHOPPER", "0")]))
            .unwrap_err();
        assert!(err.to_string().contains("max_copies_per_shopper"), "{err}");
        let err =
            Settings::from_sources(None, env(&[("LIVECART_PG_NOTIFY", "maybe")])).unwrap_err();
        assert!(err.to_string().contains("pg_notify"), "{err}");
        assert!(toml::from_str::<LeptosToml>("[livecart]\nunknown = 1\n").is_err());
    }

    #[test]
    fn trusted_proxies_are_networks_and_bad_ones_are_named() {
        let s = Settings::from_sources(
            None,
            env(&[("LIVECART_TRUSTED_PROXIES", "127.0.0.1, 10.0.0.0/8")]),
        )
        .unwrap();
        assert_eq!(s.trusted_proxies.len(), 2);
        assert!(Settings::from_sources(None, env(&[]))
            .unwrap()
            .trusted_proxies
            .is_empty());
        let err = Settings::from_sources(None, env(&[("LIVECART_TRUSTED_PROXIES", "nginx")]))
            .unwrap_err();
        assert!(err.to_string().contains("trusted_proxies"), "{err}");
        let err =
            Settings::from_sources(None, env(&[("LIVECART_MAX_CONNECTIONS", "3")])).unwrap_err();
        assert!(err.to_string().contains("max_connections"), "{err}");
    }

    #[test]
    fn notify_is_on_unless_turned_off() {
        assert!(Settings::from_sources(None, env(&[])).unwrap().pg_notify);
        let off = Settings::from_sources(None, env(&[("LIVECART_PG_NOTIFY", "off")])).unwrap();
        assert!(!off.pg_notify);
    }

    /// Every setting's environment variable, a value it refuses, and the
    /// whole message it is refused with.
    #[rustfmt::skip]
    const BAD_VALUES: &[(&str, &str, &str)] = &[
        ("LIVECART_DATABASE_URL", " ", "setting database_url: must not be empty"),
        ("LIVECART_RESERVATION_TTL", "500ms", "setting reservation_ttl: \"500ms\" is shorter than one second"),
        ("LIVECART_MAX_COPIES_PER_SHOPPER", "0", "setting max_copies_per_shopper: 0 is outside 1..=100"),
        ("LIVECART_MAX_COPIES_PER_SHOPPER", "many", "setting max_copies_per_shopper: \"many\" is not a whole number"),
        ("LIVECART_ALLOWED_ORIGINS", "https://a.example, ftp://b.example", "setting allowed_origins: \"ftp://b.example\" must start with http:// or https://"),
        ("LIVECART_COVERS_URL", "", "setting covers_url: must not be empty"),
        ("LIVECART_MAX_BODY_BYTES", "1023", "setting max_body_bytes: 1023 is below 1024"),
        ("LIVECART_MAX_BODY_BYTES", "64k", "setting max_body_bytes: \"64k\" is not a whole number"),
        ("LIVECART_WS_PING_INTERVAL", "0s", "setting ws_ping_interval: \"0s\" is shorter than one second"),
        ("LIVECART_WS_SEND_TIMEOUT", "999ms", "setting ws_send_timeout: \"999ms\" is shorter than one second"),
        ("LIVECART_SIGN_IN_CONCURRENCY", "257", "setting sign_in_concurrency: 257 is outside 1..=256"),
        ("LIVECART_SOCKET_SEND_BUFFER", "4095", "setting socket_send_buffer: 4095 is outside 4096..=67108864"),
        ("LIVECART_MAX_BOOKS_PER_CART", "1001", "setting max_books_per_cart: 1001 is outside 1..=1000"),
        ("LIVECART_MAX_HOLD_AGE", "0s", "setting max_hold_age: \"0s\" is shorter than one second"),
        ("LIVECART_SHUTDOWN_DEADLINE", "0s", "setting shutdown_deadline: \"0s\" is shorter than one second"),
        ("LIVECART_PG_NOTIFY", "maybe", "setting pg_notify: \"maybe\" is not true or false"),
        ("LIVECART_BEHIND_HTTPS", " yes ", "setting behind_https: \"yes\" is not true or false"),
        ("LIVECART_MAX_CONNECTIONS", "15", "setting max_connections: 15 is outside 16..=10000000"),
        ("LIVECART_MAX_CONNECTIONS_PER_ADDRESS", "-1", "setting max_connections_per_address: \"-1\" is not a whole number"),
        ("LIVECART_HEADER_READ_TIMEOUT", "0s", "setting header_read_timeout: \"0s\" is shorter than one second"),
        ("LIVECART_TRUSTED_PROXIES", "127.0.0.1, nginx", "setting trusted_proxies: \"nginx\" is not an IP address or network"),
        ("LIVECART_HOLDS_PER_MINUTE_PER_ADDRESS", " 1.5", "setting holds_per_minute_per_address: \" 1.5\" is not a whole number"),
    ];

    /// A line of `[livecart]` some setting refuses, and the message.
    #[rustfmt::skip]
    const BAD_FILE_VALUES: &[(&str, &str)] = &[
        ("database_url = \"  \"", "setting database_url: must not be empty"),
        ("reservation_ttl = \"0s\"", "setting reservation_ttl: \"0s\" is shorter than one second"),
        ("max_copies_per_shopper = 101", "setting max_copies_per_shopper: 101 is outside 1..=100"),
        ("allowed_origins = [\"a.example\"]", "setting allowed_origins: \"a.example\" must start with http:// or https://"),
        ("max_body_bytes = 10", "setting max_body_bytes: 10 is below 1024"),
        ("max_connections = 0", "setting max_connections: 0 is outside 16..=10000000"),
        ("trusted_proxies = [\"10.0.0.0/33\"]", "setting trusted_proxies: \"10.0.0.0/33\": the prefix must be 0 to 32"),
    ];

    #[test]
    fn each_setting_refuses_its_bad_values_with_the_same_message() {
        for (var, value, message) in BAD_VALUES {
            let err = Settings::from_sources(None, env(&[(var, value)])).unwrap_err();
            assert_eq!(err.to_string(), *message, "{var}={value:?}");
        }
        let err =
            Settings::from_sources(None, env(&[("LIVECART_RESERVATION_TTL", "soon")])).unwrap_err();
        assert!(
            err.to_string()
                .starts_with("setting reservation_ttl: \"soon\": "),
            "{err}"
        );
    }

    #[test]
    fn bad_file_values_are_refused_like_environment_ones() {
        for (line, message) in BAD_FILE_VALUES {
            let file: LeptosToml = toml::from_str(&format!("[livecart]\n{line}\n")).unwrap();
            let err = Settings::from_sources(Some(file.livecart), env(&[])).unwrap_err();
            assert_eq!(err.to_string(), *message, "{line}");
        }
    }

    #[test]
    fn a_bad_environment_value_is_refused_even_over_a_good_file_value() {
        let file: LeptosToml = toml::from_str("[livecart]\nmax_body_bytes = 2048\n").unwrap();
        let err = Settings::from_sources(
            Some(file.livecart),
            env(&[("LIVECART_MAX_BODY_BYTES", "lots")]),
        )
        .unwrap_err();
        assert_eq!(
            err.to_string(),
            "setting max_body_bytes: \"lots\" is not a whole number"
        );
    }

    #[test]
    fn the_first_bad_setting_in_reading_order_is_the_one_named() {
        let err = Settings::from_sources(
            None,
            env(&[
                ("LIVECART_HOLDS_PER_MINUTE_PER_ADDRESS", "x"),
                ("LIVECART_PG_NOTIFY", "x"),
                ("LIVECART_MAX_COPIES_PER_SHOPPER", "x"),
            ]),
        )
        .unwrap_err();
        assert!(
            err.to_string()
                .starts_with("setting max_copies_per_shopper:"),
            "{err}"
        );
    }

    /// Each documented variable reaches its own setting.
    #[test]
    fn every_environment_variable_sets_its_setting() {
        let s = Settings::from_sources(
            None,
            env(&[
                ("LIVECART_DATABASE_URL", " postgres://db/shop "),
                ("LIVECART_RESERVATION_TTL", "2m"),
                ("LIVECART_MAX_COPIES_PER_SHOPPER", " 3"),
                (
                    "LIVECART_ALLOWED_ORIGINS",
                    " https://a.example,, http://b.example ",
                ),
                ("LIVECART_CATALOG_URL", " https://openlibrary.org// "),
                ("LIVECART_COVERS_URL", "https://covers.example"),
                ("LIVECART_MAX_BODY_BYTES", "1024"),
                ("LIVECART_WS_PING_INTERVAL", "21s"),
                ("LIVECART_WS_SEND_TIMEOUT", "11s"),
                ("LIVECART_SIGN_IN_CONCURRENCY", "7"),
                ("LIVECART_SOCKET_SEND_BUFFER", "65536"),
                ("LIVECART_MAX_BOOKS_PER_CART", "5"),
                ("LIVECART_MAX_HOLD_AGE", "2h"),
                ("LIVECART_SHUTDOWN_DEADLINE", "3s"),
                ("LIVECART_PG_NOTIFY", "0"),
                ("LIVECART_BEHIND_HTTPS", "on"),
                ("LIVECART_MAX_CONNECTIONS", "16"),
                ("LIVECART_MAX_CONNECTIONS_PER_ADDRESS", "0"),
                ("LIVECART_HEADER_READ_TIMEOUT", "4s"),
                ("LIVECART_TRUSTED_PROXIES", "10.0.0.0/8"),
                ("LIVECART_HOLDS_PER_MINUTE_PER_ADDRESS", "0"),
            ]),
        )
        .unwrap();
        assert_eq!(s.database_url, "postgres://db/shop");
        assert_eq!(s.reservation_ttl, Duration::from_secs(120));
        assert_eq!(s.max_copies_per_shopper, 3);
        assert_eq!(s.allowed_origins, ["https://a.example", "http://b.example"]);
        assert_eq!(s.catalog_url.as_deref(), Some("https://openlibrary.org"));
        assert_eq!(s.covers_url, "https://covers.example");
        assert_eq!(s.max_body_bytes, 1024);
        assert_eq!(s.ws_ping_interval, Duration::from_secs(21));
        assert_eq!(s.ws_send_timeout, Duration::from_secs(11));
        assert_eq!(s.sign_in_concurrency, 7);
        assert_eq!(s.socket_send_buffer, Some(65536));
        assert_eq!(s.max_books_per_cart, 5);
        assert_eq!(s.max_hold_age, Duration::from_secs(7200));
        assert_eq!(s.shutdown_deadline, Duration::from_secs(3));
        assert!(!s.pg_notify);
        assert!(s.behind_https);
        assert_eq!(s.max_connections, Some(16));
        assert_eq!(s.max_connections_per_address, 0);
        assert_eq!(s.header_read_timeout, Duration::from_secs(4));
        assert_eq!(s.trusted_proxies, [Network::parse("10.0.0.0/8").unwrap()]);
        assert_eq!(s.holds_per_minute_per_address, 0);

        let blank = Settings::from_sources(None, env(&[("LIVECART_CATALOG_URL", " / ")])).unwrap();
        assert_eq!(blank.catalog_url, None, "a blank catalog URL turns it off");
    }

    #[test]
    fn every_file_key_sets_its_setting_and_unset_ones_keep_their_defaults() {
        let file: LeptosToml = toml::from_str(
            "[livecart]\n\
             allowed_origins = [\"https://a.example\"]\n\
             catalog_url = \"https://openlibrary.org/\"\n\
             socket_send_buffer = 8192\n\
             behind_https = true\n\
             max_connections = 100\n\
             max_connections_per_address = 5\n\
             trusted_proxies = [\"::1\"]\n\
             holds_per_minute_per_address = 9\n",
        )
        .unwrap();
        let s = Settings::from_sources(Some(file.livecart), env(&[])).unwrap();
        assert_eq!(s.allowed_origins, ["https://a.example"]);
        assert_eq!(s.catalog_url.as_deref(), Some("https://openlibrary.org"));
        assert_eq!(s.socket_send_buffer, Some(8192));
        assert!(s.behind_https);
        assert_eq!(s.max_connections, Some(100));
        assert_eq!(s.max_connections_per_address, 5);
        assert_eq!(s.trusted_proxies, [Network::parse("::1").unwrap()]);
        assert_eq!(s.holds_per_minute_per_address, 9);
        let d = Settings::default();
        assert_eq!(s.database_url, "sqlite://data/livecart.db");
        assert_eq!(s.reservation_ttl, Duration::from_secs(900));
        assert_eq!(s.max_copies_per_shopper, 1);
        assert_eq!(s.covers_url, "https://covers.openlibrary.org");
        assert_eq!(s.max_body_bytes, 65536);
        assert_eq!(s.ws_ping_interval, Duration::from_secs(20));
        assert_eq!(s.ws_send_timeout, Duration::from_secs(10));
        assert_eq!(s.sign_in_concurrency, d.sign_in_concurrency);
        assert_eq!(s.max_books_per_cart, 20);
        assert_eq!(s.max_hold_age, Duration::from_secs(3600));
        assert_eq!(s.shutdown_deadline, Duration::from_secs(10));
        assert!(s.pg_notify);
        assert_eq!(s.header_read_timeout, Duration::from_secs(10));
    }

    #[test]
    fn the_projects_leptos_toml_parses() {
        let text = include_str!("../../Leptos.toml");
        let parsed: LeptosToml = toml::from_str(text).unwrap();
        Settings::from_sources(Some(parsed.livecart), env(&[])).unwrap();
    }
}
