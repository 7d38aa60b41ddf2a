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

/// Capture order: by capture, then time, then frame, then place in the connection.
fn failure_order(h: &HandshakeRow) -> (&str, i64, Option<u64>, u32, Option<u16>) {
    (
        &h.capture,
        h.ts_us,
        h.client_hello_frame,
        h.handshake_index,
        h.client_port,
    )
}

impl Summary {
    pub fn handshakes(&mut self, rows: &[HandshakeRow]) {
        for r in rows {
            *self.outcomes.entry(r.outcome).or_default() += 1;
            if r.outcome == "failed" {
                if let Some(at) = self.failure_slot(r) {
                    self.keep_failure(at, r.clone());
                }
            }
        }
    }

    /// Adds what another summary counted of handshakes (a shard's, of the rows it encoded).
    pub fn add_handshakes(&mut self, other: Summary) {
        for (outcome, n) in other.outcomes {
            *self.outcomes.entry(outcome).or_default() += n;
        }
        for f in other.failures {
            if let Some(at) = self.failure_slot(&f) {
                self.keep_failure(at, f);
            }
        }
    }

    /// Where a failed handshake goes among those shown, if it is among the first
    /// [`FAILURES_SHOWN`] in capture order: the summary then names the same failures however
    /// many threads or shards reported them, in whatever order.
    fn failure_slot(&self, row: &HandshakeRow) -> Option<usize> {
        let at = self
            .failures
            .partition_point(|f| failure_order(f) <= failure_order(row));
        (at < FAILURES_SHOWN).then_some(at)
    }

    fn keep_failure(&mut self, at: usize, row: HandshakeRow) {
        self.failures.insert(at, row);
        self.failures.truncate(FAILURES_SHOWN);
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

    fn failed(capture: &str, ts_us: i64) -> HandshakeRow {
        HandshakeRow {
            capture: capture.into(),
            ts_us,
            outcome: "failed",
            ..HandshakeRow::default()
        }
    }

    /// Shards report failures in any order, in batches; the summary shows the same ones, the
    /// first in capture order, however they came.
    #[test]
    fn failures_shown_are_the_first_in_capture_order_whatever_order_they_came_in() {
        let rows: Vec<HandshakeRow> = (0..25)
            .map(|i| failed(if i % 2 == 0 { "b.pcap" } else { "a.pcap" }, 1000 - i))
            .collect();
        let mut expected: Vec<(String, i64)> = rows
            .iter()
            .map(|r| (r.capture.to_string(), r.ts_us))
            .collect();
        expected.sort();
        expected.truncate(FAILURES_SHOWN);
        let shown = |s: &Summary| -> Vec<(String, i64)> {
            s.failures
                .iter()
                .map(|r| (r.capture.to_string(), r.ts_us))
                .collect()
        };

        let mut all_at_once = Summary::default();
        all_at_once.handshakes(&rows);
        let mut in_batches = Summary::default();
        for batch in rows.rchunks(7) {
            let mut part = Summary::default();
            part.handshakes(batch);
            in_batches.add_handshakes(part);
        }
        for s in [&all_at_once, &in_batches] {
            assert_eq!(shown(s), expected);
            assert_eq!(s.outcomes["failed"], 25);
        }
    }

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
