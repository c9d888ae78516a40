//! Peak resident memory of this process, so `seer bench` can report memory per model.
//!
//! Linux only: reads `VmHWM` ("high water mark") from `/proc/self/status` and resets it by
//! writing `5` to `/proc/self/clear_refs` (supported since Linux 4.0). Elsewhere both functions
//! do nothing and [`peak_rss_bytes`] returns `None`.

use std::fs;

/// Peak resident set size of this process in bytes since start or since the last
/// [`reset_peak_rss`], or `None` when the platform does not expose it.
pub fn peak_rss_bytes() -> Option<u64> {
    let status = fs::read_to_string("/proc/self/status").ok()?;
    parse_vm_hwm(&status)
}

/// Resets the peak RSS counter to the current RSS, so the next [`peak_rss_bytes`] measures
/// only what happens from now on. Failure (non-Linux, old kernel, sandbox) is ignored: the
/// peak then simply covers the whole process lifetime.
pub fn reset_peak_rss() {
    // "5" = reset the peak RSS (see proc(5), /proc/pid/clear_refs).
    let _ = fs::write("/proc/self/clear_refs", "5");
}

/// Parses the `VmHWM:  1234 kB` line of `/proc/self/status`.
fn parse_vm_hwm(status: &str) -> Option<u64> {
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let mut parts = line["VmHWM:".len()..].split_whitespace();
    let value: u64 = parts.next()?.parse().ok()?;
    let scale = match parts.next() {
        Some("kB") | None => 1024,
        Some("mB") | Some("MB") => 1024 * 1024,
        Some(_) => return None,
    };
    Some(value * scale)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_status_line() {
        let s = "Name:\tseer\nVmPeak:\t  2000 kB\nVmHWM:\t    1500 kB\nVmRSS:\t 1000 kB\n";
        assert_eq!(parse_vm_hwm(s), Some(1500 * 1024));
        assert_eq!(parse_vm_hwm("Name: x\n"), None);
    }

    #[test]
    #[cfg(target_os = "linux")]
    fn peak_grows_with_allocation() {
        reset_peak_rss();
        let before = peak_rss_bytes().expect("linux exposes VmHWM");
        // Touch 64 MiB so the pages are really resident.
        let v = vec![1u8; 64 << 20];
        std::hint::black_box(&v);
        let after = peak_rss_bytes().expect("linux exposes VmHWM");
        assert!(
            after >= before + (32 << 20),
            "before {before}, after {after}"
        );
        drop(v);
    }
}
