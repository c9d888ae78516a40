//! Imports the real data sets from `../shared/data` when they exist and checks the published
//! counts. Skips (with a message) when the folder is absent, e.g. on CI: the data's licences
//! forbid copying it into the repository.

use std::path::PathBuf;

use indicatif::ProgressBar;
use seer_data::{import_path, CleaningConfig, Dataset};

fn shared(rel: &str) -> Option<PathBuf> {
    let p = PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../../../shared/data")).join(rel);
    if p.exists() {
        Some(p)
    } else {
        println!("skipping: {} not found", p.display());
        None
    }
}

fn check(d: &Dataset, users: usize, items: usize, rows: usize) {
    assert_eq!(
        (d.n_users(), d.n_items(), d.interactions.len()),
        (users, items, rows),
        "{}",
        d.name
    );
}

#[test]
fn amazon_beauty_published_counts() {
    let Some(dir) = shared("amazon-beauty") else {
        return;
    };
    let (d, report) =
        import_path(&dir, &CleaningConfig::default(), &ProgressBar::hidden()).unwrap();
    check(&d, 22_363, 12_101, 198_502);
    assert!(!d.has_timestamps);
    assert_eq!(report.rows_read, 198_502);
    assert!(report.dropped.is_empty(), "{report}");
    // Side files: every item has categories, an ASIN and a textual id.
    let empty = |field: &str| {
        let col = d.item_text.iter().find(|c| c.name == field).unwrap();
        col.values.iter().filter(|v| v.is_empty()).count()
    };
    assert_eq!(empty("categories"), 0);
    assert_eq!(empty("asin"), 0);
    // One IDGenRec line (B001LTVF7G) holds an ASIN with an empty textual id.
    assert_eq!(empty("title"), 1);
    let first = d.items.get("1").unwrap();
    assert_eq!(d.item_field(first, "asin"), Some("B004756YJA"));
    // Round trip through the dataset directory.
    let tmp = tempfile::tempdir().unwrap();
    d.save(&tmp.path().join("beauty"), Some(&report)).unwrap();
    assert_eq!(Dataset::load(&tmp.path().join("beauty")).unwrap(), d);
}

#[test]
fn ml_100k_published_counts() {
    let Some(dir) = shared("ml-100k") else { return };
    let (d, report) =
        import_path(&dir, &CleaningConfig::default(), &ProgressBar::hidden()).unwrap();
    check(&d, 943, 1_682, 100_000);
    assert!(d.has_timestamps);
    assert!(report.dropped.is_empty(), "{report}");
    assert_eq!(
        d.item_field(d.items.get("1").unwrap(), "title"),
        Some("Toy Story")
    );
    assert_eq!(
        d.item_field(d.items.get("1").unwrap(), "genres"),
        Some("Animation | Children's | Comedy")
    );
    assert_eq!(d.user_attrs.len(), 4);
}

#[test]
fn ml_1m_implicit_pairs_counts() {
    let Some(dir) = shared("ml-1m") else { return };
    let (d, report) =
        import_path(&dir, &CleaningConfig::default(), &ProgressBar::hidden()).unwrap();
    check(&d, 6_040, 3_706, 1_000_209);
    assert!(!d.has_timestamps);
    // Movies never rated are side rows for unknown ids.
    assert_eq!(
        report.count(seer_data::clean::UNKNOWN_SIDE_ID),
        3_883 - 3_706
    );
    let toy = d.items.get("1").unwrap();
    assert_eq!(d.item_field(toy, "title"), Some("Toy Story"));
    assert_eq!(d.item_field(toy, "year"), Some("1995"));
}
