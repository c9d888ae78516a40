//! Importers: one file per source format, each producing a [`Dataset`] and a
//! [`CleaningReport`].
//!
//! | format | function | detected by [`import_path`] from |
//! |---|---|---|
//! | RecBole atomic (`.inter` / `.item` / `.user`) | [`import_atomic`] | a `.inter` file, or a folder with one |
//! | MovieLens `.dat` (ml-1m) | [`import_movielens_dat`] | `ratings.dat` or `implicit-pairs/ratings_pairs.dat` |
//! | MovieLens CSV (ml-latest, ml-25m) | [`import_movielens_csv`] | `ratings.csv` with a `movieId` column |
//! | Amazon Beauty (S3-Rec layout + side files) | [`import_amazon_beauty`] | `s3rec/Beauty.txt` |
//! | sequences `user item item …` / `user item` | [`import_sequence`] | a `.txt` file |
//! | generic CSV/TSV/JSONL + [`ColumnMapping`] | [`import_generic`] | `.csv`/`.tsv`/`.jsonl` with `user_id`, `item_id` |
//!
//! Every importer reads whole files into memory and parses from the byte buffer, reusing
//! field buffers, so the only per-row allocations are new ids entering the [`seer_core::IdMap`]s.
//! Bad rows are skipped into the report (or fatal with [`CleaningConfig::strict`]); no input
//! makes an importer panic (a property test feeds arbitrary bytes to every parser).

mod atomic;
mod builder;
mod generic;
mod movielens_csv;
mod movielens_dat;
mod sequence;

use std::path::Path;

use indicatif::ProgressBar;

pub use atomic::import_atomic;
pub use generic::{import_generic, parse_time, ColumnMapping, SideFile, TimestampFormat};
pub use movielens_csv::import_movielens_csv;
pub use movielens_dat::{import_movielens_dat, import_movielens_dat_files};
pub use sequence::{import_amazon_beauty, import_sequence};

use crate::clean::{CleaningConfig, CleaningReport};
use crate::dataset::Dataset;
use crate::error::{Error, Result};

/// What [`import_path`] looks for, in order, for the "nothing recognised" error.
const LOOKED_FOR: &str = "a folder with a *.inter file (RecBole atomic), ratings.dat or \
    implicit-pairs/ratings_pairs.dat (MovieLens .dat), ratings.csv (MovieLens CSV), \
    s3rec/Beauty.txt or Beauty.txt (Amazon Beauty); or a file *.inter, *.dat with `::`, \
    ratings.csv, *.txt (`user item item …` sequences), *.csv/*.tsv/*.jsonl with columns \
    user_id and item_id (otherwise use import_generic with a ColumnMapping)";

/// Detects the format of `path` (a folder or a file) and imports it.
///
/// Folders: a `*.inter` file → [`import_atomic`]; `ratings.dat` or
/// `implicit-pairs/ratings_pairs.dat` → [`import_movielens_dat`]; `ratings.csv` →
/// [`import_movielens_csv`]; `s3rec/Beauty.txt` → [`import_amazon_beauty`]; `Beauty.txt` →
/// [`import_sequence`] with side files. Files: by extension (`.inter`, `.dat`, `.txt`,
/// `.csv`/`.tsv`/`.jsonl` with the default [`ColumnMapping`]).
pub fn import_path(
    path: &Path,
    cfg: &CleaningConfig,
    pb: &ProgressBar,
) -> Result<(Dataset, CleaningReport)> {
    if path.is_dir() {
        let has = |p: &str| path.join(p).is_file();
        if atomic::find_inter(path).is_ok() {
            return import_atomic(path, cfg, pb);
        }
        if has("ratings.dat") || has("implicit-pairs/ratings_pairs.dat") || has("ratings_pairs.dat")
        {
            return import_movielens_dat(path, cfg, pb);
        }
        if has("ratings.csv") {
            return import_movielens_csv(path, cfg, pb);
        }
        if sequence::beauty_root(path).is_some() {
            return import_amazon_beauty(path, cfg, pb);
        }
        if has("Beauty.txt") {
            return import_sequence(&path.join("Beauty.txt"), cfg, pb);
        }
        return Err(Error::Unrecognised {
            path: path.into(),
            looked_for: LOOKED_FOR.into(),
        });
    }
    if !path.exists() {
        return Err(Error::Io {
            path: path.into(),
            source: std::io::Error::new(std::io::ErrorKind::NotFound, "no such file or folder"),
        });
    }
    let ext = path
        .extension()
        .and_then(|e| e.to_str())
        .unwrap_or_default()
        .to_ascii_lowercase();
    let file = path
        .file_name()
        .and_then(|n| n.to_str())
        .unwrap_or_default();
    match ext.as_str() {
        "inter" => import_atomic(path, cfg, pb),
        "dat" => {
            let dir = path.parent().unwrap_or(Path::new("."));
            let side_dir = if dir.file_name().is_some_and(|n| n == "implicit-pairs") {
                dir.parent().unwrap_or(dir)
            } else {
                dir
            };
            let side = |n: &str| builder::file_in(side_dir, n);
            import_movielens_dat_files(
                &movielens_dat::dataset_name(dir),
                path,
                side("movies.dat").as_deref(),
                side("users.dat").as_deref(),
                cfg,
                pb,
            )
        }
        "csv" if file == "ratings.csv" => {
            import_movielens_csv(path.parent().unwrap_or(Path::new(".")), cfg, pb)
        }
        "txt" => import_sequence(path, cfg, pb),
        "csv" | "tsv" | "jsonl" | "ndjson" => {
            import_generic(path, &ColumnMapping::default(), None, None, cfg, pb)
        }
        _ => Err(Error::Unrecognised {
            path: path.into(),
            looked_for: LOOKED_FOR.into(),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn hidden() -> ProgressBar {
        ProgressBar::hidden()
    }

    #[test]
    fn detects_formats_by_folder_and_file() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        let ml = d.join("ml");
        std::fs::create_dir(&ml).unwrap();
        std::fs::write(ml.join("ratings.dat"), "1::10::5::978300760\n").unwrap();
        let (ds, _) = import_path(&ml, &CleaningConfig::default(), &hidden()).unwrap();
        assert_eq!(ds.name, "ml");
        assert!(ds.has_timestamps);

        let atomic = d.join("atomic");
        std::fs::create_dir(&atomic).unwrap();
        std::fs::write(
            atomic.join("x.inter"),
            "user_id:token\titem_id:token\n1\t2\n",
        )
        .unwrap();
        let (ds, _) = import_path(&atomic, &CleaningConfig::default(), &hidden()).unwrap();
        assert_eq!(ds.name, "x");

        let csvdir = d.join("mlcsv");
        std::fs::create_dir(&csvdir).unwrap();
        std::fs::write(
            csvdir.join("ratings.csv"),
            "userId,movieId,rating,timestamp\n1,2,3,964982703\n",
        )
        .unwrap();
        assert_eq!(
            import_path(&csvdir, &CleaningConfig::default(), &hidden())
                .unwrap()
                .0
                .interactions
                .len(),
            1
        );
        assert_eq!(
            import_path(
                &csvdir.join("ratings.csv"),
                &CleaningConfig::default(),
                &hidden()
            )
            .unwrap()
            .0
            .interactions
            .len(),
            1
        );

        std::fs::write(d.join("seq.txt"), "1 2 3\n").unwrap();
        assert_eq!(
            import_path(&d.join("seq.txt"), &CleaningConfig::default(), &hidden())
                .unwrap()
                .0
                .interactions
                .len(),
            2
        );

        std::fs::write(d.join("e.jsonl"), "{\"user_id\":\"a\",\"item_id\":\"b\"}\n").unwrap();
        assert_eq!(
            import_path(&d.join("e.jsonl"), &CleaningConfig::default(), &hidden())
                .unwrap()
                .0
                .n_items(),
            1
        );

        let empty = d.join("empty");
        std::fs::create_dir(&empty).unwrap();
        let e = import_path(&empty, &CleaningConfig::default(), &hidden())
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("no dataset format recognised") && e.contains("ratings.dat"),
            "{e}"
        );
        assert!(import_path(&d.join("missing"), &CleaningConfig::default(), &hidden()).is_err());
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 200, ..ProptestConfig::default() })]

        /// No parser panics on arbitrary bytes; Ok and Err are both fine.
        #[test]
        fn parsers_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..400), strict in any::<bool>()) {
            let cfg = CleaningConfig { strict, k_core_users: 2, ..Default::default() };
            let pb = hidden();
            let p = Path::new("x");
            let _ = movielens_dat::parse_ratings_dat("t", p, &bytes, &cfg, &pb).map(builder::Builder::finish);
            let _ = movielens_csv::parse_ratings_csv("t", p, &bytes, &cfg, &pb).map(builder::Builder::finish);
            let _ = atomic::parse_inter("t", p, &bytes, &cfg, &pb).map(builder::Builder::finish);
            let _ = sequence::parse_sequence("t", p, &bytes, &cfg, &pb).map(builder::Builder::finish);
            for (path, fmt) in [("x.csv", TimestampFormat::Rfc3339), ("x.jsonl", TimestampFormat::UnixMillis)] {
                let m = ColumnMapping { timestamp: Some("ts".into()), timestamp_format: fmt, ..Default::default() };
                let _ = generic::parse_generic("t", Path::new(path), &bytes, &m, &cfg, &pb).map(builder::Builder::finish);
            }
            // Side-file parsers, on top of a small valid interaction set.
            if let Ok(mut b) = sequence::parse_sequence("t", p, b"1 1 2\n2 2\n", &cfg, &pb) {
                let _ = movielens_dat::parse_movies_dat(&mut b, p, &bytes);
                let _ = movielens_dat::parse_users_dat(&mut b, p, &bytes);
                let _ = movielens_csv::parse_movies_csv(&mut b, p, &bytes);
                let _ = movielens_csv::parse_tags_csv(&mut b, p, &bytes);
                let _ = atomic::parse_side(&mut b, p, &bytes, atomic::Side::Item);
                let _ = atomic::parse_side(&mut b, p, &bytes, atomic::Side::User);
                let _ = b.finish();
            }
        }

        /// Lines built from `::`-separated fields with random content never panic either
        /// (arbitrary bytes rarely get past the separator check).
        #[test]
        fn structured_garbage_never_panics(rows in proptest::collection::vec(proptest::collection::vec("[0-9a-z:. \\-]{0,6}", 0..6), 0..20)) {
            let text: String = rows.iter().map(|r| r.join("::") + "\n").collect();
            let cfg = CleaningConfig::default();
            let _ = movielens_dat::parse_ratings_dat("t", Path::new("r.dat"), text.as_bytes(), &cfg, &hidden()).map(builder::Builder::finish);
            let tsv = text.replace("::", "\t");
            let _ = atomic::parse_inter("t", Path::new("r.inter"), tsv.as_bytes(), &cfg, &hidden()).map(builder::Builder::finish);
            let _ = sequence::parse_sequence("t", Path::new("r.txt"), tsv.as_bytes(), &cfg, &hidden()).map(builder::Builder::finish);
        }
    }
}
