//! The process's own figures from Linux `/proc/self` (CPU time, memory,
//! file descriptors, start time), as the Prometheus clients' process
//! collectors read them.

/// One reading.
pub struct Sample {
    pub cpu_seconds: f64,
    pub resident_bytes: u64,
    pub virtual_bytes: u64,
    pub open_fds: u64,
    pub max_fds: u64,
    pub start_time_seconds: f64,
}

/// `/proc` reports CPU times in USER_HZ ticks, which Linux fixes at 100
/// for user space on every architecture it supports.
const TICKS_PER_SECOND: f64 = 100.0;

fn read(path: &str) -> Result<String, String> {
    std::fs::read_to_string(path).map_err(|e| format!("cannot read `{path}`: {e}"))
}

fn number<T: std::str::FromStr>(field: Option<&str>, what: &str) -> Result<T, String> {
    field
        .and_then(|f| f.parse().ok())
        .ok_or_else(|| format!("`{what}` in /proc is not a number"))
}

/// Reads `/proc/self/stat`, `status`, `limits`, `fd` and `/proc/stat`.
pub fn sample() -> Result<Sample, String> {
    let stat = read("/proc/self/stat")?;
    // Fields after the command name (which may hold spaces) in parentheses.
    let rest = stat
        .rsplit_once(')')
        .map(|(_, r)| r)
        .ok_or("`/proc/self/stat` has no command name")?;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // `rest` starts at field 3 (state): utime is field 14, stime 15,
    // starttime 22, vsize 23, rss 24 (pages).
    let at = |n: usize| fields.get(n - 3).copied();
    let utime: f64 = number(at(14), "utime")?;
    let stime: f64 = number(at(15), "stime")?;
    let start_ticks: f64 = number(at(22), "starttime")?;
    let virtual_bytes: u64 = number(at(23), "vsize")?;
    let status = read("/proc/self/status")?;
    let rss_kib: u64 = number(
        status
            .lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))
            .and_then(|v| v.split_whitespace().next()),
        "VmRSS",
    )?;
    let limits = read("/proc/self/limits")?;
    let max_fds: u64 = number(
        limits
            .lines()
            .find_map(|l| l.strip_prefix("Max open files"))
            .and_then(|v| v.split_whitespace().next()),
        "Max open files",
    )?;
    let boot: f64 = number(
        read("/proc/stat")?
            .lines()
            .find_map(|l| l.strip_prefix("btime"))
            .map(str::trim),
        "btime",
    )?;
    let open_fds = std::fs::read_dir("/proc/self/fd")
        .map_err(|e| format!("cannot list `/proc/self/fd`: {e}"))?
        .count() as u64;
    Ok(Sample {
        cpu_seconds: (utime + stime) / TICKS_PER_SECOND,
        resident_bytes: rss_kib * 1024,
        virtual_bytes,
        open_fds,
        max_fds,
        start_time_seconds: boot + start_ticks / TICKS_PER_SECOND,
    })
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_process_reads_its_own_figures() {
        let s = super::sample();
        assert!(s.is_ok(), "{:?}", s.err());
        if let Ok(s) = s {
            assert!(s.resident_bytes > 0 && s.open_fds > 0 && s.max_fds >= s.open_fds);
            assert!(s.start_time_seconds > 1.0e9);
        }
    }
}
