//! Times importing, saving and loading the real data sets from `../shared/data`.
//!
//! `cargo run --release -p seer-data --example import_timing [PATH…]`

use std::path::PathBuf;
use std::time::Instant;

use indicatif::ProgressBar;
use seer_data::{import_path, CleaningConfig, Dataset};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let root = PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../../../shared/data"));
    let mut paths: Vec<PathBuf> = std::env::args_os().skip(1).map(PathBuf::from).collect();
    if paths.is_empty() {
        paths = ["amazon-beauty", "ml-100k", "ml-1m"]
            .iter()
            .map(|p| root.join(p))
            .collect();
    }
    let tmp = std::env::temp_dir().join(format!("seer-import-timing-{}", std::process::id()));
    for path in paths.iter().filter(|p| p.exists()) {
        let t = Instant::now();
        let (d, report) = import_path(path, &CleaningConfig::default(), &ProgressBar::hidden())?;
        let import = t.elapsed();
        let t = Instant::now();
        d.save(&tmp, Some(&report))?;
        let save = t.elapsed();
        let t = Instant::now();
        let back = Dataset::load(&tmp)?;
        let load = t.elapsed();
        assert_eq!(back.interactions.len(), d.interactions.len());
        println!(
            "{:<16} users {:>6} items {:>6} rows {:>8}  import {:>7.1} ms  save {:>6.1} ms  load {:>6.1} ms",
            d.name,
            d.n_users(),
            d.n_items(),
            d.interactions.len(),
            import.as_secs_f64() * 1e3,
            save.as_secs_f64() * 1e3,
            load.as_secs_f64() * 1e3
        );
    }
    let _ = std::fs::remove_dir_all(&tmp);
    Ok(())
}
