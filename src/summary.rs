//! The terminal summary of a run: handshakes by outcome, the top alerts, failures with their
//! causes, and files that could not be read whole.

use std::collections::{BTreeMap, HashMap};
use std::fmt::Write;

use tlscap_output::{AlertRow, FileRow, HandshakeRow};

/// How many failed handshakes the summary shows with their cause.
const FAILURES_SHOWN: usize = 10;

/// (sender, level, name, code) of an alert; encrypted alerts have no level, name or code.
pub type AlertKey = (
    Option<&'static str>,
    Option<u8>,
    Option<&'static str>,
    Option<u16>,
);

#[derive(Default)]
pub struct Summary {
    pub outcomes: BTreeMap<&'static str, u64>,
    /// (sender, level, name, code) -> count; encrypted alerts have no level or name.
    pub alerts: HashMap<AlertKey, u64>,
    pub failures: Vec<HandshakeRow>,
    pub failed_files: Vec<(String, String)>,
    pub bytes: u64,
    pub packets: u64,
    pub files: u64,
    /// Connections evicted by a memory limit (for room in a full flow table, or for the memory
    /// budget); idle evictions are routine and not counted here.
    pub evicted_by_limits: (u64, u64),
}

impl Summary {
    pub fn handshakes(&mut self, rows: &[HandshakeRow]) {
        for r in rows {
            *self.outcomes.entry(r.outcome).or_default() += 1;
            if r.outcome == "failed" && self.failures.len() < FAILURES_SHOWN {
                self.failures.push(r.clone());
            }
        }
    }

    /// Adds what another summary counted of handshakes (a shard's, of the rows it encoded).
    pub fn add_handshakes(&mut self, other: Summary) {
        for (outcome, n) in other.outcomes {
            *self.outcomes.entry(outcome).or_default() += n;
        }
        let room = FAILURES_SHOWN.saturating_sub(self.failures.len());
        self.failures.extend(other.failures.into_iter().take(room));
    }

    pub fn alerts(&mut self, rows: &[AlertRow]) {
        for a in rows {
            *self
                .alerts
                .entry((a.sender, a.level, a.name, a.code))
                .or_default() += 1;
        }
    }

    pub fn file(&mut self, f: &FileRow) {
        self.files += 1;
        self.bytes += f.bytes;
        self.packets += f.packets;
        self.evicted_by_limits.0 += f.evicted_table_full;
        self.evicted_by_limits.1 += f.evicted_memory_budget;
        if let Some(e) = &f.error {
            self.failed_files.push((f.capture.to_string(), e.clone()));
        }
    }

    pub fn render(&self, seconds: f64) -> String {
        let mut s = String::new();
        let _ = writeln!(
            s,
            "Scanned {} file(s), {:.1} MB, {} packets in {:.2} s",
            self.files,
            self.bytes as f64 / 1e6,
            self.packets,
            seconds
        );
        let total: u64 = self.outcomes.values().sum();
        let _ = write!(s, "Handshakes: {total}");
        for o in ["established", "failed", "incomplete"] {
            let _ = write!(s, "  {o} {}", self.outcomes.get(o).copied().unwrap_or(0));
        }
        if let Some(n) = self.outcomes.get("not_tls") {
            let _ = write!(s, "  not TLS {n}");
        }
        s.push('\n');
        if !self.alerts.is_empty() {
            let mut top: Vec<_> = self.alerts.iter().collect();
            top.sort_by(|a, b| b.1.cmp(a.1).then_with(|| a.0.cmp(b.0)));
            let _ = writeln!(s, "Top alerts:");
            for ((sender, level, name, code), n) in top.into_iter().take(10) {
                let what = match (level, name, code) {
                    (None, _, _) => "encrypted (level and code hidden)".to_string(),
                    (Some(l), n, Some(c)) => {
                        let lvl = match l {
                            1 => "warning",
                            2 => "fatal",
                            _ => "level?",
                        };
                        format!("{lvl} {} ({c})", n.unwrap_or("unknown"))
                    }
                    (Some(_), _, None) => "unknown".to_string(),
                };
                let _ = writeln!(s, "  {n:>8}  from {:<7} {what}", sender.unwrap_or("?"));
            }
        }
        if !self.failures.is_empty() {
            let _ = writeln!(s, "Failed handshakes (first {}):", self.failures.len());
            for h in &self.failures {
                let ep = |ip: Option<std::net::IpAddr>, port: Option<u16>| match (ip, port) {
                    (Some(std::net::IpAddr::V6(v6)), Some(p)) => format!("[{v6}]:{p}"),
                    (Some(ip), Some(p)) => format!("{ip}:{p}"),
                    _ => "?".into(),
                };
                let _ = writeln!(
                    s,
                    "  {} {} -> {} {}: {}",
                    h.capture,
                    ep(h.client_ip, h.client_port),
                    ep(h.server_ip, h.server_port),
                    h.version.as_deref().unwrap_or("(no ServerHello)"),
                    h.cause.as_deref().unwrap_or("failed")
                );
            }
        }
        let (room, budget) = self.evicted_by_limits;
        if room + budget > 0 {
            let _ = writeln!(
                s,
                "Memory limits reached: {room} connection(s) evicted for room in the flow table, \
                 {budget} for the memory budget (their rows say so in `limits`)"
            );
        }
        if !self.failed_files.is_empty() {
            let _ = writeln!(s, "Files not read whole ({}):", self.failed_files.len());
            for (f, e) in &self.failed_files {
                let _ = writeln!(s, "  {f}: {e}");
            }
        }
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn evictions_by_memory_limits_are_reported_and_idle_ones_are_not() {
        let mut s = Summary::default();
        s.file(&FileRow {
            evicted_idle: 5,
            ..FileRow::default()
        });
        assert!(!s.render(1.0).contains("Memory limits"));
        s.file(&FileRow {
            evicted_table_full: 61_422,
            evicted_memory_budget: 2,
            ..FileRow::default()
        });
        assert!(s.render(1.0).contains(
            "Memory limits reached: 61422 connection(s) evicted for room in the flow table, \
             2 for the memory budget"
        ));
    }
}
