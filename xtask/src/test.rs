//! `cargo xtask test`: the README's test command. Installs what the tests need on a fresh
//! machine (Python's duckdb; openssl, gnutls-bin, tcpdump and iproute2 for the real-stack
//! captures), generates the real-stack captures when they are missing or older than their
//! generator, then runs every test of the workspace.

use std::path::Path;
use std::process::Command;

use anyhow::{bail, Context, Result};

use crate::workspace_root;

fn have(cmd: &str) -> bool {
    Command::new("sh")
        .arg("-c")
        .arg(format!("command -v {cmd} >/dev/null 2>&1"))
        .status()
        .is_ok_and(|s| s.success())
}

fn run(cmd: &mut Command) -> Result<()> {
    let shown = format!("{cmd:?}");
    let status = cmd
        .status()
        .with_context(|| format!("cannot start {shown}"))?;
    if !status.success() {
        bail!("{shown} failed with {status}");
    }
    Ok(())
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
}

/// Debian packages the real-stack generator needs, by the command that shows each is there.
const PACKAGES: &[(&str, &str)] = &[
    ("openssl", "openssl"),
    ("gnutls-cli", "gnutls-bin"),
    ("tcpdump", "tcpdump"),
    ("ip", "iproute2"),
];

fn ensure_tools() -> Result<()> {
    let missing: Vec<&str> = PACKAGES
        .iter()
        .filter(|(cmd, _)| !have(cmd))
        .map(|(_, pkg)| *pkg)
        .collect();
    if !missing.is_empty() {
        if !is_root() {
            bail!("the tests need {} (apt-get needs root)", missing.join(", "));
        }
        eprintln!("xtask test: installing {}", missing.join(" "));
        run(Command::new("apt-get")
            .args(["update", "-qq"])
            .env("DEBIAN_FRONTEND", "noninteractive"))?;
        run(Command::new("apt-get")
            .args(["install", "-y", "-qq"])
            .args(&missing)
            .env("DEBIAN_FRONTEND", "noninteractive"))?;
    }
    let duckdb = Command::new("python3")
        .args(["-c", "import duckdb"])
        .output();
    if !duckdb.is_ok_and(|o| o.status.success()) {
        eprintln!("xtask test: installing Python's duckdb");
        let pip = [
            "-m",
            "pip",
            "install",
            "--quiet",
            "--disable-pip-version-check",
            "duckdb",
        ];
        // A distribution's own Python refuses pip installs (PEP 668) unless told otherwise.
        if run(Command::new("python3").args(pip)).is_err() {
            run(Command::new("python3")
                .args(pip)
                .arg("--break-system-packages"))?;
        }
    }
    Ok(())
}

/// Regenerates the real-stack captures when they are missing or the generator changed.
fn realstack_captures(root: &Path) -> Result<()> {
    let script = root.join("tests/realstack/gen.sh");
    let dir = root.join("target/realstack");
    let manifest = dir.join("MANIFEST.tsv");
    let modified = |p: &Path| std::fs::metadata(p).and_then(|m| m.modified()).ok();
    let fresh = matches!((modified(&manifest), modified(&script)), (Some(m), Some(s)) if m >= s);
    if fresh {
        return Ok(());
    }
    let _ = std::fs::remove_dir_all(&dir);
    eprintln!(
        "xtask test: generating real-stack captures into {}",
        dir.display()
    );
    run(Command::new("bash").arg(&script).arg("scenarios").arg(&dir))
}

pub fn run_tests(args: &[String]) -> Result<()> {
    let root = workspace_root()?;
    ensure_tools()?;
    realstack_captures(&root)?;
    run(
        Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
            .current_dir(&root)
            .args(["test", "--workspace"])
            .args(args),
    )
}
