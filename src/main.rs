//! `tlscap`: the command line. Thin: argument parsing, progress, summary, exit status.

use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

use clap::{Parser, Subcommand};
use indicatif::{ProgressBar, ProgressStyle};
use tlscap::{run, ScanOptions};

/// mimalloc, not the system's allocator: rows, TLS messages and row groups are allocated on
/// one worker and freed on another, and glibc's per-thread arenas gave freed memory back to
/// the kernel and faulted it in again. On the bench tile at two threads: 0.210 to 0.196 s
/// (~2,300 fewer page faults); 100,000 short connections 1.68 to 1.22 s; 1,000 small captures
/// 0.20 to 0.14 s. Its version 2, whose freed pages go back to the kernel after 10 ms (version
/// 3 keeps them a second): peak anonymous memory on the flood capture is ~310 MiB against
/// glibc's 186 (330 with version 3), ~44 MiB on the bench tile against 16 (`cargo xtask
/// bench`). Transparent huge pages stay on: without them (`no_thp`) the tile took 22 MiB but
/// 0.167 s against 0.154.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Parser)]
#[command(
    name = "tlscap",
    version,
    about = "Why did this TLS handshake fail? Scan packet captures into Parquet."
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Scan captures (files, or directories searched recursively) into Parquet tables.
    Scan {
        /// pcap or pcapng files, or directories holding them (recognised by content).
        #[arg(required = true)]
        inputs: Vec<PathBuf>,
        /// Folder for handshakes.parquet, alerts.parquet, certificates.parquet and files.parquet.
        #[arg(short, long)]
        out: PathBuf,
        /// Worker threads (default: one per core).
        #[arg(short = 'j', long)]
        threads: Option<usize>,
        /// No summary on the terminal.
        #[arg(short, long)]
        quiet: bool,
    },
    /// Rebuild the motivating capture (a client certificate refused by IIS), scan it, explain it.
    Demo {
        /// Where to write the capture and the Parquet tables.
        #[arg(long, default_value = "tlscap-demo")]
        dir: PathBuf,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Scan {
            inputs,
            out,
            threads,
            quiet,
        } => {
            if let Some(n) = threads {
                if let Err(e) = rayon::ThreadPoolBuilder::new()
                    .num_threads(n.max(1))
                    .build_global()
                {
                    eprintln!("tlscap: cannot start {n} threads: {e}");
                    return ExitCode::from(2);
                }
            }
            scan(&inputs, &out, quiet)
        }
        Command::Demo { dir } => match tlscap::demo::run_demo(&dir) {
            Ok(text) => {
                print!("{text}");
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("tlscap demo: {e:#}");
                ExitCode::from(2)
            }
        },
    }
}

fn scan(inputs: &[PathBuf], out: &std::path::Path, quiet: bool) -> ExitCode {
    let started = Instant::now();
    let total: u64 = inputs.iter().map(|p| dir_size(p)).sum();
    let bar = if std::io::stderr().is_terminal() && !quiet {
        let b = ProgressBar::new(total);
        b.set_style(
            ProgressStyle::with_template(
                "{bar:40} {bytes}/{total_bytes} {bytes_per_sec} eta {eta}",
            )
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
        );
        b
    } else {
        ProgressBar::hidden()
    };
    let report = match run(inputs, out, ScanOptions::default(), &|n| bar.inc(n)) {
        Ok(r) => r,
        Err(e) => {
            bar.finish_and_clear();
            eprintln!("tlscap: {e:#}");
            return ExitCode::from(2);
        }
    };
    bar.finish_and_clear();
    if !quiet {
        print!("{}", report.summary.render(started.elapsed().as_secs_f64()));
        if report.skipped_non_captures > 0 {
            println!(
                "Skipped {} file(s) that are not captures",
                report.skipped_non_captures
            );
        }
        println!(
            "Wrote {}: handshakes.parquet ({} rows), alerts.parquet ({} rows), \
             certificates.parquet ({} rows), files.parquet ({} rows)",
            report.out_dir.display(),
            report.written.handshakes,
            report.written.alerts,
            report.written.certificates,
            report.written.files
        );
    }
    if report.all_read() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    }
}

/// Bytes under `p`, for the progress bar's total.
fn dir_size(p: &std::path::Path) -> u64 {
    match std::fs::metadata(p) {
        Ok(m) if m.is_dir() => std::fs::read_dir(p)
            .map(|d| d.flatten().map(|e| dir_size(&e.path())).sum())
            .unwrap_or(0),
        Ok(m) => m.len(),
        Err(_) => 0,
    }
}
