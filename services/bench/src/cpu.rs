//! CPU time and memory of the processes a run exercises, read from `/proc`: what each part of
//! the stack spends per measure, so that the next bottleneck is visible.

use std::{fs, time::Instant};

/// Linux reports process and machine times in units of USER_HZ, 100 per second on every
/// architecture the hub runs on.
const USER_HZ: f64 = 100.0;

/// Which processes a row of the figures covers.
#[derive(Clone, Debug)]
pub enum Select {
    /// These process ids.
    Pids(Vec<u32>),
    /// Every process whose command name (`/proc/PID/comm`) is this.
    Named(&'static str),
}

impl Select {
    fn pids(&self) -> Vec<u32> {
        match self {
            Select::Pids(pids) => pids.clone(),
            Select::Named(name) => named(name),
        }
    }
}

/// The rows of the figures: a label and the processes it covers.
#[derive(Clone, Debug)]
pub struct Processes(Vec<(String, Select)>);

/// CPU seconds of each row and of the whole machine at one moment.
pub struct Sample {
    at: Instant,
    rows: Vec<f64>,
    machine: f64,
}

/// What each row spent between two samples.
pub struct Spent {
    pub rows: Vec<(String, f64)>,
    /// CPU seconds of every process on the machine, the rows' and any other.
    pub machine: f64,
    /// Wall-clock seconds between the samples.
    pub wall: f64,
}

impl Processes {
    pub fn new() -> Self {
        Processes(Vec::new())
    }

    pub fn with(mut self, label: &str, select: Select) -> Self {
        self.0.push((label.to_string(), select));
        self
    }

    pub fn sample(&self) -> Sample {
        Sample {
            at: Instant::now(),
            rows: self
                .0
                .iter()
                .map(|(_, select)| select.pids().into_iter().filter_map(cpu_seconds).sum())
                .collect(),
            machine: machine_busy_seconds().unwrap_or(f64::NAN),
        }
    }

    pub fn since(&self, before: &Sample) -> Spent {
        let now = self.sample();
        Spent {
            rows: self
                .0
                .iter()
                .zip(now.rows.iter().zip(&before.rows))
                .map(|((label, _), (after, before))| (label.clone(), after - before))
                .collect(),
            machine: now.machine - before.machine,
            wall: (now.at - before.at).as_secs_f64(),
        }
    }
}

impl Spent {
    /// Prints each row's CPU microseconds per measure and its share of the machine's.
    pub fn print(&self, measures: u32) {
        let per = |seconds: f64| seconds * 1e6 / f64::from(measures.max(1));
        let counted: f64 = self.rows.iter().map(|(_, s)| s).sum();
        for (label, seconds) in &self.rows {
            println!(
                "      {label:<32} {:>7.0} µs   {:>5.1} %",
                per(*seconds),
                seconds / self.machine * 100.0
            );
        }
        println!(
            "      {:<32} {:>7.0} µs   {:>5.1} %",
            "everything else on the machine",
            per(self.machine - counted),
            (self.machine - counted) / self.machine * 100.0
        );
        println!(
            "      {:<32} {:>7.0} µs   busy {:.2} of {} cores",
            "the machine",
            per(self.machine),
            self.machine / self.wall,
            cores()
        );
    }
}

/// User and system CPU seconds of a process, all its threads, so far.
fn cpu_seconds(pid: u32) -> Option<f64> {
    let stat = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after the command name (which may hold spaces, in parentheses): utime and stime
    // are fields 14 and 15 of the line, 12th and 13th after the name.
    let fields: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
    let ticks = fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?;
    Some(ticks as f64 / USER_HZ)
}

/// Busy CPU seconds of the whole machine so far (everything but idle and iowait).
fn machine_busy_seconds() -> Option<f64> {
    let stat = fs::read_to_string("/proc/stat").ok()?;
    let line = stat.lines().next()?;
    let ticks: Vec<u64> = line
        .split_whitespace()
        .skip(1)
        .filter_map(|f| f.parse().ok())
        .collect();
    // user nice system idle iowait irq softirq steal …
    let busy: u64 = ticks
        .iter()
        .take(8)
        .enumerate()
        .filter(|(i, _)| *i != 3 && *i != 4)
        .map(|(_, t)| t)
        .sum();
    Some(busy as f64 / USER_HZ)
}

fn cores() -> usize {
    std::thread::available_parallelism().map_or(1, usize::from)
}

/// Every process whose command name is `name`.
fn named(name: &str) -> Vec<u32> {
    let Ok(entries) = fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .filter(|pid| {
            fs::read_to_string(format!("/proc/{pid}/comm")).is_ok_and(|comm| comm.trim() == name)
        })
        .collect()
}

/// Resident memory of a process, in MiB.
pub fn rss_mib(pid: u32) -> Option<f64> {
    let status = fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let kib: f64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))?
        .split_whitespace()
        .next()?
        .parse()
        .ok()?;
    Some(kib / 1024.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn this_process_spends_cpu_and_has_memory() {
        let me = std::process::id();
        let processes = Processes::new().with("me", Select::Pids(vec![me]));
        let before = processes.sample();
        let mut x = 0u64;
        let started = Instant::now();
        while started.elapsed().as_millis() < 300 {
            x = x.wrapping_mul(31).wrapping_add(1);
        }
        std::hint::black_box(x);
        let spent = processes.since(&before);
        assert!(spent.rows[0].1 >= 0.2, "spent {:?}", spent.rows);
        assert!(spent.machine >= spent.rows[0].1 * 0.9);
        assert!(rss_mib(me).is_some_and(|m| m > 1.0));
        assert!(named("no-such-process-name").is_empty());
    }
}
