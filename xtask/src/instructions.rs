//! `cargo xtask instructions`: how many instructions tlscap executes on fixed inputs, counted by
//! valgrind's callgrind. A count does not depend on what else the machine is doing, so it shows
//! a change of a fraction of a percent where wall-clock timings on a shared 2-core machine
//! cannot (see README "Benchmarks").
//!
//! Workloads, each `tlscap scan INPUT -o DIR -j 1` under callgrind:
//! - `scan-<size>`: a tile of the bench's base capture (real TLS traffic from
//!   `tests/realstack/gen.sh bulk`, the capture `cargo xtask bench` tiles), or `--input FILE`;
//! - `corpus`: the corpus's small captures (`../shared/corpus` or `TLSCAP_CORPUS`), where
//!   per-file costs and the variety of protocols weigh more.
//!
//! valgrind runs the threads of a process one at a time and counts them all: `-j 1` keeps the
//! work that is counted the same as the work done, with no idle spinning of other workers.

use std::fmt::Write as _;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Instant;

use anyhow::{bail, ensure, Context, Result};
use serde_json::{json, Value};

use crate::bench::{build_tlscap, ensure_base, find_program, install_packages, Base, Tiles};
use crate::flags::Flags;

const HELP: &str = "\
usage: cargo xtask instructions [--size-mib 64] [--input FILE] [--corpus DIR | --no-corpus]
                                [--runs 3] [--top 15] [--baseline FILE]

Counts the instructions of `tlscap scan INPUT -o DIR -j 1` with valgrind's callgrind, for each
workload:
  scan-<size>  a tile of <size> MiB of the bench's base capture of real TLS traffic
               (target/bench/base.pcap, made by tests/realstack/gen.sh as for `cargo xtask
               bench`; the tile is kept in target/instructions and reused)
  corpus       the corpus captures (../shared/corpus or TLSCAP_CORPUS), when present

Prints, per workload, the total instructions (the median of --runs runs, and their spread),
the part in tlscap's binary (its code and what is linked into it, not libc), both per packet,
and the functions with the highest self cost (callgrind_annotate). Counts do not depend on the
machine's load. Totals differ between runs by up to ~0.4% (whether glibc's realloc copies
depends on how threads interleave), the part in the binary by a few hundredths of a percent.

  --size-mib N     size of the tile (default 64)
  --input FILE     scan FILE instead of the tile (workload `scan-<file name>`)
  --corpus DIR     the corpus folder (default: TLSCAP_CORPUS or ../shared/corpus)
  --no-corpus      skip the corpus workload
  --runs N         runs per workload (default 3; each takes ~5 s)
  --top N          functions listed per workload (default 15)
  --baseline FILE  an earlier results.json: print the change of each count, in %

Installs valgrind with apt-get when missing. Writes target/instructions/results.json (keep a
copy as the baseline of a later run) and the median run's profile callgrind.<workload>.out, to
read with callgrind_annotate or kcachegrind.";

struct Options {
    size_mib: u64,
    input: Option<PathBuf>,
    corpus: Option<PathBuf>,
    no_corpus: bool,
    top: usize,
    runs: usize,
    baseline: Option<PathBuf>,
}

fn parse_options(args: &[String]) -> Result<Option<Options>> {
    let mut opts = Options {
        size_mib: 64,
        input: None,
        corpus: None,
        no_corpus: false,
        top: 15,
        runs: 3,
        baseline: None,
    };
    let mut flags = Flags::new(args, HELP);
    while let Some(flag) = flags.next_flag() {
        let number = |v: String| -> Result<u64> {
            v.trim()
                .parse()
                .ok()
                .filter(|&n| n > 0)
                .with_context(|| format!("{}: `{v}` is not a positive whole number", flag.name))
        };
        match flag.name {
            "-h" | "--help" => {
                println!("{HELP}");
                return Ok(None);
            }
            "--size-mib" => opts.size_mib = number(flags.value(&flag)?)?,
            "--top" => opts.top = number(flags.value(&flag)?)? as usize,
            "--runs" => opts.runs = number(flags.value(&flag)?)? as usize,
            "--input" => opts.input = Some(PathBuf::from(flags.value(&flag)?)),
            "--corpus" => opts.corpus = Some(PathBuf::from(flags.value(&flag)?)),
            "--no-corpus" if flag.is_switch() => opts.no_corpus = true,
            "--baseline" => opts.baseline = Some(PathBuf::from(flags.value(&flag)?)),
            _ => bail!("unknown option `{}`\n\n{HELP}", flag.arg),
        }
    }
    Ok(Some(opts))
}

fn log(msg: impl AsRef<str>) {
    eprintln!("xtask instructions: {}", msg.as_ref());
}

/// One input scanned under callgrind.
struct Workload {
    name: String,
    input: PathBuf,
    /// Capture bytes, when known exactly (a file); otherwise tlscap's own count is used.
    bytes: Option<u64>,
}

/// What one callgrind run measured.
struct Measured {
    name: String,
    input: PathBuf,
    command: String,
    fingerprint: String,
    files: u64,
    bytes: u64,
    packets: u64,
    handshakes: u64,
    /// File name of the profiled binary.
    binary: String,
    /// The run with the median total.
    profile: Profile,
    /// Every run's total and count in the binary.
    runs: Vec<(u64, u64)>,
    /// The median run's callgrind profile.
    kept: PathBuf,
    /// Mean wall time of a run under valgrind.
    seconds: f64,
}

pub fn run(args: &[String]) -> Result<()> {
    let Some(opts) = parse_options(args)? else {
        return Ok(());
    };
    let started = Instant::now();
    let (root, target, dir) = crate::output_dir("instructions")?;
    let baseline = opts
        .baseline
        .as_deref()
        .map(|p| -> Result<Value> {
            let text =
                fs::read_to_string(p).with_context(|| format!("cannot read {}", p.display()))?;
            serde_json::from_str(&text)
                .with_context(|| format!("{} is not a results.json", p.display()))
        })
        .transpose()?;

    if find_program("valgrind").is_none() || find_program("callgrind_annotate").is_none() {
        install_packages(&["valgrind"])?;
    }
    let valgrind_version = output_of(Command::new("valgrind").arg("--version"))?;
    build_tlscap(&root)?;
    let tlscap = target.join("release").join("tlscap");
    ensure!(
        tlscap.is_file(),
        "{} is missing after the build",
        tlscap.display()
    );

    let mut workloads = Vec::new();
    match &opts.input {
        Some(input) => {
            let name = input
                .file_name()
                .map_or_else(|| "input".into(), |n| n.to_string_lossy().into_owned());
            let meta =
                fs::metadata(input).with_context(|| format!("cannot read {}", input.display()))?;
            workloads.push(Workload {
                name: format!("scan-{name}"),
                input: input.clone(),
                bytes: meta.is_file().then_some(meta.len()),
            });
        }
        None => {
            let bench_dir = target.join("bench");
            fs::create_dir_all(&bench_dir)
                .with_context(|| format!("cannot create {}", bench_dir.display()))?;
            let base_path = ensure_base(&root, &bench_dir)?;
            let data = fs::read(&base_path)
                .with_context(|| format!("cannot read {}", base_path.display()))?;
            let base = Base::parse(&data).with_context(|| format!("{}", base_path.display()))?;
            drop(data);
            let mut tiles = Tiles::new(dir.clone(), &base_path, true);
            let tile = tiles.get(&base, opts.size_mib)?;
            workloads.push(Workload {
                name: format!("scan-{}", tile.label),
                input: tile.path.clone(),
                bytes: Some(tile.bytes),
            });
        }
    }
    if !opts.no_corpus {
        let corpus = opts.corpus.clone().unwrap_or_else(|| {
            std::env::var_os("TLSCAP_CORPUS")
                .map_or_else(|| root.join("../shared/corpus"), PathBuf::from)
        });
        if corpus.is_dir() {
            workloads.push(Workload {
                name: "corpus".into(),
                input: corpus,
                bytes: None,
            });
        } else if opts.corpus.is_some() {
            bail!("--corpus {}: not a folder", corpus.display());
        } else {
            log(format!(
                "no corpus at {}: the corpus workload is skipped",
                corpus.display()
            ));
        }
    }

    let mut results = Vec::new();
    for w in &workloads {
        results.push(measure(&tlscap, &dir, w, opts.runs)?);
    }

    let json = results_json(&valgrind_version, &root, &results, opts.top);
    let json_path = dir.join("results.json");
    fs::write(
        &json_path,
        serde_json::to_string_pretty(&json).expect("a JSON value prints") + "\n",
    )
    .with_context(|| format!("cannot write {}", json_path.display()))?;

    print!("{}", report(&results, baseline.as_ref(), opts.top));
    println!(
        "\nresults written to {} (profiles: {}/callgrind.<workload>.out)",
        json_path.display(),
        dir.display()
    );
    log(format!("done in {:.0} s", started.elapsed().as_secs_f64()));
    Ok(())
}

fn output_of(cmd: &mut Command) -> Result<String> {
    let shown = format!("{cmd:?}");
    let out = cmd
        .output()
        .with_context(|| format!("cannot run {shown}"))?;
    ensure!(out.status.success(), "{shown} failed ({})", out.status);
    Ok(String::from_utf8_lossy(&out.stdout).trim().to_string())
}

/// The environment of every counted run. One arena for libc's malloc, which serves zstd's
/// contexts (Rust's allocations go to mimalloc, linked into the binary): with one per thread,
/// whether a `realloc` grows in place or copies depends on how the threads' allocations
/// interleave, and totals differed by up to 0.3% between runs; with one, by about 0.1%.
/// mimalloc hands freed pages back on a 10 ms timer, which could make its own count depend on
/// timing; measured, it did not (three runs of each workload: 0.00% spread in the binary).
const ENV: (&str, &str) = ("MALLOC_ARENA_MAX", "1");

/// Runs the workload `runs` times under callgrind; the run with the median total is reported
/// (its profile is kept as `callgrind.<workload>.out`).
fn measure(tlscap: &Path, dir: &Path, w: &Workload, runs: usize) -> Result<Measured> {
    let kept = dir.join(format!("callgrind.{}.out", w.name));
    let out_dir = dir.join("scan-out");
    let command = format!(
        "{}={} valgrind --tool=callgrind tlscap scan {} -o DIR -j 1",
        ENV.0,
        ENV.1,
        w.input.display(),
    );
    log(format!("{}: {command}  ({runs} runs)", w.name));
    let binary = tlscap
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let mut done: Vec<(Profile, PathBuf)> = Vec::new();
    let mut scanned = None;
    let mut seconds = 0.0;
    for run in 0..runs {
        let path = dir.join(format!("callgrind.{}.run{run}.out", w.name));
        let vg_log = dir.join(format!("{}.valgrind.log", w.name));
        let _ = fs::remove_dir_all(&out_dir);
        let started = Instant::now();
        let out = Command::new("valgrind")
            .arg("--tool=callgrind")
            .arg(format!("--callgrind-out-file={}", path.display()))
            .arg(format!("--log-file={}", vg_log.display()))
            .arg(tlscap)
            .arg("scan")
            .arg(&w.input)
            .arg("-o")
            .arg(&out_dir)
            .args(["-j", "1"])
            .env(ENV.0, ENV.1)
            .stdin(Stdio::null())
            .output()
            .context("cannot run valgrind")?;
        let secs = started.elapsed().as_secs_f64();
        seconds += secs / runs as f64;
        // Exit status 1: some input was not read whole (the corpus holds damaged captures on
        // purpose); everything readable was still scanned.
        if !matches!(out.status.code(), Some(0 | 1)) {
            let log_text = fs::read_to_string(&vg_log).unwrap_or_default();
            let tail: Vec<&str> = log_text.lines().rev().take(15).collect();
            bail!(
                "{}: tlscap under valgrind failed ({}):\n{}\n{}",
                w.name,
                out.status,
                String::from_utf8_lossy(&out.stderr).trim(),
                tail.into_iter().rev().collect::<Vec<_>>().join("\n")
            );
        }
        let _ = fs::remove_dir_all(&out_dir);
        if scanned.is_none() {
            let summary = String::from_utf8_lossy(&out.stdout);
            scanned = Some(Scanned::parse(&summary).with_context(|| {
                format!("{}: no summary in tlscap's output:\n{summary}", w.name)
            })?);
        }
        let annotate = output_of(
            Command::new("callgrind_annotate")
                .args(["--inclusive=no", "--threshold=100", "--auto=no"])
                .arg(&path),
        )?;
        let profile = Profile::parse(&annotate, &binary).with_context(|| {
            format!(
                "cannot read callgrind_annotate's output on {}",
                path.display()
            )
        })?;
        log(format!(
            "{}: run {}: {} instructions, {} in {binary} ({secs:.1} s)",
            w.name,
            run + 1,
            thousands(profile.total),
            thousands(profile.in_binary),
        ));
        done.push((profile, path));
    }
    let scanned = scanned.expect("at least one run");
    let runs_counted: Vec<(u64, u64)> = done.iter().map(|(p, _)| (p.total, p.in_binary)).collect();
    done.sort_by_key(|(p, _)| p.total);
    let (profile, median) = done.remove(done.len() / 2);
    for (_, other) in &done {
        let _ = fs::remove_file(other);
    }
    fs::rename(&median, &kept)
        .with_context(|| format!("cannot rename {} to {}", median.display(), kept.display()))?;
    Ok(Measured {
        name: w.name.clone(),
        input: w.input.clone(),
        command,
        fingerprint: fingerprint(&w.input)?,
        files: scanned.files,
        bytes: w.bytes.unwrap_or(scanned.bytes),
        packets: scanned.packets,
        handshakes: scanned.handshakes,
        binary,
        profile,
        runs: runs_counted,
        kept,
        seconds,
    })
}

/// (max - min) / median of the runs' totals and of their counts in the binary.
fn spreads(m: &Measured) -> (f64, f64) {
    let range = |v: Vec<u64>| {
        let lo = v.iter().copied().min().unwrap_or(0);
        let hi = v.iter().copied().max().unwrap_or(0);
        hi - lo
    };
    (
        per(range(m.runs.iter().map(|r| r.0).collect()), m.profile.total),
        per(
            range(m.runs.iter().map(|r| r.1).collect()),
            m.profile.in_binary,
        ),
    )
}

/// The figures of tlscap's summary (`Scanned 1 file(s), 67.1 MB, 56012 packets in 0.10 s`,
/// `Handshakes: 85  established 85 ...`).
struct Scanned {
    files: u64,
    bytes: u64,
    packets: u64,
    handshakes: u64,
}

impl Scanned {
    fn parse(summary: &str) -> Option<Scanned> {
        let line = summary.lines().find_map(|l| l.strip_prefix("Scanned "))?;
        let mut parts = line.split(", ");
        let files = parts.next()?.strip_suffix(" file(s)")?.parse().ok()?;
        let mb: f64 = parts.next()?.strip_suffix(" MB")?.parse().ok()?;
        let packets = parts.next()?.split(' ').next()?.parse().ok()?;
        let handshakes = summary
            .lines()
            .find_map(|l| l.strip_prefix("Handshakes: "))?
            .split_whitespace()
            .next()?
            .parse()
            .ok()?;
        Some(Scanned {
            files,
            bytes: (mb * 1e6).round() as u64,
            packets,
            handshakes,
        })
    }
}

/// One callgrind profile, as `callgrind_annotate --inclusive=no` lists it.
#[derive(Debug, PartialEq)]
struct Profile {
    total: u64,
    /// Instructions in the tlscap binary: its code and what is linked into it (Rust's std,
    /// zstd, the mimalloc allocator). Unlike libc's memcpy and malloc, the same in every run.
    in_binary: u64,
    /// (object file name, self instructions), highest first.
    objects: Vec<(String, u64)>,
    /// (function, self instructions), highest first; a function's cost is summed over the
    /// source files its code comes from (inlined code is listed under the file it was written
    /// in).
    functions: Vec<(String, u64)>,
}

impl Profile {
    /// `binary`: the file name of the profiled program.
    fn parse(text: &str, binary: &str) -> Option<Profile> {
        use std::collections::HashMap;
        let mut total = None;
        let mut by_function: HashMap<String, u64> = HashMap::new();
        let mut object_of: HashMap<String, String> = HashMap::new();
        for line in text.lines() {
            let line = line.trim();
            let Some((count, rest)) = line.split_once(' ') else {
                continue;
            };
            let Ok(count) = count.replace(',', "").parse::<u64>() else {
                continue;
            };
            let mut rest = rest.trim_start();
            if rest.starts_with('(') {
                rest = rest.split_once(')').map_or("", |(_, r)| r).trim_start();
            }
            if rest == "PROGRAM TOTALS" {
                total = Some(count);
                continue;
            }
            // `file:function [object]`; the object is given on the function's first line.
            let (spec, object) = match rest.rsplit_once(" [") {
                Some((s, obj)) if obj.ends_with(']') => (s, Some(&obj[..obj.len() - 1])),
                _ => (rest, None),
            };
            let function = split_file(spec).1;
            *by_function.entry(function.to_string()).or_default() += count;
            if let Some(object) = object {
                let name = object.rsplit('/').next().unwrap_or(object);
                object_of
                    .entry(function.to_string())
                    .or_insert_with(|| name.to_string());
            }
        }
        let mut by_object: HashMap<String, u64> = HashMap::new();
        for (f, n) in &by_function {
            let object = object_of.get(f).map_or("?", String::as_str);
            *by_object.entry(object.to_string()).or_default() += n;
        }
        let sorted = |m: HashMap<String, u64>| {
            let mut v: Vec<(String, u64)> = m.into_iter().collect();
            v.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
            v
        };
        Some(Profile {
            total: total?,
            in_binary: by_object.get(binary).copied().unwrap_or(0),
            objects: sorted(by_object),
            functions: sorted(by_function),
        })
    }
}

/// `file:function` at the first single colon (function names hold `::`, file names no colon).
fn split_file(spec: &str) -> (&str, &str) {
    let b = spec.as_bytes();
    let mut i = 0;
    while i < b.len() {
        if b[i] == b':' {
            if b.get(i + 1) == Some(&b':') {
                i += 2;
                continue;
            }
            return (&spec[..i], &spec[i + 1..]);
        }
        i += 1;
    }
    ("", spec)
}

/// FNV-1a of a file's bytes, or of a folder's file names and sizes (recursively, sorted): a
/// baseline measured on other input is flagged.
fn fingerprint(path: &Path) -> Result<String> {
    const OFFSET: u64 = 0xcbf2_9ce4_8422_2325;
    const PRIME: u64 = 0x0100_0000_01b3;
    fn fnv(h: &mut u64, bytes: &[u8]) {
        for &b in bytes {
            *h ^= u64::from(b);
            *h = h.wrapping_mul(PRIME);
        }
    }
    fn walk(dir: &Path, rel: &Path, out: &mut Vec<(PathBuf, u64)>) -> Result<()> {
        for entry in fs::read_dir(dir).with_context(|| format!("cannot list {}", dir.display()))? {
            let entry = entry?;
            let meta = entry.metadata()?;
            let rel = rel.join(entry.file_name());
            if meta.is_dir() {
                walk(&entry.path(), &rel, out)?;
            } else {
                out.push((rel, meta.len()));
            }
        }
        Ok(())
    }
    let mut h = OFFSET;
    if path.is_dir() {
        let mut files = Vec::new();
        walk(path, Path::new(""), &mut files)?;
        files.sort();
        for (name, len) in files {
            fnv(&mut h, name.to_string_lossy().as_bytes());
            fnv(&mut h, &len.to_le_bytes());
        }
    } else {
        let data = fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
        fnv(&mut h, &data);
    }
    Ok(format!("fnv1a64:{h:016x}"))
}

fn git_describe(root: &Path) -> Option<String> {
    let rev = output_of(
        Command::new("git")
            .args(["rev-parse", "--short=12", "HEAD"])
            .current_dir(root),
    )
    .ok()?;
    let dirty = Command::new("git")
        .args(["diff", "--quiet", "HEAD"])
        .current_dir(root)
        .status()
        .is_ok_and(|s| !s.success());
    Some(if dirty { format!("{rev}-dirty") } else { rev })
}

fn per(n: u64, d: u64) -> f64 {
    if d == 0 {
        f64::NAN
    } else {
        n as f64 / d as f64
    }
}

fn rounded(x: f64, places: i32) -> Value {
    if x.is_finite() {
        let scale = 10f64.powi(places);
        json!((x * scale).round() / scale)
    } else {
        Value::Null
    }
}

fn results_json(valgrind: &str, root: &Path, results: &[Measured], top: usize) -> Value {
    let workloads: Vec<Value> = results
        .iter()
        .map(|m| {
            let p = &m.profile;
            let functions: Vec<Value> = p
                .functions
                .iter()
                .take(top.max(30))
                .map(|(f, n)| {
                    json!({
                        "function": f,
                        "instructions": n,
                        "share": rounded(per(*n, p.total), 5),
                    })
                })
                .collect();
            let objects: Vec<Value> = p
                .objects
                .iter()
                .map(|(o, n)| json!({"object": o, "instructions": n}))
                .collect();
            let (spread, spread_in_binary) = spreads(m);
            let runs: Vec<Value> = m
                .runs
                .iter()
                .map(|r| json!({"instructions": r.0, "in_binary": r.1}))
                .collect();
            json!({
                "name": m.name,
                "command": m.command,
                "input": {
                    "path": m.input.display().to_string(),
                    "fingerprint": m.fingerprint,
                    "files": m.files,
                    "bytes": m.bytes,
                    "packets": m.packets,
                    "handshakes": m.handshakes,
                },
                "instructions": p.total,
                "instructions_per_packet": rounded(per(p.total, m.packets), 2),
                "instructions_per_byte": rounded(per(p.total, m.bytes), 4),
                "spread": rounded(spread, 5),
                "binary": m.binary,
                "instructions_in_binary": p.in_binary,
                "instructions_in_binary_per_packet": rounded(per(p.in_binary, m.packets), 2),
                "spread_in_binary": rounded(spread_in_binary, 5),
                "runs": runs,
                "seconds_per_run": rounded(m.seconds, 2),
                "profile": m.kept.display().to_string(),
                "objects": objects,
                "top_functions": functions,
            })
        })
        .collect();
    json!({
        "tool": format!("{valgrind} --tool=callgrind"),
        "commit": git_describe(root),
        "threads": 1,
        "environment": format!("{}={}", ENV.0, ENV.1),
        "workloads": workloads,
    })
}

/// `12,345,678`.
fn thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

fn change(new: f64, old: f64) -> String {
    if old > 0.0 && new.is_finite() {
        format!("{:+.2}%", (new / old - 1.0) * 100.0)
    } else {
        "-".into()
    }
}

/// Ellipsis in the middle, keeping the end of a long Rust path (the function's own name).
fn shorten(s: &str, width: usize) -> String {
    let n = s.chars().count();
    if n <= width {
        return s.to_string();
    }
    let tail: String = s.chars().skip(n - (width - 1)).collect();
    format!("…{tail}")
}

fn report(results: &[Measured], baseline: Option<&Value>, top: usize) -> String {
    let old_workload = |name: &str| -> Option<&Value> {
        baseline?
            .get("workloads")?
            .as_array()?
            .iter()
            .find(|w| w.get("name").and_then(Value::as_str) == Some(name))
    };
    let mut s = String::new();
    let _ = writeln!(
        s,
        "\n`tlscap scan INPUT -o DIR -j 1` under valgrind --tool=callgrind, the median of {} \
         run(s); spread: (max - min) / median.\n\"in binary\": tlscap's own code and what is \
         linked into it (the allocator too), not libc (memcpy, zstd's malloc...), whose count \
         varies more between runs.",
        results.first().map_or(0, |m| m.runs.len())
    );
    let _ = writeln!(
        s,
        "{:<14} {:>5} {:>7} {:>8} {:>15} {:>7} {:>8} {:>15} {:>7} {:>8}{}",
        "workload",
        "files",
        "MB",
        "packets",
        "instructions",
        "spread",
        "/packet",
        "in binary",
        "spread",
        "/packet",
        if baseline.is_some() {
            "  vs baseline: total, in binary"
        } else {
            ""
        }
    );
    for m in results {
        let p = &m.profile;
        let (spread, spread_in_binary) = spreads(m);
        let _ = write!(
            s,
            "{:<14} {:>5} {:>7.1} {:>8} {:>15} {:>6.2}% {:>8.0} {:>15} {:>6.2}% {:>8.0}",
            m.name,
            m.files,
            m.bytes as f64 / 1e6,
            m.packets,
            thousands(p.total),
            spread * 100.0,
            per(p.total, m.packets),
            thousands(p.in_binary),
            spread_in_binary * 100.0,
            per(p.in_binary, m.packets),
        );
        if baseline.is_some() {
            match old_workload(&m.name) {
                Some(old) => {
                    let old_count = |key: &str| old[key].as_f64().unwrap_or(f64::NAN);
                    let _ = write!(
                        s,
                        "  {:>8}, {:>8}",
                        change(p.total as f64, old_count("instructions")),
                        change(p.in_binary as f64, old_count("instructions_in_binary")),
                    );
                    if old["input"]["fingerprint"].as_str() != Some(m.fingerprint.as_str()) {
                        let _ = write!(s, "  (input differs from the baseline's)");
                    }
                }
                None => {
                    let _ = write!(s, "  (not in the baseline)");
                }
            }
        }
        s.push('\n');
    }
    for m in results {
        let p = &m.profile;
        let old: Option<std::collections::HashMap<&str, u64>> = old_workload(&m.name)
            .and_then(|w| w.get("top_functions")?.as_array())
            .map(|fs| {
                fs.iter()
                    .filter_map(|f| Some((f["function"].as_str()?, f["instructions"].as_u64()?)))
                    .collect()
            });
        let objects: Vec<String> = p
            .objects
            .iter()
            .take(4)
            .map(|(o, n)| format!("{o} {:.1}%", per(*n, p.total) * 100.0))
            .collect();
        let _ = writeln!(
            s,
            "\n{}: top {top} functions by self instructions (inlined code included); by object: {}",
            m.name,
            objects.join(", ")
        );
        let _ = writeln!(
            s,
            "{:>15} {:>6} {:>8}{}  function",
            "instructions",
            "share",
            "/packet",
            if old.is_some() { "   vs base" } else { "" }
        );
        for (f, n) in p.functions.iter().take(top) {
            let _ = write!(
                s,
                "{:>15} {:>5.1}% {:>8.1}",
                thousands(*n),
                per(*n, p.total) * 100.0,
                per(*n, m.packets)
            );
            if let Some(old) = &old {
                let c = old
                    .get(f.as_str())
                    .map_or_else(|| "new".to_string(), |&o| change(*n as f64, o as f64));
                let _ = write!(s, " {c:>9}");
            }
            let _ = writeln!(s, "  {}", shorten(f, 100));
        }
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    const ANNOTATE: &str = "\
--------------------------------------------------------------------------------
Ir
--------------------------------------------------------------------------------
1,000,000 (100.0%)  PROGRAM TOTALS

--------------------------------------------------------------------------------
Ir                 file:function
--------------------------------------------------------------------------------
400,000 (40.00%)  crates/io/src/pcap.rs:tlscap_io::pcap::PcapReader::next [/t/tlscap]
 90,000 ( 9.00%)  /rustc/x/library/core/src/slice/mod.rs:tlscap_io::pcap::PcapReader::next
 80,000 ( 8.00%)  ???:memcpy [/usr/lib/libc.so.6]
";

    #[test]
    fn annotate_output_is_summed_per_function_and_object() {
        let p = Profile::parse(ANNOTATE, "tlscap").unwrap();
        assert_eq!(
            p,
            Profile {
                total: 1_000_000,
                in_binary: 490_000,
                objects: vec![
                    ("tlscap".to_string(), 490_000),
                    ("libc.so.6".to_string(), 80_000)
                ],
                functions: vec![
                    ("tlscap_io::pcap::PcapReader::next".to_string(), 490_000),
                    ("memcpy".to_string(), 80_000)
                ],
            }
        );
    }

    #[test]
    fn summary_figures() {
        let s = Scanned::parse(
            "Scanned 3 file(s), 67.1 MB, 56012 packets in 0.10 s\n\
             Handshakes: 85  established 80  failed 5  incomplete 0\n",
        )
        .unwrap();
        assert_eq!(
            (s.files, s.bytes, s.packets, s.handshakes),
            (3, 67_100_000, 56_012, 85)
        );
    }

    #[test]
    fn numbers() {
        assert_eq!(thousands(1_234_567), "1,234,567");
        assert_eq!(thousands(999), "999");
        assert_eq!(split_file("a.rs:x::y::z"), ("a.rs", "x::y::z"));
        assert_eq!(split_file("???:memcpy"), ("???", "memcpy"));
    }
}
