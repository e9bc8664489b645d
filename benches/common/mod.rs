//! What the external benchmarks share: the real `tixshop` binary started in its own
//! process with its default settings, and a GraphQL POST helper.

#![allow(dead_code)] // each benchmark uses its part

use std::process::Stdio;

use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, BufReader};

/// The server process and where it listens.
pub struct Server {
    /// The child (killed on drop).
    pub process: tokio::process::Child,
    /// `http://127.0.0.1:PORT`.
    pub base: String,
    /// The demo shop's admin API key, printed on first start.
    pub admin_key: String,
    /// Which database it runs on, for the figures.
    pub backend: &'static str,
    /// Keeps the SQLite file's directory.
    _dir: tempfile::TempDir,
}

impl Server {
    /// The process id (to read its memory).
    pub fn pid(&self) -> u32 {
        self.process.id().expect("running")
    }

    /// Asks the server to shut down (SIGTERM) and waits for it, so a tool it runs
    /// under writes its report.
    pub async fn stop(mut self) {
        let _ = std::process::Command::new("kill").arg("-TERM").arg(self.pid().to_string()).status();
        let _ = tokio::time::timeout(std::time::Duration::from_secs(30), self.process.wait()).await;
    }

    /// CPU time the server process has used so far (user + system), from
    /// `/proc/PID/stat`: divided by the requests served, a figure the machine's other
    /// load disturbs far less than requests per second.
    pub fn cpu_time(&self) -> std::time::Duration {
        std::time::Duration::from_millis(process_ticks(&self.pid().to_string()) * MS_PER_TICK)
    }

    /// Resident memory of the server process in KiB (`VmRSS`).
    pub fn rss_kib(&self) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.pid())).expect("/proc");
        status
            .lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            .expect("VmRSS")
    }
}

/// Milliseconds per tick of `/proc`'s CPU times (USER_HZ is 100 on Linux).
const MS_PER_TICK: u64 = 10;

/// Ticks of `/proc/PID/stat`'s utime + stime (`PID` may be `self`).
fn process_ticks(pid: &str) -> u64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).expect("/proc");
    // The fields after the command's name (which is in parentheses and may hold spaces).
    let fields: Vec<&str> = stat.rsplit_once(')').expect("stat").1.split_whitespace().collect();
    // utime and stime are fields 14 and 15 of the line, 12 and 13 after the name.
    fields[11].parse::<u64>().unwrap() + fields[12].parse::<u64>().unwrap()
}

/// The machine's (busy, idle) ticks over all cores, from `/proc/stat`.
fn machine_ticks() -> (u64, u64) {
    let stat = std::fs::read_to_string("/proc/stat").expect("/proc/stat");
    let cpu: Vec<u64> =
        stat.lines().next().expect("cpu line").split_whitespace().skip(1).map(|f| f.parse().unwrap()).collect();
    // user nice system idle iowait irq softirq steal (guest time is inside user).
    let idle = cpu[3] + cpu[4];
    let busy = cpu[0] + cpu[1] + cpu[2] + cpu[5] + cpu[6] + cpu[7];
    (busy, idle)
}

/// Where the machine's CPU went during a phase: the server, this process (the load
/// generator), everything else (on PostgreSQL mostly its backends) and idle. Idle time
/// during a burst means requests waited for something other than CPU (a lock, the disk).
pub struct CpuSplit {
    server: u64,
    generator: u64,
    machine: (u64, u64),
}

impl CpuSplit {
    /// Starts counting.
    pub fn start(server: &Server) -> CpuSplit {
        CpuSplit {
            server: process_ticks(&server.pid().to_string()),
            generator: process_ticks("self"),
            machine: machine_ticks(),
        }
    }

    /// The split since [`CpuSplit::start`], e.g. `CPU ms: server 180, generator 40, others 120, idle 60 (17 %)`.
    pub fn finish(self, server: &Server) -> String {
        let ms = |ticks: u64| ticks * MS_PER_TICK;
        let server_ticks = process_ticks(&server.pid().to_string()) - self.server;
        let generator = process_ticks("self") - self.generator;
        let (busy, idle) = machine_ticks();
        let (busy, idle) = (busy - self.machine.0, idle - self.machine.1);
        let others = busy.saturating_sub(server_ticks + generator);
        format!(
            "CPU ms: server {}, generator {}, others {}, idle {} ({:.0} %)",
            ms(server_ticks),
            ms(generator),
            ms(others),
            ms(idle),
            idle as f64 * 100.0 / (busy + idle).max(1) as f64
        )
    }
}

/// `perf record` of the server during one phase of a benchmark, when
/// `TIXSHOP_BENCH_PERF` names a directory: the profile goes to `DIR/PHASE.data`
/// (`perf report -i DIR/PHASE.data`). Profiling only the phase leaves out the set-up
/// requests, which would otherwise fill most of the samples.
pub struct Profile(Option<std::process::Child>);

impl Profile {
    /// Starts recording `server` (a no-op without `TIXSHOP_BENCH_PERF`).
    pub fn start(server: &Server, phase: &str) -> Profile {
        let Ok(dir) = std::env::var("TIXSHOP_BENCH_PERF") else { return Profile(None) };
        // `TIXSHOP_BENCH_PERF_ALL=1`: every process (PostgreSQL's backends too), not only the server.
        let target = if std::env::var("TIXSHOP_BENCH_PERF_ALL").is_ok_and(|v| v == "1") {
            vec!["-a".to_owned()]
        } else {
            vec!["-p".to_owned(), server.pid().to_string()]
        };
        let child = std::process::Command::new("perf")
            .args(["record", "-g", "-F", "2000", "-o"])
            .arg(std::path::Path::new(&dir).join(format!("{phase}.data")))
            .args(target)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("perf");
        // perf needs a moment to attach.
        std::thread::sleep(std::time::Duration::from_millis(300));
        Profile(Some(child))
    }

    /// Stops recording (SIGINT, so perf writes its file) and waits for it.
    pub fn stop(self) {
        let Some(mut child) = self.0 else { return };
        let _ = std::process::Command::new("kill").arg("-INT").arg(child.id().to_string()).status();
        let _ = child.wait();
    }
}

/// Starts `tixshop serve` on a fresh database (`TIXSHOP_BENCH_DATABASE_URL`, else a
/// temporary SQLite file) with default settings.
pub async fn start_server() -> Server {
    let dir = tempfile::tempdir().unwrap();
    let database = std::env::var("TIXSHOP_BENCH_DATABASE_URL")
        .unwrap_or_else(|_| format!("sqlite://{}", dir.path().join("bench.db").display()));
    let backend = if database.starts_with("postgres") { "PostgreSQL" } else { "SQLite" };
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    // `TIXSHOP_BENCH_WRAPPER="valgrind --tool=massif"` runs the server under a tool.
    let wrapper = std::env::var("TIXSHOP_BENCH_WRAPPER").unwrap_or_default();
    let mut words = wrapper.split_whitespace();
    let mut command = match words.next() {
        Some(tool) => {
            let mut command = tokio::process::Command::new(tool);
            command.args(words).arg(env!("CARGO_BIN_EXE_tixshop"));
            command
        }
        None => tokio::process::Command::new(env!("CARGO_BIN_EXE_tixshop")),
    };
    let mut process = command
        .arg("serve")
        .env("DATABASE_URL", &database)
        .env("TIXSHOP_BIND", format!("127.0.0.1:{port}"))
        .env("TIXSHOP_LOG", "warn")
        .env("TIXSHOP_WEBHOOK_DISPATCH", "false")
        .stdout(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("start the server");
    let mut lines = BufReader::new(process.stdout.take().unwrap()).lines();
    let mut admin_key = String::new();
    while let Ok(Some(line)) = lines.next_line().await {
        if line.trim_start().starts_with("tix_") {
            admin_key = line.trim().to_owned();
        }
        if line.contains("listening") {
            break;
        }
    }
    // Keep reading its output, so the pipe never fills up.
    tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
    Server { process, base: format!("http://127.0.0.1:{port}"), admin_key, backend, _dir: dir }
}

/// POSTs a GraphQL operation; the JSON answer or why there was none.
pub async fn post(http: &reqwest::Client, url: &str, query: &str, variables: Value) -> Result<Value, String> {
    post_as(http, url, None, query, variables).await
}

/// [`post`] with an API key, when given.
pub async fn post_as(
    http: &reqwest::Client,
    url: &str,
    key: Option<&str>,
    query: &str,
    variables: Value,
) -> Result<Value, String> {
    let mut request = http.post(url).json(&json!({ "query": query, "variables": variables }));
    if let Some(key) = key {
        request = request.bearer_auth(key);
    }
    let response = request.send().await.map_err(|e| e.to_string())?;
    response.json().await.map_err(|e| e.to_string())
}

/// The `p` quantile of sorted durations.
pub fn percentile(sorted: &[std::time::Duration], p: f64) -> std::time::Duration {
    if sorted.is_empty() {
        return std::time::Duration::ZERO;
    }
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}
