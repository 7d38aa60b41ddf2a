//! `cargo xtask bench`: time tlscap against `cat`, ssldump and tshark on a large
//! capture of real TLS traffic.
//!
//! The capture is a base capture made by `tests/realstack/gen.sh bulk` (cached in
//! `target/bench/base.pcap`), tiled up to the requested size: every copy gets its
//! own IPv4 addresses (so its connections are distinct flows) and later
//! timestamps (so time keeps increasing).

use std::ffi::OsString;
use std::fmt::Write as _;
use std::fs::{self, File};
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, ensure, Context, Result};

use crate::flags::Flags;
use crate::flood::{write_flood, FloodCapture};

pub(crate) const MIB: u64 = 1 << 20;
const GIB: u64 = 1 << 30;
/// Connections in the generated base capture.
const BASE_CONNECTIONS: u32 = 400;
/// Concurrent connections of the synthetic flood capture (issue 5's memory case).
const FLOOD_CONNECTIONS: u32 = 1_000_000;
/// Issue 5's bound on peak anonymous memory for the flood capture.
const FLOOD_ANON_TARGET_MIB: u64 = 512;
/// Connections in the short-connection capture (~620 MB).
const SHORT_CONNECTIONS: usize = 100_000;
/// Timed runs of every command except tshark (the median is reported). Eleven, not five: on
/// this shared 2-core machine single runs of the same command spread by 20% and more (cat
/// 0.21-0.33 s), and with five rounds 2 threads came out at 0.97, 0.98, 1.04 and 1.1 times cat
/// in four bench runs of one afternoon. A round of the cheap commands takes ~3 s, most of it
/// ssldump's.
const RUNS: usize = 11;
/// Timed runs of each tile of the scaling table. More than [`RUNS`]: the steps between tiles
/// are differences of medians, 50 ms apart for the 0.5 to 1 GiB step, and single runs of one
/// tile spread by several ms on this machine, so with 11 rounds that step came out at +34% and
/// +40% of the fitted line in two runs of four (within ±10% in the others). The tiles are
/// small: 21 rounds of the four take ~20 s.
const SCALE_RUNS: usize = 21;
/// Longest tshark run we accept on the full tile before falling back to a prefix.
const TSHARK_BUDGET: Duration = Duration::from_secs(600);
/// Size of the prefix tile tshark runs on when the full tile would take too long.
const TSHARK_PREFIX_MIB: u64 = 256;
/// How often the peak anonymous memory of tlscap is sampled.
const POLL_INTERVAL: Duration = Duration::from_millis(20);
const TIME_BIN: &str = "/usr/bin/time";

const HELP: &str = "\
usage: cargo xtask bench [--size-gib 2] [--scales 0.5,1,2,4] [--flood N] [--short N] [--flood-only] [--keep]

Times, side by side on one tiled capture of real TLS traffic (page cache warm):
cat, tlscap scan -j 1, tlscap scan (all threads), ssldump and tshark, and as many
single-thread scans at once as there are threads: how much work the machine does
in parallel, the ceiling for one scan's speedup from 1 thread to all. Then runs
tlscap (all threads) on a synthetic SYN flood of N concurrent connections, for
its time and peak anonymous memory; times cat and tlscap (1 and all threads) on a
synthetic capture of N short TLS connections, mostly handshakes, as a load
balancer's is; and runs tlscap (and cat, to compare) on tiles of each --scales
size to show how time grows with size.

  --size-gib X      size of the main tile in GiB (default 2)
  --scales A,B,...  tile sizes in GiB for the scaling runs (default 0.5,1,2,4)
  --flood N         connections in the flood capture (default 1000000; 0: no flood run)
  --short N         connections in the short-connection capture (default 100000; 0: none)
  --flood-only      only the flood run: needs no base capture and no other tools
  --keep            keep the tiled and flood captures in target/bench (deleted by default)

Installs missing tools (ssldump, tshark, tcpdump, openssl, gnutls-bin, time) with
apt-get. The base capture is generated once with
`tests/realstack/gen.sh bulk target/bench/base.pcap 400` (needs root) and cached.
Results are also written to target/bench/results.json.";

struct Options {
    size_gib: f64,
    scales: Vec<f64>,
    flood: u32,
    short: usize,
    flood_only: bool,
    keep: bool,
}

fn parse_gib(flag: &str, value: &str) -> Result<f64> {
    let gib: f64 = value
        .trim()
        .parse()
        .with_context(|| format!("{flag}: `{value}` is not a number of GiB"))?;
    ensure!(
        gib.is_finite() && gib * 1024.0 >= 1.0,
        "{flag}: {value} GiB is too small (at least 1 MiB, i.e. 0.001)"
    );
    Ok(gib)
}

fn parse_options(args: &[String]) -> Result<Option<Options>> {
    let mut opts = Options {
        size_gib: 2.0,
        scales: vec![0.5, 1.0, 2.0, 4.0],
        flood: FLOOD_CONNECTIONS,
        short: SHORT_CONNECTIONS,
        flood_only: false,
        keep: false,
    };
    let mut flags = Flags::new(args, HELP);
    while let Some(flag) = flags.next_flag() {
        match flag.name {
            "-h" | "--help" => {
                println!("{HELP}");
                return Ok(None);
            }
            "--size-gib" => opts.size_gib = parse_gib(flag.name, &flags.value(&flag)?)?,
            "--scales" => {
                opts.scales = flags
                    .value(&flag)?
                    .split(',')
                    .filter(|s| !s.trim().is_empty())
                    .map(|s| parse_gib(flag.name, s))
                    .collect::<Result<_>>()?;
            }
            "--flood" => {
                let v = flags.value(&flag)?;
                opts.flood = v.trim().parse().with_context(|| {
                    format!("{}: `{v}` is not a number of connections", flag.name)
                })?;
            }
            "--short" => {
                let v = flags.value(&flag)?;
                opts.short = v.trim().parse().with_context(|| {
                    format!("{}: `{v}` is not a number of connections", flag.name)
                })?;
            }
            "--flood-only" if flag.is_switch() => opts.flood_only = true,
            "--keep" if flag.is_switch() => opts.keep = true,
            _ => bail!("unknown option `{}`\n\n{HELP}", flag.arg),
        }
    }
    Ok(Some(opts))
}

fn log(msg: impl AsRef<str>) {
    eprintln!("xtask bench: {}", msg.as_ref());
}

pub fn run(args: &[String]) -> Result<()> {
    let Some(opts) = parse_options(args)? else {
        return Ok(());
    };
    let started = Instant::now();
    let (root, target, bench_dir) = crate::output_dir("bench")?;

    if opts.flood_only {
        ensure!(opts.flood > 0, "--flood-only needs --flood N with N > 0");
        let have_time = find_program(TIME_BIN).is_some();
        let tlscap = built_tlscap(&root, &target)?;
        let bencher = Bencher::new(&bench_dir, have_time)?;
        let flood = run_flood(&bencher, &tlscap, &bench_dir, opts.flood, opts.keep)?;
        print_flood_table(&flood);
        let json_path = bench_dir.join("results-flood.json");
        let json = format!("{{\n  \"flood\": {}\n}}\n", json_flood(&flood));
        fs::write(&json_path, json)
            .with_context(|| format!("cannot write {}", json_path.display()))?;
        println!("\nresults written to {}", json_path.display());
        let _ = fs::remove_dir_all(&bencher.scan_out);
        log(format!("done in {:.0} s", started.elapsed().as_secs_f64()));
        return Ok(());
    }

    let have_time = ensure_tools()?;
    let tlscap = built_tlscap(&root, &target)?;

    let base_path = ensure_base(&root, &bench_dir)?;
    let data =
        fs::read(&base_path).with_context(|| format!("cannot read {}", base_path.display()))?;
    let base = Base::parse(&data).with_context(|| format!("{}", base_path.display()))?;
    drop(data);
    log(format!(
        "base capture {}: {:.1} MB, {} packets, ~{} connections (TCP SYNs), {:.0} s of traffic",
        base_path.display(),
        base.body.len() as f64 / 1e6,
        base.recs.len(),
        base.syns,
        (base.t_max_us - base.t_min_us) as f64 / 1e6
    ));
    if base.linktype & 0xffff != LINKTYPE_ETHERNET {
        log(format!(
            "warning: link type {} is not Ethernet: copies are not rewritten, so tiles repeat the same flows",
            base.linktype & 0xffff
        ));
    } else if base.ipv4_packets < base.recs.len() as u64 {
        log(format!(
            "note: {} of {} packets are not IPv4 and are repeated unchanged",
            base.recs.len() as u64 - base.ipv4_packets,
            base.recs.len()
        ));
    }

    let mut tiles = Tiles::new(bench_dir.clone(), &base_path, opts.keep);
    let bencher = Bencher::new(&bench_dir, have_time)?;
    let threads = thread::available_parallelism().map_or(1, |n| n.get());

    // Side by side on the main tile.
    let main = tiles.get(&base, mib_of(opts.size_gib))?;
    warm(&main.path)?;
    let file = main.path.as_os_str();
    let out = bencher.scan_out.as_path();
    let mut side_by_side = vec![
        Cmd::new("cat", &main.path, "cat FILE", "cat", vec![file.into()]),
        Cmd::new(
            "tlscap -j 1",
            &main.path,
            "tlscap scan FILE -o DIR -q -j 1",
            &tlscap,
            scan_args(&main.path, out, &["-j", "1"]),
        )
        .tlscap(),
        Cmd::new(
            &format!("tlscap -j {threads} (all)"),
            &main.path,
            &format!("tlscap scan FILE -o DIR -q  (all {threads} threads)"),
            &tlscap,
            scan_args(&main.path, out, &[]),
        )
        .tlscap(),
        Cmd::new(
            "ssldump",
            &main.path,
            "ssldump -n -r FILE",
            "ssldump",
            vec!["-n".into(), "-r".into(), file.into()],
        ),
    ];
    // What the machine itself gives `threads` workers: as many single-thread scans at once,
    // timed in the same rounds. No scan of one file on all threads can beat them.
    if threads > 1 {
        side_by_side.push(concurrent_scans(&tlscap, &main.path, out, threads));
    }
    let mut rows = bencher.time_interleaved(&side_by_side, RUNS)?;
    let concurrent = if threads > 1 { rows.pop() } else { None };
    let tshark_note = run_tshark(&bencher, &mut tiles, &base, &main, &mut rows)?;
    let cat_s = rows[0].seconds;
    print_main_table(&main, &rows, cat_s, tshark_note.as_deref());
    let ceiling = concurrent.map(|c| Ceiling {
        copies: threads,
        one_thread_s: rows[1].seconds,
        all_threads_s: rows[2].seconds,
        concurrent: c,
    });
    if let Some(c) = &ceiling {
        print_ceiling(c);
    }

    // Memory: a million concurrent connections.
    let flood = if opts.flood > 0 {
        let flood = run_flood(&bencher, &tlscap, &bench_dir, opts.flood, opts.keep)?;
        print_flood_table(&flood);
        Some(flood)
    } else {
        None
    };

    // Time: a capture of short connections, where rows outnumber bytes.
    let short = if opts.short > 0 {
        let short = run_short(
            &bencher, &tlscap, &bench_dir, opts.short, opts.keep, threads,
        )?;
        print_short_table(&short);
        Some(short)
    } else {
        None
    };

    // Scaling of tlscap with all threads, the sizes timed in turn (see `time_interleaved`).
    let mut scale_tiles = Vec::new();
    for &gib in &opts.scales {
        let tile = tiles.get(&base, mib_of(gib))?;
        warm(&tile.path)?;
        scale_tiles.push(tile);
    }
    // `cat` on each tile too: how the machine's own cost grows with size, to read tlscap's
    // against. On this VM, in one 21-round run, `cat` took 18% more a GiB from 0.5 to 1 GiB
    // than from 1 to 2, as tlscap did; in another, the same a GiB.
    let scale_cmds: Vec<Cmd> = scale_tiles
        .iter()
        .flat_map(|tile| {
            let file = tile.path.as_os_str();
            [
                Cmd::new(
                    &format!("tlscap {}", tile.label),
                    &tile.path,
                    "tlscap scan FILE -o DIR -q",
                    &tlscap,
                    scan_args(&tile.path, out, &[]),
                )
                .tlscap(),
                Cmd::new(
                    &format!("cat {}", tile.label),
                    &tile.path,
                    "cat FILE",
                    "cat",
                    vec![file.into()],
                ),
            ]
        })
        .collect();
    let mut scale_timings = bencher
        .time_interleaved(&scale_cmds, SCALE_RUNS)?
        .into_iter();
    let scale_rows: Vec<ScaleRow> = scale_tiles
        .into_iter()
        .filter_map(|tile| Some((tile, scale_timings.next()?, scale_timings.next()?)))
        .collect();
    print_scale_table(&scale_rows, threads);

    let json_path = bench_dir.join("results.json");
    let json = results_json(&Report {
        base: &base,
        main: &main,
        rows: &rows,
        cat_s,
        note: tshark_note.as_deref(),
        ceiling: ceiling.as_ref(),
        flood: flood.as_ref(),
        short: short.as_ref(),
        scales: &scale_rows,
    });
    fs::write(&json_path, json).with_context(|| format!("cannot write {}", json_path.display()))?;
    println!("\nresults written to {}", json_path.display());
    let _ = fs::remove_dir_all(&bencher.scan_out);
    drop(tiles); // deletes the tiles unless --keep
    log(format!("done in {:.0} s", started.elapsed().as_secs_f64()));
    Ok(())
}

/// `copies` scans of `file` with one thread each, at once, each into a directory of its own
/// under `out`; fails if any fails.
fn concurrent_scans(tlscap: &Path, file: &Path, out: &Path, copies: usize) -> Cmd {
    const SCRIPT: &str = r#"t=$1; f=$2; shift 2; pids=
for o do "$t" scan "$f" -o "$o" -q -j 1 & pids="$pids $!"; done
s=0; for p in $pids; do wait "$p" || s=1; done; exit $s"#;
    let mut args: Vec<OsString> = vec![
        "-c".into(),
        SCRIPT.into(),
        "sh".into(),
        tlscap.into(),
        file.into(),
    ];
    args.extend((0..copies).map(|i| out.join(format!("concurrent-{i}")).into_os_string()));
    Cmd::new(
        &format!("{copies} x tlscap -j 1"),
        file,
        &format!("{copies} x tlscap scan FILE -o DIR_i -q -j 1, at once"),
        "sh",
        args,
    )
}

/// The speedup of one scan from one thread to all, against what the machine gives that many
/// independent single-thread scans.
struct Ceiling {
    copies: usize,
    one_thread_s: f64,
    all_threads_s: f64,
    /// `copies` single-thread scans at once.
    concurrent: Timing,
}

impl Ceiling {
    fn speedup(&self) -> f64 {
        self.one_thread_s / self.all_threads_s
    }

    /// How many single-thread scans' worth of work the machine does in the time of one:
    /// the most any scan on `copies` threads could gain.
    fn machine(&self) -> f64 {
        self.copies as f64 * self.one_thread_s / self.concurrent.seconds
    }

    /// The scan's speedup as a share of the machine's: how much of what the machine gives in
    /// parallel the scan takes. The ceiling itself moves between runs on a virtual machine
    /// (1.6x to 2.0x on the 2-core development VM), this much less.
    fn share_of_machine(&self) -> f64 {
        self.speedup() / self.machine()
    }
}

fn print_ceiling(c: &Ceiling) {
    println!(
        "1 -> {n} threads: {one:.3} -> {all:.3} s, {speedup:.2}x. The machine's ceiling: {n} \
         single-thread scans at once took {con:.3} s (median of {RUNS}, timed in the same \
         rounds), so it does {machine:.2}x the work of one scan in the time of one: the scan's \
         speedup is {share:.0}% of that.",
        n = c.copies,
        one = c.one_thread_s,
        all = c.all_threads_s,
        speedup = c.speedup(),
        con = c.concurrent.seconds,
        machine = c.machine(),
        share = 100.0 * c.share_of_machine(),
    );
}

/// `scan FILE -o OUT -q EXTRA...`
fn scan_args(file: &Path, out: &Path, extra: &[&str]) -> Vec<OsString> {
    let mut args: Vec<OsString> = vec![
        "scan".into(),
        file.into(),
        "-o".into(),
        out.into(),
        "-q".into(),
    ];
    args.extend(extra.iter().map(OsString::from));
    args
}

// ---------------------------------------------------------------------------
// tools, build, base capture

/// Installs what is missing; returns whether /usr/bin/time is usable.
fn ensure_tools() -> Result<bool> {
    // (command, package); `time` is /usr/bin/time, not the shell keyword.
    const TOOLS: &[(&str, &str)] = &[
        ("ssldump", "ssldump"),
        ("tshark", "tshark"),
        ("tcpdump", "tcpdump"),
        ("openssl", "openssl"),
        ("gnutls-cli", "gnutls-bin"),
        ("gnutls-serv", "gnutls-bin"),
        (TIME_BIN, "time"),
    ];
    let mut missing: Vec<&str> = Vec::new();
    for &(cmd, pkg) in TOOLS {
        if find_program(cmd).is_none() && !missing.contains(&pkg) {
            missing.push(pkg);
        }
    }
    if !missing.is_empty() {
        install_packages(&missing)?;
        for &(cmd, pkg) in TOOLS {
            if find_program(cmd).is_none() && cmd != TIME_BIN {
                bail!("`{cmd}` is still missing after installing package {pkg}");
            }
        }
    }
    let have_time = find_program(TIME_BIN).is_some();
    if !have_time {
        log("warning: /usr/bin/time unavailable: peak RSS is not measured");
    }
    Ok(have_time)
}

/// Absolute path of `name` (searched in PATH plus the sbin directories) or of an
/// absolute `name` that exists.
pub(crate) fn find_program(name: &str) -> Option<PathBuf> {
    let p = Path::new(name);
    if p.is_absolute() {
        return p.is_file().then(|| p.to_path_buf());
    }
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain(["/usr/local/sbin", "/usr/sbin", "/sbin"].map(PathBuf::from))
        .map(|dir| dir.join(name))
        .find(|candidate| candidate.is_file())
}

fn is_root() -> bool {
    fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("Uid:"))
                .and_then(|rest| rest.split_whitespace().nth(1).map(|euid| euid == "0"))
        })
        .unwrap_or(false)
}

pub(crate) fn install_packages(pkgs: &[&str]) -> Result<()> {
    log(format!("installing missing packages: {}", pkgs.join(" ")));
    let sudo = if is_root() {
        None
    } else {
        Some(find_program("sudo").context("not root and no sudo: cannot install packages")?)
    };
    let command = |program: &str| {
        let mut c = match &sudo {
            Some(s) => {
                let mut c = Command::new(s);
                c.arg(program);
                c
            }
            None => Command::new(program),
        };
        c.env("DEBIAN_FRONTEND", "noninteractive");
        c
    };
    // Keep wireshark-common from asking whether non-root users may capture.
    let mut debconf = command("debconf-set-selections")
        .stdin(Stdio::piped())
        .spawn()
        .context("cannot run debconf-set-selections")?;
    debconf
        .stdin
        .take()
        .context("no stdin for debconf-set-selections")?
        .write_all(b"wireshark-common wireshark-common/install-setuid boolean false\n")
        .context("cannot write to debconf-set-selections")?;
    check_status(debconf.wait(), "debconf-set-selections")?;
    check_status(
        command("apt-get").args(["update", "-qq"]).status(),
        "apt-get update -qq",
    )?;
    check_status(
        command("apt-get")
            .args(["install", "-y", "-qq"])
            .args(pkgs)
            .status(),
        &format!("apt-get install -y -qq {}", pkgs.join(" ")),
    )
}

fn check_status(status: std::io::Result<std::process::ExitStatus>, what: &str) -> Result<()> {
    let status = status.with_context(|| format!("cannot run {what}"))?;
    ensure!(status.success(), "{what} failed ({status})");
    Ok(())
}

/// Builds tlscap in release mode; returns the binary's path.
fn built_tlscap(root: &Path, target: &Path) -> Result<PathBuf> {
    build_tlscap(root)?;
    let tlscap = target.join("release").join("tlscap");
    ensure!(
        tlscap.is_file(),
        "{} is missing after the build",
        tlscap.display()
    );
    Ok(tlscap)
}

pub(crate) fn build_tlscap(root: &Path) -> Result<()> {
    log("building tlscap (cargo build --release -p tlscap)");
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    check_status(
        Command::new(cargo)
            .args(["build", "--release", "-p", "tlscap"])
            .current_dir(root)
            .status(),
        "cargo build --release -p tlscap",
    )
}

/// Returns target/bench/base.pcap, generating it with gen.sh when missing.
pub(crate) fn ensure_base(root: &Path, bench_dir: &Path) -> Result<PathBuf> {
    let base = bench_dir.join("base.pcap");
    // gen.sh creates its output file early: an empty one is a failed run.
    if fs::metadata(&base).is_ok_and(|m| m.len() > 24) {
        return Ok(base);
    }
    let gen = root.join("tests/realstack/gen.sh");
    ensure!(
        gen.is_file(),
        "{} is missing: it generates the base capture",
        gen.display()
    );
    log(format!(
        "generating the base capture ({BASE_CONNECTIONS} real TLS connections; about a minute)"
    ));
    let status = Command::new("bash")
        .arg(&gen)
        .arg("bulk")
        .arg(&base)
        .arg(BASE_CONNECTIONS.to_string())
        .current_dir(root)
        .status();
    if let Err(e) = check_status(status, "tests/realstack/gen.sh bulk") {
        let _ = fs::remove_file(&base);
        return Err(e);
    }
    ensure!(
        fs::metadata(&base).is_ok_and(|m| m.len() > 24),
        "gen.sh did not write {}",
        base.display()
    );
    Ok(base)
}

// ---------------------------------------------------------------------------
// pcap parsing and tiling

const LINKTYPE_ETHERNET: u32 = 1;
const PCAP_HEADER_LEN: usize = 24;
const RECORD_HEADER_LEN: usize = 16;

/// A TCP/UDP checksum covering the IPv4 addresses (pseudo-header).
#[derive(Clone, Copy)]
struct L4Checksum {
    at: usize,
    udp: bool,
}

#[derive(Clone, Copy)]
struct Ipv4At {
    /// Offset of the IPv4 header in `Base::body`.
    ip: usize,
    l4_checksum: Option<L4Checksum>,
}

struct Rec {
    /// Offset of the record header in `Base::body`.
    off: usize,
    ts_us: u64,
    ipv4: Option<Ipv4At>,
    /// TCP SYN without ACK: one per connection attempt.
    syn: bool,
}

/// The base capture, its records re-encoded as little-endian microsecond pcap.
pub(crate) struct Base {
    snaplen: u32,
    linktype: u32,
    body: Vec<u8>,
    recs: Vec<Rec>,
    t_min_us: u64,
    t_max_us: u64,
    syns: u64,
    ipv4_packets: u64,
}

fn be16(b: &[u8], at: usize) -> u16 {
    u16::from_be_bytes([b[at], b[at + 1]])
}

impl Base {
    pub(crate) fn parse(data: &[u8]) -> Result<Base> {
        ensure!(
            data.len() >= PCAP_HEADER_LEN,
            "too short for a pcap file ({} bytes)",
            data.len()
        );
        let magic = u32::from_le_bytes([data[0], data[1], data[2], data[3]]);
        let (big_endian, nanos) = match magic {
            0xa1b2_c3d4 => (false, false),
            0xa1b2_3c4d => (false, true),
            0xd4c3_b2a1 => (true, false),
            0x4d3c_b2a1 => (true, true),
            0x0a0d_0d0a => {
                bail!("pcapng is not supported here; convert it with `editcap -F pcap IN OUT`")
            }
            _ => bail!("not a pcap file (magic {magic:#010x})"),
        };
        let u32_at = |at: usize| {
            let b = [data[at], data[at + 1], data[at + 2], data[at + 3]];
            if big_endian {
                u32::from_be_bytes(b)
            } else {
                u32::from_le_bytes(b)
            }
        };
        let linktype = u32_at(20);
        let ethernet = linktype & 0xffff == LINKTYPE_ETHERNET;
        let mut base = Base {
            snaplen: u32_at(16),
            linktype,
            body: Vec::with_capacity(data.len()),
            recs: Vec::new(),
            t_min_us: u64::MAX,
            t_max_us: 0,
            syns: 0,
            ipv4_packets: 0,
        };
        let mut pos = PCAP_HEADER_LEN;
        while pos < data.len() {
            if pos + RECORD_HEADER_LEN > data.len() {
                log(format!(
                    "warning: base capture ends in a truncated record header at byte {pos}"
                ));
                break;
            }
            let sec = u64::from(u32_at(pos));
            let frac = u64::from(u32_at(pos + 4));
            let incl = u32_at(pos + 8);
            let orig = u32_at(pos + 12);
            let start = pos + RECORD_HEADER_LEN;
            let Some(frame) = data.get(start..start + incl as usize) else {
                log(format!(
                    "warning: base capture ends in a truncated packet at byte {pos}"
                ));
                break;
            };
            pos = start + incl as usize;
            let ts_us = sec * 1_000_000 + if nanos { frac / 1000 } else { frac };
            base.t_min_us = base.t_min_us.min(ts_us);
            base.t_max_us = base.t_max_us.max(ts_us);
            base.snaplen = base.snaplen.max(incl);

            let off = base.body.len();
            let frame_off = off + RECORD_HEADER_LEN;
            base.body.extend_from_slice(&[0; RECORD_HEADER_LEN]);
            base.body[off + 8..off + 12].copy_from_slice(&incl.to_le_bytes());
            base.body[off + 12..off + 16].copy_from_slice(&orig.to_le_bytes());
            base.body.extend_from_slice(frame);
            let (ipv4, syn) = match ethernet.then(|| locate_ipv4(frame)).flatten() {
                Some((ip, l4, syn)) => (
                    Some(Ipv4At {
                        ip: frame_off + ip,
                        l4_checksum: l4.map(|c| L4Checksum {
                            at: frame_off + c.at,
                            udp: c.udp,
                        }),
                    }),
                    syn,
                ),
                None => (None, false),
            };
            base.ipv4_packets += u64::from(ipv4.is_some());
            base.syns += u64::from(syn);
            base.recs.push(Rec {
                off,
                ts_us,
                ipv4,
                syn,
            });
        }
        ensure!(!base.recs.is_empty(), "the capture holds no packets");
        Ok(base)
    }

    /// End (exclusive) in `body` of record `i`.
    fn rec_end(&self, i: usize) -> usize {
        self.recs.get(i + 1).map_or(self.body.len(), |r| r.off)
    }
}

/// In an Ethernet frame: offset of the IPv4 header, the TCP/UDP checksum (offset
/// in the frame) when present, and whether it is a TCP SYN without ACK.
fn locate_ipv4(frame: &[u8]) -> Option<(usize, Option<L4Checksum>, bool)> {
    if frame.len() < 14 {
        return None;
    }
    let mut ethertype = be16(frame, 12);
    let mut ip = 14;
    for _ in 0..2 {
        if ethertype == 0x8100 || ethertype == 0x88a8 {
            if frame.len() < ip + 4 {
                return None;
            }
            ethertype = be16(frame, ip + 2);
            ip += 4;
        }
    }
    if ethertype != 0x0800 || frame.len() < ip + 20 || frame[ip] >> 4 != 4 {
        return None;
    }
    let ihl = usize::from(frame[ip] & 0x0f) * 4;
    if ihl < 20 || frame.len() < ip + ihl {
        return None;
    }
    let first_fragment = be16(frame, ip + 6) & 0x1fff == 0;
    let l4 = ip + ihl;
    let (checksum, syn) = match frame[ip + 9] {
        6 if first_fragment && frame.len() >= l4 + 18 => (
            Some(L4Checksum {
                at: l4 + 16,
                udp: false,
            }),
            frame[l4 + 13] & 0x12 == 0x02,
        ),
        17 if first_fragment && frame.len() >= l4 + 8 => (
            Some(L4Checksum {
                at: l4 + 6,
                udp: true,
            }),
            false,
        ),
        _ => (None, false),
    };
    Some((ip, checksum, syn))
}

/// RFC 1624 incremental update of a ones' complement checksum after the bytes
/// `old` (even length, word aligned in the summed data) became `new`.
fn update_checksum(checksum: u16, old: &[u8], new: &[u8]) -> u16 {
    let mut sum = u32::from(!checksum);
    for (o, n) in old.chunks_exact(2).zip(new.chunks_exact(2)) {
        sum += u32::from(!u16::from_be_bytes([o[0], o[1]]));
        sum += u32::from(u16::from_be_bytes([n[0], n[1]]));
    }
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(sum as u16)
}

#[derive(Clone)]
pub(crate) struct Tile {
    pub(crate) path: PathBuf,
    pub(crate) label: String,
    pub(crate) bytes: u64,
    pub(crate) packets: u64,
    pub(crate) connections: u64,
    copies: u64,
}

/// Tiles made (or reused) during this run; deleted on drop unless `keep`.
pub(crate) struct Tiles {
    dir: PathBuf,
    base_mtime: Option<std::time::SystemTime>,
    made: Vec<Tile>,
    keep: bool,
}

fn mib_of(gib: f64) -> u64 {
    ((gib * 1024.0).round() as u64).max(1)
}

fn size_label(mib: u64) -> String {
    if mib.is_multiple_of(1024) {
        format!("{}GiB", mib / 1024)
    } else {
        format!("{mib}MiB")
    }
}

impl Tiles {
    /// Tiles of `base_path`'s capture, made in `dir`.
    pub(crate) fn new(dir: PathBuf, base_path: &Path, keep: bool) -> Tiles {
        Tiles {
            dir,
            base_mtime: fs::metadata(base_path).and_then(|m| m.modified()).ok(),
            made: Vec::new(),
            keep,
        }
    }

    /// The tile of `mib` MiB: made now, or earlier in this run, or (if newer than
    /// the base capture) kept by an earlier run.
    pub(crate) fn get(&mut self, base: &Base, mib: u64) -> Result<Tile> {
        let label = size_label(mib);
        let path = self.dir.join(format!("tls-{label}.pcap"));
        if let Some(t) = self.made.iter().find(|t| t.path == path) {
            return Ok(t.clone());
        }
        let target = mib * MIB;
        let fresh = fs::metadata(&path)
            .and_then(|m| m.modified())
            .ok()
            .zip(self.base_mtime)
            .is_some_and(|(tile, base)| tile >= base);
        let started = Instant::now();
        // Reusing needs the counts, so a kept tile is re-tiled without writing.
        let tile = write_tile(base, &path, target, label, fresh)?;
        log(format!(
            "{} {}: {:.1} MB, {} packets, ~{} connections, {} copies of the base{}",
            if fresh { "reusing" } else { "wrote" },
            tile.path.display(),
            tile.bytes as f64 / 1e6,
            tile.packets,
            tile.connections,
            tile.copies,
            if fresh {
                String::new()
            } else {
                format!(" ({:.1} s)", started.elapsed().as_secs_f64())
            }
        ));
        self.made.push(tile.clone());
        Ok(tile)
    }
}

impl Drop for Tiles {
    fn drop(&mut self) {
        if self.keep {
            if !self.made.is_empty() {
                log(format!("kept the tiles in {}", self.dir.display()));
            }
            return;
        }
        for t in &self.made {
            match fs::remove_file(&t.path) {
                Ok(()) => log(format!("removed {}", t.path.display())),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => log(format!("warning: cannot remove {}: {e}", t.path.display())),
            }
        }
    }
}

/// Writes copies of the base capture to `path` (through a temporary file) until
/// the next packet would pass `target` bytes. With `dry_run` only counts.
fn write_tile(base: &Base, path: &Path, target: u64, label: String, dry_run: bool) -> Result<Tile> {
    let tmp = path.with_extension("pcap.tmp");
    let mut out = if dry_run {
        None
    } else {
        let f = File::create(&tmp).with_context(|| format!("cannot create {}", tmp.display()))?;
        Some(BufWriter::with_capacity(8 << 20, f))
    };
    let write_err = || format!("cannot write {}", tmp.display());

    let mut header = [0u8; PCAP_HEADER_LEN];
    header[0..4].copy_from_slice(&0xa1b2_c3d4u32.to_le_bytes()); // microseconds
    header[4..6].copy_from_slice(&2u16.to_le_bytes());
    header[6..8].copy_from_slice(&4u16.to_le_bytes());
    header[16..20].copy_from_slice(&base.snaplen.to_le_bytes());
    header[20..24].copy_from_slice(&base.linktype.to_le_bytes());
    if let Some(w) = out.as_mut() {
        w.write_all(&header).with_context(write_err)?;
    }

    // Each copy starts 1 ms after the previous one ended.
    let period = base.t_max_us - base.t_min_us + 1000;
    let mut buf = base.body.clone();
    let mut tile = Tile {
        path: path.to_path_buf(),
        label,
        bytes: PCAP_HEADER_LEN as u64,
        packets: 0,
        connections: 0,
        copies: 0,
    };
    for copy in 0u64.. {
        // How many records of this copy still fit.
        let room = target.saturating_sub(tile.bytes);
        let n = base.recs.partition_point(|r| {
            // records are contiguous, so the end of record i is the start of i + 1
            (r.off as u64) < room
        });
        let mut n = n;
        while n > 0 && base.rec_end(n - 1) as u64 > room {
            n -= 1;
        }
        if n == 0 {
            ensure!(
                copy > 0,
                "{} MiB is too small for even one packet of the base capture",
                target / MIB
            );
            break;
        }
        ensure!(
            copy < 1 << 16,
            "more than 65536 copies of the base capture: addresses would repeat"
        );
        let (hi, lo) = ((copy >> 8) as u8, copy as u8);
        for r in &base.recs[..n] {
            let ts = r.ts_us + copy * period;
            let sec = u32::try_from(ts / 1_000_000)
                .map_err(|_| anyhow!("timestamps pass the year 2106"))?;
            buf[r.off..r.off + 4].copy_from_slice(&sec.to_le_bytes());
            buf[r.off + 4..r.off + 8].copy_from_slice(&((ts % 1_000_000) as u32).to_le_bytes());
            tile.connections += u64::from(r.syn);
            let Some(v4) = r.ipv4 else { continue };
            if copy == 0 {
                continue;
            }
            // Source and destination: a.b.c.d -> a.(b+hi).(c+lo).d
            let addrs = v4.ip + 12..v4.ip + 20;
            let old = &base.body[addrs.clone()];
            let mut new = [0u8; 8];
            new.copy_from_slice(old);
            for a in [0, 4] {
                new[a + 1] = new[a + 1].wrapping_add(hi);
                new[a + 2] = new[a + 2].wrapping_add(lo);
            }
            buf[addrs].copy_from_slice(&new);
            let ip_sum = be16(&base.body, v4.ip + 10);
            buf[v4.ip + 10..v4.ip + 12]
                .copy_from_slice(&update_checksum(ip_sum, old, &new).to_be_bytes());
            if let Some(c) = v4.l4_checksum {
                let sum = be16(&base.body, c.at);
                if !(c.udp && sum == 0) {
                    let mut updated = update_checksum(sum, old, &new);
                    if c.udp && updated == 0 {
                        updated = 0xffff;
                    }
                    buf[c.at..c.at + 2].copy_from_slice(&updated.to_be_bytes());
                }
            }
        }
        let end = base.rec_end(n - 1);
        if let Some(w) = out.as_mut() {
            w.write_all(&buf[..end]).with_context(write_err)?;
        }
        tile.bytes += end as u64;
        tile.packets += n as u64;
        tile.copies += 1;
        if n < base.recs.len() {
            break;
        }
    }
    if let Some(w) = out {
        let f = w
            .into_inner()
            .map_err(|e| anyhow!("cannot write {}: {}", tmp.display(), e.error()))?;
        // Flush now so that writeback does not disturb the timings.
        f.sync_all().with_context(write_err)?;
        fs::rename(&tmp, path)
            .with_context(|| format!("cannot rename {} to {}", tmp.display(), path.display()))?;
    } else {
        let on_disk = fs::metadata(path)
            .with_context(|| format!("cannot stat {}", path.display()))?
            .len();
        ensure!(
            on_disk == tile.bytes,
            "{} has {on_disk} bytes, expected {}: delete it",
            path.display(),
            tile.bytes
        );
    }
    Ok(tile)
}

// ---------------------------------------------------------------------------
// timing

/// Puts the file in the page cache the way a capture on disk gets there: its cached pages are
/// dropped (after `sync`), then it is read twice, so the kernel's readahead fills the cache.
/// A tile just written sits in the cache as the writes left it, in 4 KiB pages; read back, it
/// is cached in large folios, and mapping those costs far less (on the 2 GiB tile, tlscap's
/// system time was 0.40 s with written pages and 0.09 s with read ones; `cat` took 0.34 s
/// and 0.27 s). Every command is timed on the same cache state.
fn warm(path: &Path) -> Result<()> {
    check_status(
        Command::new("sync").arg(path).status(),
        &format!("sync {}", path.display()),
    )?;
    // GNU dd's `nocache` with no data copied drops the file's clean pages from the cache.
    let mut drop_cache = Command::new("dd");
    drop_cache.arg(format!("if={}", path.display()));
    drop_cache.args(["iflag=nocache", "count=0", "status=none"]);
    check_status(drop_cache.status(), "dd iflag=nocache")?;
    for _ in 0..2 {
        let devnull = File::create("/dev/null").context("cannot open /dev/null")?;
        check_status(
            Command::new("cat").arg(path).stdout(devnull).status(),
            &format!("cat {}", path.display()),
        )?;
    }
    Ok(())
}

struct Cmd {
    label: String,
    /// The capture the command reads.
    input: PathBuf,
    display: String,
    program: OsString,
    args: Vec<OsString>,
    tlscap: bool,
}

impl Cmd {
    fn new(
        label: &str,
        input: &Path,
        display: &str,
        program: impl AsRef<std::ffi::OsStr>,
        args: Vec<OsString>,
    ) -> Cmd {
        Cmd {
            label: label.to_string(),
            input: input.to_path_buf(),
            display: display.to_string(),
            program: program.as_ref().to_os_string(),
            args,
            tlscap: false,
        }
    }

    /// Output directory is recreated before each run; peak anonymous memory sampled.
    fn tlscap(mut self) -> Cmd {
        self.tlscap = true;
        self
    }
}

struct Timing {
    label: String,
    display: String,
    runs: Vec<f64>,
    seconds: f64,
    /// Bytes of the file the command ran on.
    bytes: u64,
    max_rss_kib: Option<u64>,
    peak_anon_kib: Option<u64>,
}

struct Bencher {
    time_bin: Option<PathBuf>,
    logs: PathBuf,
    scan_out: PathBuf,
}

impl Bencher {
    /// Runs commands with their logs and tlscap's output under `bench_dir`, measuring peak RSS
    /// with /usr/bin/time when `have_time`.
    fn new(bench_dir: &Path, have_time: bool) -> Result<Bencher> {
        let bencher = Bencher {
            time_bin: have_time.then(|| PathBuf::from(TIME_BIN)),
            logs: bench_dir.join("logs"),
            scan_out: bench_dir.join("scan-out"),
        };
        fs::create_dir_all(&bencher.logs)
            .with_context(|| format!("cannot create {}", bencher.logs.display()))?;
        Ok(bencher)
    }

    fn time(&self, cmd: &Cmd, runs: usize) -> Result<Timing> {
        let mut t = self.time_interleaved(std::slice::from_ref(cmd), runs)?;
        Ok(t.remove(0))
    }

    /// Times `cmds` in turn, `runs` rounds of one run each, so that every command meets the
    /// machine in the same states: on a shared virtual machine speed drifts by 10-20% over a
    /// minute, and commands timed one after the other compared different machines.
    fn time_interleaved(&self, cmds: &[Cmd], runs: usize) -> Result<Vec<Timing>> {
        let mut timings = cmds
            .iter()
            .map(|cmd| {
                let bytes = fs::metadata(&cmd.input)
                    .with_context(|| format!("cannot stat {}", cmd.input.display()))?
                    .len();
                Ok(Timing {
                    label: cmd.label.clone(),
                    display: cmd.display.clone(),
                    runs: Vec::new(),
                    seconds: 0.0,
                    bytes,
                    max_rss_kib: None,
                    peak_anon_kib: None,
                })
            })
            .collect::<Result<Vec<_>>>()?;
        for i in 0..runs {
            for (cmd, t) in cmds.iter().zip(&mut timings) {
                let (secs, rss, anon) = self
                    .run_once(cmd)
                    .with_context(|| format!("{} (run {} of {runs})", cmd.label, i + 1))?;
                t.runs.push(secs);
                t.max_rss_kib = t.max_rss_kib.max(rss);
                t.peak_anon_kib = t.peak_anon_kib.max(anon);
            }
        }
        for t in &mut timings {
            t.seconds = median(&t.runs);
            log(format!(
                "{:<24} {}",
                t.label,
                t.runs
                    .iter()
                    .map(|s| format!("{s:.3} s"))
                    .collect::<Vec<_>>()
                    .join("  ")
            ));
        }
        Ok(timings)
    }

    /// One run: wall seconds, max RSS (KiB) and, for tlscap, peak RssAnon (KiB).
    fn run_once(&self, cmd: &Cmd) -> Result<(f64, Option<u64>, Option<u64>)> {
        let slug: String = cmd
            .label
            .chars()
            .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
            .collect();
        let stderr_path = self.logs.join(format!("{slug}.stderr"));
        let time_path = self.logs.join(format!("{slug}.time"));
        if cmd.tlscap {
            match fs::remove_dir_all(&self.scan_out) {
                Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                    return Err(e)
                        .with_context(|| format!("cannot remove {}", self.scan_out.display()))
                }
                _ => {}
            }
            fs::create_dir_all(&self.scan_out)
                .with_context(|| format!("cannot create {}", self.scan_out.display()))?;
        }
        let mut command = match &self.time_bin {
            Some(time) => {
                let mut c = Command::new(time);
                c.arg("-v").arg("-o").arg(&time_path).arg(&cmd.program);
                c
            }
            None => Command::new(&cmd.program),
        };
        command
            .args(&cmd.args)
            .stdin(Stdio::null())
            .stdout(File::create("/dev/null").context("cannot open /dev/null")?)
            .stderr(
                File::create(&stderr_path)
                    .with_context(|| format!("cannot create {}", stderr_path.display()))?,
            );

        let started = Instant::now();
        let mut child = command
            .spawn()
            .with_context(|| format!("cannot start {}", Path::new(&cmd.program).display()))?;
        let poller = cmd.tlscap.then(|| {
            let stop = Arc::new(AtomicBool::new(false));
            let handle = {
                let stop = Arc::clone(&stop);
                let pid = child.id();
                let wrapped = self.time_bin.is_some();
                thread::spawn(move || poll_peak_anon(pid, wrapped, &stop))
            };
            (stop, handle)
        });
        let status = child.wait();
        let secs = started.elapsed().as_secs_f64();
        let anon = match poller {
            Some((stop, handle)) => {
                stop.store(true, Ordering::Relaxed);
                handle
                    .join()
                    .map_err(|_| anyhow!("memory polling thread panicked"))?
            }
            None => None,
        };
        let status = status.context("cannot wait for the command")?;
        if !status.success() {
            let stderr = fs::read_to_string(&stderr_path).unwrap_or_default();
            let tail: Vec<&str> = stderr.lines().rev().take(15).collect();
            bail!(
                "`{}` failed ({status}); last lines of {}:\n{}",
                cmd.display,
                stderr_path.display(),
                tail.into_iter().rev().collect::<Vec<_>>().join("\n")
            );
        }
        let rss = match &self.time_bin {
            Some(_) => {
                let report = fs::read_to_string(&time_path)
                    .with_context(|| format!("cannot read {}", time_path.display()))?;
                Some(
                    report
                        .lines()
                        .find_map(|l| l.trim().strip_prefix("Maximum resident set size (kbytes):"))
                        .and_then(|v| v.trim().parse().ok())
                        .with_context(|| format!("no maximum RSS in {}", time_path.display()))?,
                )
            }
            None => None,
        };
        Ok((secs, rss, anon))
    }
}

fn median(runs: &[f64]) -> f64 {
    let mut v = runs.to_vec();
    v.sort_by(f64::total_cmp);
    match v.len() {
        0 => f64::NAN,
        n if n % 2 == 1 => v[n / 2],
        n => (v[n / 2 - 1] + v[n / 2]) / 2.0,
    }
}

/// Samples RssAnon of the measured process every POLL_INTERVAL until `stop`;
/// returns the largest value seen (KiB). With `wrapped` the measured process is
/// the child of `pid` (/usr/bin/time).
fn poll_peak_anon(pid: u32, wrapped: bool, stop: &AtomicBool) -> Option<u64> {
    let mut target = (!wrapped).then_some(pid);
    let mut peak: Option<u64> = None;
    loop {
        if target.is_none() {
            target = child_of(pid);
        }
        if let Some(kib) = target.and_then(rss_anon_kib) {
            peak = peak.max(Some(kib));
        }
        if stop.load(Ordering::Relaxed) {
            return peak;
        }
        thread::sleep(POLL_INTERVAL);
    }
}

fn child_of(pid: u32) -> Option<u32> {
    if let Ok(children) = fs::read_to_string(format!("/proc/{pid}/task/{pid}/children")) {
        return children.split_whitespace().next()?.parse().ok();
    }
    // Kernels without CONFIG_PROC_CHILDREN: search /proc for the parent id.
    fs::read_dir("/proc").ok()?.flatten().find_map(|entry| {
        let child: u32 = entry.file_name().to_str()?.parse().ok()?;
        let stat = fs::read_to_string(entry.path().join("stat")).ok()?;
        // pid (comm) state ppid ...; comm may hold spaces and parentheses
        let ppid: u32 = stat
            .rsplit_once(')')?
            .1
            .split_whitespace()
            .nth(1)?
            .parse()
            .ok()?;
        (ppid == pid).then_some(child)
    })
}

fn rss_anon_kib(pid: u32) -> Option<u64> {
    let status = fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("RssAnon:"))?
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

/// Runs tshark on the main tile, or on a prefix tile when the full run would
/// exceed TSHARK_BUDGET; the row then holds the time scaled to the main tile.
/// Returns a note for the report when scaled.
fn run_tshark(
    bencher: &Bencher,
    tiles: &mut Tiles,
    base: &Base,
    main: &Tile,
    rows: &mut Vec<Timing>,
) -> Result<Option<String>> {
    let cmd_on = |path: &Path| {
        Cmd::new(
            "tshark",
            path,
            "tshark -n -r FILE -Y tls.handshake",
            "tshark",
            vec![
                "-n".into(),
                "-r".into(),
                path.as_os_str().into(),
                "-Y".into(),
                "tls.handshake".into(),
            ],
        )
    };
    if main.bytes <= TSHARK_PREFIX_MIB * MIB {
        rows.push(bencher.time(&cmd_on(&main.path), 1)?);
        return Ok(None);
    }
    // Probe on the prefix to estimate the full run.
    let prefix = tiles.get(base, TSHARK_PREFIX_MIB)?;
    warm(&prefix.path)?;
    let probe = bencher.time(&cmd_on(&prefix.path), 1)?;
    let factor = main.bytes as f64 / prefix.bytes as f64;
    let estimate = probe.seconds * factor;
    if estimate <= TSHARK_BUDGET.as_secs_f64() {
        log(format!(
            "tshark on the full tile should take ~{estimate:.0} s: running it"
        ));
        warm(&main.path)?;
        rows.push(bencher.time(&cmd_on(&main.path), 1)?);
        return Ok(None);
    }
    let mut scaled = probe;
    scaled.label = "tshark (scaled)".to_string();
    scaled.display = format!("{} (scaled from {})", scaled.display, prefix.label);
    scaled.seconds = estimate;
    scaled.runs = vec![estimate];
    rows.push(scaled);
    Ok(Some(format!(
        "tshark would take ~{estimate:.0} s on the full tile (> {} s): it ran on the {} prefix \
         ({:.1} s) and its time is scaled by {factor:.2}; its peak RSS is that of the prefix run",
        TSHARK_BUDGET.as_secs(),
        prefix.label,
        estimate / factor,
    )))
}

// ---------------------------------------------------------------------------
// flood

/// The flood capture and tlscap's run on it.
struct FloodRun {
    path: PathBuf,
    capture: FloodCapture,
    /// Connections of the SYN flood (the scan's ports come on top).
    flood: u32,
    timing: Timing,
}

/// Writes the flood capture of `connections` SYNs to `bench_dir` and times `tlscap scan` on it
/// (all threads), sampling its peak anonymous memory. The capture is deleted unless `keep`.
fn run_flood(
    bencher: &Bencher,
    tlscap: &Path,
    bench_dir: &Path,
    connections: u32,
    keep: bool,
) -> Result<FloodRun> {
    let path = bench_dir.join(format!("flood-{connections}.pcap"));
    let started = Instant::now();
    let capture = write_flood(&path, connections)?;
    log_written(
        &path,
        (capture.bytes, capture.packets),
        &format!("{} connection attempts", capture.connections),
        started,
    );
    warm(&path)?;
    let timing = bencher.time(
        &Cmd::new(
            "tlscap flood",
            &path,
            &format!("tlscap scan FILE -o DIR -q  ({connections} concurrent connections)"),
            tlscap,
            scan_args(&path, &bencher.scan_out, &[]),
        )
        .tlscap(),
        RUNS,
    );
    remove_unless_kept(&path, keep);
    Ok(FloodRun {
        path,
        capture,
        flood: connections,
        timing: timing?,
    })
}

fn print_flood_table(f: &FloodRun) {
    let t = &f.timing;
    println!(
        "\n{}: {:.1} MB, {} packets: a SYN flood of {} concurrent connections and a 65,535-port \
         SYN scan; median of {RUNS} runs",
        f.path.display(),
        f.capture.bytes as f64 / 1e6,
        f.capture.packets,
        f.flood
    );
    println!(
        "{:<14} {:>9} {:>12} {:>13} {:>14} {:>12}",
        "command", "seconds", "packets/s", "peak RSS MiB", "peak anon MiB", "target MiB"
    );
    println!(
        "{:<14} {:>9.3} {:>12.0} {:>13} {:>14} {:>12}",
        "tlscap scan",
        t.seconds,
        f.capture.packets as f64 / t.seconds,
        mib(t.max_rss_kib),
        mib(t.peak_anon_kib),
        format!("< {FLOOD_ANON_TARGET_MIB}")
    );
}

fn json_flood(f: &FloodRun) -> String {
    let t = &f.timing;
    format!(
        "{{\"path\": {}, \"bytes\": {}, \"packets\": {}, \"flood_connections\": {}, \
         \"connection_attempts\": {}, \"runs_s\": [{}], \"seconds\": {}, \"peak_rss_mib\": {}, \
         \"peak_anon_mib\": {}, \"peak_anon_target_mib\": {FLOOD_ANON_TARGET_MIB}}}",
        json_str(&f.path.display().to_string()),
        f.capture.bytes,
        f.capture.packets,
        f.flood,
        f.capture.connections,
        json_runs(&t.runs),
        json_num(t.seconds),
        json_opt(t.max_rss_kib),
        json_opt(t.peak_anon_kib),
    )
}

/// Logs a generated capture: its size, packets, what it holds and how long it took.
fn log_written(path: &Path, (bytes, packets): (u64, u64), holds: &str, started: Instant) {
    log(format!(
        "wrote {}: {:.1} MB, {packets} packets, {holds} ({:.1} s)",
        path.display(),
        bytes as f64 / 1e6,
        started.elapsed().as_secs_f64()
    ));
}

/// Deletes a generated capture after its runs, unless `--keep`.
fn remove_unless_kept(path: &Path, keep: bool) {
    if keep {
        return;
    }
    match fs::remove_file(path) {
        Ok(()) => log(format!("removed {}", path.display())),
        Err(e) => log(format!("warning: cannot remove {}: {e}", path.display())),
    }
}

struct ShortRun {
    path: PathBuf,
    capture: crate::short::ShortCapture,
    /// cat, tlscap -j 1, tlscap with all threads.
    timings: Vec<Timing>,
}

/// Times cat and tlscap (1 and all threads) in turn on the short-connection capture.
fn run_short(
    bencher: &Bencher,
    tlscap: &Path,
    bench_dir: &Path,
    connections: usize,
    keep: bool,
    threads: usize,
) -> Result<ShortRun> {
    let path = bench_dir.join(format!("short-{connections}.pcap"));
    let started = Instant::now();
    let capture = crate::short::write_short(&path, connections)?;
    log_written(
        &path,
        (capture.bytes, capture.packets),
        &format!("{} connections", capture.connections),
        started,
    );
    warm(&path)?;
    let out = bencher.scan_out.as_path();
    let cmds = [
        Cmd::new(
            "cat short",
            &path,
            "cat FILE",
            "cat",
            vec![path.as_os_str().into()],
        ),
        Cmd::new(
            "tlscap short -j 1",
            &path,
            "tlscap scan FILE -o DIR -q -j 1",
            tlscap,
            scan_args(&path, out, &["-j", "1"]),
        )
        .tlscap(),
        Cmd::new(
            "tlscap short (all)",
            &path,
            &format!("tlscap scan FILE -o DIR -q  (all {threads} threads)"),
            tlscap,
            scan_args(&path, out, &[]),
        )
        .tlscap(),
    ];
    let timings = bencher.time_interleaved(&cmds, RUNS);
    remove_unless_kept(&path, keep);
    Ok(ShortRun {
        path,
        capture,
        timings: timings?,
    })
}

fn print_short_table(s: &ShortRun) {
    println!(
        "\n{}: {:.1} MB, {} packets: {} short TLS 1.3 connections (a handshake and a close \
         each, one in four refused); page cache warm; median of {RUNS} runs",
        s.path.display(),
        s.capture.bytes as f64 / 1e6,
        s.capture.packets,
        s.capture.connections
    );
    println!(
        "{:<44} {:>9} {:>9} {:>8} {:>13} {:>14}",
        "command", "seconds", "MB/s", "x cat", "handshakes/s", "peak anon MiB"
    );
    let cat_s = s.timings[0].seconds;
    for (i, t) in s.timings.iter().enumerate() {
        // cat reads no handshakes.
        let handshakes = if i == 0 {
            "-".to_string()
        } else {
            format!("{:.0}", s.capture.connections as f64 / t.seconds)
        };
        println!(
            "{:<44} {:>9.3} {:>9.0} {:>8.1} {:>13} {:>14}",
            t.display,
            t.seconds,
            s.capture.bytes as f64 / 1e6 / t.seconds,
            t.seconds / cat_s,
            handshakes,
            mib(t.peak_anon_kib)
        );
    }
}

fn json_short(s: &ShortRun) -> String {
    let cat_s = s.timings[0].seconds;
    format!(
        "{{\"path\": {}, \"bytes\": {}, \"packets\": {}, \"connections\": {}, \
         \"commands\": [{}]}}",
        json_str(&s.path.display().to_string()),
        s.capture.bytes,
        s.capture.packets,
        s.capture.connections,
        s.timings
            .iter()
            .map(|t| json_timing(t, s.capture.bytes, cat_s))
            .collect::<Vec<_>>()
            .join(", "),
    )
}

// ---------------------------------------------------------------------------
// report

fn mib(kib: Option<u64>) -> String {
    kib.map_or_else(|| "-".to_string(), |k| format!("{:.0}", k as f64 / 1024.0))
}

fn print_main_table(main: &Tile, rows: &[Timing], cat_s: f64, note: Option<&str>) {
    println!(
        "\n{}: {:.1} MB ({:.2} GiB), {} packets, ~{} connections; page cache warm; \
         median of {RUNS} runs (tshark: 1)",
        main.path.display(),
        main.bytes as f64 / 1e6,
        main.bytes as f64 / GIB as f64,
        main.packets,
        main.connections
    );
    let width = rows
        .iter()
        .map(|r| r.display.len())
        .chain([7])
        .max()
        .unwrap_or(7);
    println!(
        "{:<width$} {:>9} {:>9} {:>8} {:>13} {:>14}",
        "command", "seconds", "MB/s", "x cat", "peak RSS MiB", "peak anon MiB"
    );
    for r in rows {
        println!(
            "{:<width$} {:>9.3} {:>9.0} {:>8.1} {:>13} {:>14}",
            r.display,
            r.seconds,
            main.bytes as f64 / 1e6 / r.seconds,
            r.seconds / cat_s,
            mib(r.max_rss_kib),
            mib(r.peak_anon_kib)
        );
    }
    if let Some(note) = note {
        println!("note: {note}");
    }
    println!(
        "peak RSS: /usr/bin/time -v (includes the pages of tlscap's memory-mapped input); \
         peak anon: max RssAnon sampled every {} ms",
        POLL_INTERVAL.as_millis()
    );
}

/// A tile of the scaling runs, tlscap's timing on it and `cat`'s.
type ScaleRow = (Tile, Timing, Timing);

fn print_scale_table(rows: &[ScaleRow], threads: usize) {
    if rows.is_empty() {
        return;
    }
    println!(
        "\ntlscap scan, all {threads} threads, by capture size (median of {SCALE_RUNS} runs, \
         cat timed in turn)"
    );
    println!(
        "{:>8} {:>10} {:>9} {:>9} {:>9} {:>14} {:>9}",
        "size", "MB", "seconds", "s/GiB", "MB/s", "peak anon MiB", "cat s"
    );
    let mut per_gib = Vec::new();
    for (tile, t, cat) in rows {
        let s_per_gib = t.seconds / (tile.bytes as f64 / GIB as f64);
        per_gib.push(s_per_gib);
        println!(
            "{:>8} {:>10.1} {:>9.3} {:>9.3} {:>9.0} {:>14} {:>9.3}",
            tile.label,
            tile.bytes as f64 / 1e6,
            t.seconds,
            s_per_gib,
            tile.bytes as f64 / 1e6 / t.seconds,
            mib(t.peak_anon_kib),
            cat.seconds,
        );
    }
    if per_gib.len() > 1 {
        let lo = per_gib.iter().copied().fold(f64::INFINITY, f64::min);
        let hi = per_gib.iter().copied().fold(0.0, f64::max);
        println!(
            "s/GiB spread: {:.0}% (max / min - 1; 0% = perfectly linear; includes the fixed cost)",
            (hi / lo - 1.0) * 100.0
        );
        let gib = |tile: &Tile| tile.bytes as f64 / GIB as f64;
        let tlscap: Vec<(f64, f64)> = rows
            .iter()
            .map(|(tile, t, _)| (gib(tile), t.seconds))
            .collect();
        let cat: Vec<(f64, f64)> = rows
            .iter()
            .map(|(tile, _, c)| (gib(tile), c.seconds))
            .collect();
        println!("least-squares line: {}", line_and_steps(&tlscap));
        println!("cat, the same way:  {}", line_and_steps(&cat));
    }
}

/// The least-squares line through `points` (GiB, seconds), and each step's own cost per GiB
/// against it: how linear the growth is once the fixed cost (start, output files) is set apart.
fn line_and_steps(points: &[(f64, f64)]) -> String {
    let (fixed, slope) = line_fit(points);
    let steps: Vec<String> = points
        .windows(2)
        .map(|w| {
            let step = (w[1].1 - w[0].1) / (w[1].0 - w[0].0);
            format!("{:+.0}%", (step / slope - 1.0) * 100.0)
        })
        .collect();
    format!(
        "{fixed:.3} s + {slope:.3} s/GiB; each step's s/GiB against it: {}",
        steps.join(", ")
    )
}

/// The least-squares line through `points` (x, y): (intercept, slope).
fn line_fit(points: &[(f64, f64)]) -> (f64, f64) {
    let n = points.len() as f64;
    let (sx, sy) = points
        .iter()
        .fold((0.0, 0.0), |(a, b), (x, y)| (a + x, b + y));
    let (mx, my) = (sx / n, sy / n);
    let sxy: f64 = points.iter().map(|(x, y)| (x - mx) * (y - my)).sum();
    let sxx: f64 = points.iter().map(|(x, _)| (x - mx) * (x - mx)).sum();
    let slope = if sxx > 0.0 { sxy / sxx } else { 0.0 };
    (my - slope * mx, slope)
}

fn json_str(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if (c as u32) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// A run's times, for a JSON array: `0.1, 0.2`.
fn json_runs(runs: &[f64]) -> String {
    runs.iter()
        .map(|&s| json_num(s))
        .collect::<Vec<_>>()
        .join(", ")
}

fn json_num(x: f64) -> String {
    if x.is_finite() {
        format!("{}", (x * 1e6).round() / 1e6)
    } else {
        "null".to_string()
    }
}

fn json_opt(kib: Option<u64>) -> String {
    kib.map_or_else(|| "null".to_string(), |k| json_num(k as f64 / 1024.0))
}

fn json_tile(t: &Tile) -> String {
    format!(
        "{{\"path\": {}, \"bytes\": {}, \"packets\": {}, \"connections\": {}, \"copies_of_base\": {}}}",
        json_str(&t.path.display().to_string()),
        t.bytes,
        t.packets,
        t.connections,
        t.copies
    )
}

fn json_timing(t: &Timing, main_bytes: u64, cat_s: f64) -> String {
    format!(
        "{{\"name\": {}, \"command\": {}, \"runs_s\": [{}], \"seconds\": {}, \"mb_per_s\": {}, \
         \"ratio_to_cat\": {}, \"measured_on_bytes\": {}, \"peak_rss_mib\": {}, \"peak_anon_mib\": {}}}",
        json_str(&t.label),
        json_str(&t.display),
        json_runs(&t.runs),
        json_num(t.seconds),
        json_num(main_bytes as f64 / 1e6 / t.seconds),
        json_num(t.seconds / cat_s),
        t.bytes,
        json_opt(t.max_rss_kib),
        json_opt(t.peak_anon_kib),
    )
}

/// Everything one `cargo xtask bench` run measured.
struct Report<'a> {
    base: &'a Base,
    main: &'a Tile,
    rows: &'a [Timing],
    cat_s: f64,
    note: Option<&'a str>,
    ceiling: Option<&'a Ceiling>,
    flood: Option<&'a FloodRun>,
    short: Option<&'a ShortRun>,
    scales: &'a [ScaleRow],
}

fn results_json(report: &Report<'_>) -> String {
    let Report {
        base,
        main,
        rows,
        cat_s,
        note,
        ceiling,
        flood,
        short,
        scales,
    } = *report;
    let ceiling = ceiling.map_or_else(
        || "null".to_string(),
        |c| {
            format!(
                "{{\"copies\": {}, \"concurrent_seconds\": {}, \"runs_s\": [{}], \
                 \"speedup_1_to_all\": {}, \"machine_speedup\": {}, \"share_of_machine\": {}}}",
                c.copies,
                json_num(c.concurrent.seconds),
                json_runs(&c.concurrent.runs),
                json_num(c.speedup()),
                json_num(c.machine()),
                json_num(c.share_of_machine()),
            )
        },
    );
    let commands: Vec<String> = rows
        .iter()
        .map(|t| format!("    {}", json_timing(t, main.bytes, cat_s)))
        .collect();
    let scale_rows: Vec<String> = scales
        .iter()
        .map(|(tile, t, cat)| {
            format!(
                "    {{\"tile\": {}, \"seconds\": {}, \"runs_s\": [{}], \"seconds_per_gib\": {}, \
                 \"mb_per_s\": {}, \"peak_rss_mib\": {}, \"peak_anon_mib\": {}, \
                 \"cat_seconds\": {}}}",
                json_tile(tile),
                json_num(t.seconds),
                json_runs(&t.runs),
                json_num(t.seconds / (tile.bytes as f64 / GIB as f64)),
                json_num(tile.bytes as f64 / 1e6 / t.seconds),
                json_opt(t.max_rss_kib),
                json_opt(t.peak_anon_kib),
                json_num(cat.seconds),
            )
        })
        .collect();
    format!(
        "{{\n  \"base\": {{\"bytes\": {}, \"packets\": {}, \"connections\": {}}},\n  \
         \"threads\": {},\n  \"tile\": {},\n  \"runs_per_command\": {RUNS},\n  \
         \"runs_per_scale\": {SCALE_RUNS},\n  \
         \"tshark_note\": {},\n  \"commands\": [\n{}\n  ],\n  \"ceiling\": {},\n  \"flood\": {},\n  \
         \"short_connections\": {},\n  \"scales\": [\n{}\n  ]\n}}\n",
        base.body.len() + PCAP_HEADER_LEN,
        base.recs.len(),
        base.syns,
        thread::available_parallelism().map_or(1, |n| n.get()),
        json_tile(main),
        note.map_or_else(|| "null".to_string(), json_str),
        commands.join(",\n"),
        ceiling,
        flood.map_or_else(|| "null".to_string(), json_flood),
        short.map_or_else(|| "null".to_string(), json_short),
        scale_rows.join(",\n"),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn line_fit_finds_the_fixed_cost_and_the_slope() {
        let (fixed, slope) = line_fit(&[(0.5, 0.13), (1.0, 0.23), (2.0, 0.43), (4.0, 0.83)]);
        assert!((fixed - 0.03).abs() < 1e-9 && (slope - 0.2).abs() < 1e-9);
    }

    fn ipv4_checksum(hdr: &[u8]) -> u16 {
        use crate::flood::{be_words, ones_complement_sum};
        ones_complement_sum(be_words(hdr))
    }

    #[test]
    fn incremental_checksum_matches_recomputation() {
        let mut hdr = [
            0x45, 0, 0, 0x3c, 0x1c, 0x46, 0x40, 0, 0x40, 6, 0, 0, 10, 99, 0, 1, 10, 99, 0, 2,
        ];
        let sum = ipv4_checksum(&hdr);
        hdr[10..12].copy_from_slice(&sum.to_be_bytes());
        assert_eq!(ipv4_checksum(&hdr), 0);
        let old = hdr[12..20].to_vec();
        for (i, d) in [(13, 1u8), (14, 7), (17, 1), (18, 7)] {
            hdr[i] = hdr[i].wrapping_add(d);
        }
        let updated = update_checksum(sum, &old, &hdr[12..20]);
        hdr[10..12].copy_from_slice(&updated.to_be_bytes());
        assert_eq!(ipv4_checksum(&hdr), 0);
    }

    #[test]
    fn labels() {
        assert_eq!(size_label(mib_of(2.0)), "2GiB");
        assert_eq!(size_label(mib_of(0.25)), "256MiB");
        assert_eq!(size_label(mib_of(0.5)), "512MiB");
    }
}
