//! Server memory sampling from `/proc/PID/status`.
//!
//! Memory use under load is one of the numbers we compare against peers, and
//! reading procfs needs no cooperation from the server being measured.

use std::path::Path;

/// Resident memory of a process, in KiB as the kernel reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Memory {
    /// Current resident set size (`VmRSS`).
    pub rss_kb: u64,
    /// Peak resident set size since the process started (`VmHWM`).
    pub hwm_kb: Option<u64>,
}

/// Reads `/proc/<pid>/status`; `None` (with a warning) when the process is
/// gone or procfs is unavailable, since the load results are still valid.
pub fn read_memory(pid: u32) -> Option<Memory> {
    let path = Path::new("/proc").join(pid.to_string()).join("status");
    match std::fs::read_to_string(&path) {
        Ok(text) => {
            let memory = parse_status(&text);
            if memory.is_none() {
                eprintln!("warning: no VmRSS in {}", path.display());
            }
            memory
        }
        Err(e) => {
            eprintln!("warning: cannot read {}: {e}", path.display());
            None
        }
    }
}

fn parse_status(text: &str) -> Option<Memory> {
    let field = |name: &str| {
        text.lines()
            .find_map(|line| line.strip_prefix(name)?.strip_prefix(':'))
            .and_then(|rest| rest.split_whitespace().next()?.parse::<u64>().ok())
    };
    Some(Memory {
        rss_kb: field("VmRSS")?,
        hwm_kb: field("VmHWM"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_proc_status() {
        let text = "Name:\therald\nVmPeak:\t  200000 kB\nVmHWM:\t   51234 kB\nVmRSS:\t   45678 kB\nThreads:\t4\n";
        assert_eq!(
            parse_status(text),
            Some(Memory {
                rss_kb: 45678,
                hwm_kb: Some(51234)
            })
        );
        assert_eq!(parse_status("Name:\tkthreadd\n"), None);
    }

    #[test]
    fn reads_own_process() {
        let memory = read_memory(std::process::id()).expect("own /proc status");
        assert!(memory.rss_kb > 0);
        assert!(memory.hwm_kb.unwrap() >= memory.rss_kb);
    }
}
