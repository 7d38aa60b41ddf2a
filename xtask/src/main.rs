//! Developer tasks for the tlscap workspace, run as `cargo xtask <command>`.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{bail, Context, Result};

mod bench;
mod flags;
mod flood;
mod instructions;
mod short;
mod test;

const USAGE: &str = "\
usage: cargo xtask <command> [options]

commands:
  test [ARGS...]
        install what the tests need, generate the real-stack captures, run `cargo test --workspace ARGS`
  bench [--size-gib 2] [--scales 0.5,1,2,4] [--flood N] [--flood-only] [--keep]
        time tlscap against cat, ssldump and tshark on a tiled capture of real TLS traffic,
        and its memory on a synthetic flood of a million concurrent connections
  instructions [--size-mib 64] [--runs 3] [--baseline FILE]
        count tlscap's instructions (callgrind) on fixed inputs: per packet, per function
  help  print this message

Run `cargo xtask <command> --help` for the options of a command.";

fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            // Printed here rather than returned so that RUST_BACKTRACE does not
            // bury the message under a backtrace.
            eprintln!("error: {err}");
            for cause in err.chain().skip(1) {
                eprintln!("  caused by: {cause}");
            }
            ExitCode::FAILURE
        }
    }
}

fn run() -> Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.first().map(String::as_str) {
        Some("bench") => bench::run(&args[1..]),
        Some("instructions") => instructions::run(&args[1..]),
        Some("test") => test::run_tests(&args[1..]),
        Some("help" | "-h" | "--help") => {
            println!("{USAGE}");
            Ok(())
        }
        Some(other) => bail!("unknown command `{other}`\n\n{USAGE}"),
        None => bail!("no command given\n\n{USAGE}"),
    }
}

/// The workspace root (the parent of the xtask crate).
pub(crate) fn workspace_root() -> Result<PathBuf> {
    let manifest_dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    manifest_dir
        .parent()
        .map(PathBuf::from)
        .with_context(|| format!("{} has no parent directory", manifest_dir.display()))
}

/// Cargo's target directory (`CARGO_TARGET_DIR`, relative to the workspace root, or `target`).
pub(crate) fn target_dir(root: &Path) -> PathBuf {
    match std::env::var_os("CARGO_TARGET_DIR") {
        Some(dir) => root.join(dir),
        None => root.join("target"),
    }
}

/// The workspace root, the target directory, and `target/<name>` (created) where a subcommand
/// writes its results.
pub(crate) fn output_dir(name: &str) -> Result<(PathBuf, PathBuf, PathBuf)> {
    let root = workspace_root()?;
    let target = target_dir(&root);
    let dir = target.join(name);
    std::fs::create_dir_all(&dir).with_context(|| format!("cannot create {}", dir.display()))?;
    Ok((root, target, dir))
}
