//! `cargo xtask bench mcp`: what `harnessgym mcp-proxy` adds to a tools/call, next to the floor
//! of a minimal relay, measured with `../shared/tools/mcpbench/bench_client.py` (sequential calls)
//! against its `echo_server.py`.
//!
//! Per framing (newline JSON, Content-Length; client and server speak the same one) three
//! configurations run: the server directly, behind [`relay`] (this binary in release mode: read a
//! message, parse it, re-encode it, forward it; two threads, blocking I/O — nothing else), and
//! behind `target/release/harnessgym mcp-proxy` (telemetry on). Every round runs all six in a
//! rotated order, so drift on this shared machine spreads evenly; figures are medians over the
//! rounds, and "added" figures are medians of per-round differences against the direct run.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::os::fd::AsFd;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use anyhow::{Context, bail};
use serde_json::Value;

const USAGE: &str = "usage: cargo xtask bench mcp [--mcpbench DIR] [--rounds N] [--calls N] [--payload BYTES]";

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Wire {
    Nd,
    Cl,
}

impl Wire {
    fn client_flag(self) -> &'static str {
        match self {
            Self::Nd => "nd",
            Self::Cl => "cl",
        }
    }

    fn proxy_flag(self) -> &'static str {
        match self {
            Self::Nd => "ndjson",
            Self::Cl => "content-length",
        }
    }

    fn label(self) -> &'static str {
        match self {
            Self::Nd => "newline JSON",
            Self::Cl => "Content-Length",
        }
    }

    fn parse(text: &str) -> anyhow::Result<Self> {
        match text {
            "nd" | "ndjson" => Ok(Self::Nd),
            "cl" | "content-length" => Ok(Self::Cl),
            other => bail!("unknown framing {other:?}"),
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Path3 {
    Direct,
    Relay,
    Proxy,
}

impl Path3 {
    fn label(self) -> &'static str {
        match self {
            Self::Direct => "direct",
            Self::Relay => "minimal relay",
            Self::Proxy => "harnessgym mcp-proxy",
        }
    }
}

#[derive(Clone, Copy, Debug, Default)]
struct Sample {
    startup_ms: f64,
    p50_us: f64,
    p99_us: f64,
    calls_per_s: f64,
}

fn flag<'a>(args: &'a [String], name: &str) -> Option<&'a str> {
    args.iter().position(|a| a == name).and_then(|i| args.get(i + 1)).map(String::as_str)
}

fn median(mut values: Vec<f64>) -> f64 {
    if values.is_empty() {
        return f64::NAN;
    }
    values.sort_by(f64::total_cmp);
    let mid = values.len() / 2;
    if values.len() % 2 == 1 { values[mid] } else { (values[mid - 1] + values[mid]) / 2.0 }
}

fn machine() -> String {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|t| {
            t.lines().find(|l| l.starts_with("model name")).map(|l| l.split(':').nth(1).unwrap_or("").trim().to_owned())
        })
        .unwrap_or_else(|| "unknown CPU".to_owned());
    let cores = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(0);
    let kernel = Command::new("uname")
        .arg("-r")
        .output()
        .ok()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
        .unwrap_or_default();
    format!("{cpu}, {cores} cores, Linux {kernel}")
}

pub fn bench_mcp(root: &Path, args: &[String]) -> anyhow::Result<()> {
    let mcpbench = flag(args, "--mcpbench").map(PathBuf::from).unwrap_or_else(|| root.join("../shared/tools/mcpbench"));
    let client = mcpbench.join("bench_client.py");
    let server = mcpbench.join("echo_server.py");
    if !client.is_file() || !server.is_file() {
        bail!("{} must hold bench_client.py and echo_server.py; pass --mcpbench DIR\n{USAGE}", mcpbench.display());
    }
    let number = |name: &str, default: usize| -> anyhow::Result<usize> {
        flag(args, name).map_or(Ok(default), |v| v.parse().with_context(|| format!("{name} {v}")))
    };
    let rounds = number("--rounds", 9)?;
    let startup_rounds = number("--startup-rounds", 30)?;
    let calls = number("--calls", 3000)?;
    let payload = number("--payload", 64)?;

    super::run(Command::new("cargo").current_dir(root).args([
        "build",
        "--release",
        "--quiet",
        "-p",
        "harnessgym-cli",
        "-p",
        "xtask",
    ]))?;
    let harnessgym = root.join("target/release/harnessgym");
    let relay = root.join("target/release/xtask");
    let scratch = root.join("target/bench/mcp");
    if scratch.exists() {
        std::fs::remove_dir_all(&scratch)?;
    }
    std::fs::create_dir_all(&scratch)?;
    let server_path = server.to_str().context("non-UTF-8 path")?;
    let scratch_str = scratch.to_str().context("non-UTF-8 path")?;

    // The interpreter itself, not a `python3` found on PATH: on a machine with pyenv that is a
    // chain of bash shims adding tens of milliseconds, with tens of milliseconds of jitter, to
    // every start-up measured.
    let python = super::python_executable()?;
    let configs: Vec<(Wire, Path3)> = [Wire::Nd, Wire::Cl]
        .into_iter()
        .flat_map(|w| [Path3::Direct, Path3::Relay, Path3::Proxy].into_iter().map(move |p| (w, p)))
        .collect();
    let mut samples: BTreeMap<(Wire, Path3), Vec<Sample>> = BTreeMap::new();
    let mut startups: BTreeMap<(Wire, Path3), Vec<f64>> = BTreeMap::new();
    eprintln!(
        "{rounds} rounds × {} configurations × {calls} sequential calls ({payload}-byte payload), then \
         {startup_rounds} start-up rounds",
        configs.len()
    );
    for round in 0..rounds + startup_rounds {
        // The first rounds measure calls; the rest start a server for one call each, for the
        // start-up figures (many short samples: start-up jitters by milliseconds).
        let n = if round < rounds { calls } else { 1 };
        for k in 0..configs.len() {
            let (wire, path) = configs[(k + round) % configs.len()];
            let mut cmd = Command::new(&python);
            cmd.arg(&client)
                .args(["--framing", wire.client_flag(), "-n", &n.to_string(), "--payload", &payload.to_string()])
                .arg("--");
            match path {
                Path3::Direct => {}
                Path3::Relay => {
                    cmd.arg(&relay).args(["relay", "--framing", wire.client_flag(), "--"]);
                }
                Path3::Proxy => {
                    cmd.arg(&harnessgym).args([
                        "mcp-proxy",
                        "--server-name",
                        "echo",
                        "--workspace",
                        scratch_str,
                        "--cwd",
                        scratch_str,
                        "--server-framing",
                        wire.proxy_flag(),
                        "--response-timeout",
                        "60",
                        "--",
                    ]);
                }
            }
            cmd.arg(&python).arg(server_path).env_remove("HARNESSGYM_MCP_TELEMETRY_PATH");
            let out = cmd.stderr(Stdio::inherit()).output().context("running bench_client.py")?;
            if !out.status.success() {
                bail!("bench_client.py failed ({}) for {wire:?}/{path:?}", out.status);
            }
            let v: Value = serde_json::from_slice(&out.stdout).context("parsing bench_client.py output")?;
            let get = |k: &str| v.get(k).and_then(Value::as_f64).unwrap_or(f64::NAN);
            let sample = Sample {
                startup_ms: get("startup_ms"),
                p50_us: get("p50_us"),
                p99_us: get("p99_us"),
                calls_per_s: get("calls_per_s"),
            };
            if round < rounds {
                samples.entry((wire, path)).or_default().push(sample);
            } else {
                startups.entry((wire, path)).or_default().push(sample.startup_ms);
            }
        }
        if round + 1 == rounds || round + 1 == rounds + startup_rounds {
            eprintln!("round {}/{} done", round + 1, rounds + startup_rounds);
        }
    }
    let telemetry_lines =
        std::fs::read_to_string(scratch.join(".harnessgym/mcp_calls.jsonl")).map(|t| t.lines().count()).unwrap_or(0);
    let expected_lines = (rounds * calls + startup_rounds) * 2;
    if telemetry_lines != expected_lines {
        bail!("the proxy logged {telemetry_lines} telemetry lines, expected {expected_lines}");
    }

    println!(
        "Machine: {}; {rounds} rounds × {calls} calls, payload {payload} bytes; start-up over {startup_rounds} rounds \
         of one call; interpreter {}.",
        machine(),
        python.display()
    );
    println!();
    println!("| framing | path | p50 µs | p99 µs | added p50 µs | calls/s | start-up ms | added start-up ms |");
    println!("|---|---|---|---|---|---|---|---|");
    let mut goals = Vec::new();
    for wire in [Wire::Nd, Wire::Cl] {
        let direct = &samples[&(wire, Path3::Direct)];
        let mut added_p50 = BTreeMap::new();
        let mut cps = BTreeMap::new();
        let mut added_start = BTreeMap::new();
        for path in [Path3::Direct, Path3::Relay, Path3::Proxy] {
            let s = &samples[&(wire, path)];
            let m = |f: fn(&Sample) -> f64| median(s.iter().map(f).collect());
            let paired = |f: fn(&Sample) -> f64| median(s.iter().zip(direct).map(|(a, b)| f(a) - f(b)).collect());
            let add_p50 = paired(|x| x.p50_us);
            let (starts, direct_starts) = (&startups[&(wire, path)], &startups[&(wire, Path3::Direct)]);
            let add_start = median(starts.iter().zip(direct_starts).map(|(a, b)| a - b).collect());
            added_p50.insert(path, add_p50);
            cps.insert(path, m(|x| x.calls_per_s));
            added_start.insert(path, add_start);
            let dash = |v: f64| if path == Path3::Direct { "—".to_owned() } else { format!("{v:+.1}") };
            println!(
                "| {} | {} | {:.1} | {:.1} | {} | {:.0} | {:.1} | {} |",
                wire.label(),
                path.label(),
                m(|x| x.p50_us),
                m(|x| x.p99_us),
                dash(add_p50),
                m(|x| x.calls_per_s),
                median(starts.clone()),
                dash(add_start),
            );
        }
        let (relay_add, proxy_add) = (added_p50[&Path3::Relay], added_p50[&Path3::Proxy]);
        let ratio = proxy_add / relay_add;
        let cps_ratio = cps[&Path3::Proxy] / cps[&Path3::Relay];
        let start = added_start[&Path3::Proxy];
        let verdict = |ok: bool| if ok { "met" } else { "NOT met" };
        goals.push(format!(
            "- {}: added p50 {proxy_add:.1} µs = {ratio:.2}× the relay's {relay_add:.1} µs (goal ≤ 1.5×: {}); \
             calls/s {:.0}% of the relay's (goal ≥ 80%: {}); added start-up {start:.1} ms (goal ≤ 5 ms: {})",
            wire.label(),
            verdict(ratio <= 1.5),
            cps_ratio * 100.0,
            verdict(cps_ratio >= 0.8),
            verdict(start <= 5.0),
        ));
    }
    println!();
    for g in goals {
        println!("{g}");
    }
    println!("- telemetry: {telemetry_lines} lines for {expected_lines} proxied calls");
    Ok(())
}

/// Reads one message in `wire` framing; `None` at EOF.
fn read_message(input: &mut impl BufRead, wire: Wire) -> anyhow::Result<Option<Vec<u8>>> {
    let mut line = Vec::new();
    loop {
        line.clear();
        if input.read_until(b'\n', &mut line)? == 0 {
            return Ok(None);
        }
        if !line.trim_ascii().is_empty() {
            break;
        }
    }
    match wire {
        Wire::Nd => Ok(Some(line)),
        Wire::Cl => {
            let mut length = None;
            loop {
                let text = String::from_utf8_lossy(&line);
                if let Some((name, value)) = text.split_once(':')
                    && name.trim().eq_ignore_ascii_case("content-length")
                {
                    length = Some(value.trim().parse::<usize>().context("bad Content-Length")?);
                }
                line.clear();
                if input.read_until(b'\n', &mut line)? == 0 {
                    return Ok(None);
                }
                if line.trim_ascii().is_empty() {
                    break;
                }
            }
            let mut body = vec![0u8; length.context("header block without Content-Length")?];
            input.read_exact(&mut body)?;
            Ok(Some(body))
        }
    }
}

/// Parses and re-encodes one message (what any relay must do at the least) and writes it with
/// one `write`.
fn write_message(output: &mut impl Write, wire: Wire, raw: &[u8]) -> anyhow::Result<()> {
    let value: Value = serde_json::from_slice(raw.trim_ascii()).context("invalid JSON")?;
    let body = serde_json::to_vec(&value)?;
    let message = match wire {
        Wire::Nd => {
            let mut m = body;
            m.push(b'\n');
            m
        }
        Wire::Cl => {
            let mut m = format!("Content-Length: {}\r\n\r\n", body.len()).into_bytes();
            m.extend_from_slice(&body);
            m
        }
    };
    output.write_all(&message)?;
    output.flush()?;
    Ok(())
}

fn pump(input: impl Read, mut output: impl Write, wire: Wire) -> anyhow::Result<()> {
    let mut input = BufReader::with_capacity(64 * 1024, input);
    while let Some(raw) = read_message(&mut input, wire)? {
        write_message(&mut output, wire, &raw)?;
    }
    Ok(())
}

/// Our stdin or stdout as a plain file: no line buffering splitting a message into two writes.
fn raw_fd(fd: std::os::fd::BorrowedFd<'_>) -> anyhow::Result<std::fs::File> {
    Ok(std::fs::File::from(fd.try_clone_to_owned()?))
}

/// `xtask relay --framing nd|cl -- CMD…`: the bench's floor. Starts CMD and forwards every
/// message each way, parsed and re-encoded, on two threads with blocking I/O.
pub fn relay(args: &[String]) -> anyhow::Result<()> {
    let wire = Wire::parse(flag(args, "--framing").unwrap_or("nd"))?;
    let dash = args.iter().position(|a| a == "--").context("usage: xtask relay --framing nd|cl -- CMD…")?;
    let (program, rest) = args[dash + 1..].split_first().context("no command after --")?;
    let mut child = Command::new(program)
        .args(rest)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .context("starting CMD")?;
    let child_in = child.stdin.take().context("stdin")?;
    let child_out = child.stdout.take().context("stdout")?;
    let stdout = raw_fd(std::io::stdout().as_fd())?;
    let stdin = raw_fd(std::io::stdin().as_fd())?;
    let back = std::thread::spawn(move || pump(child_out, stdout, wire));
    let forward = pump(stdin, child_in, wire);
    // child_in was moved into pump and is closed now: the server sees EOF.
    let _ = child.wait();
    let _ = back.join();
    forward
}
