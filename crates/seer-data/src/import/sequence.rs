//! Sequence files without timestamps, and the Amazon Beauty side files.
//!
//! Two shapes are read by the same parser, since both mean "append these items to this user's
//! sequence, in order":
//! - one user per line, `user item item …` (S3-Rec / SASRec `Beauty.txt`);
//! - one pair per line, `user item` (BERT4Rec `beauty.txt`), lines of a user in time order.
//!
//! Fields are separated by spaces or tabs. There are no timestamps: ts is each event's
//! position in its user's sequence and `has_timestamps = false`; ratings are 1.0.
//!
//! Amazon Beauty side files, joined when present (see [`import_amazon_beauty`]):
//! - `Beauty_item2attributes.json` + `Beauty_attribute_names.json` → item field `categories`:
//!   the item's attribute names joined with `" | "`. Brand and category names are mixed in
//!   these attributes and are kept as one field;
//! - p5-datamaps `datamaps_with_attributes.json` or `datamaps_rdrec.json` (`id2item`) → item
//!   field `asin`, the original Amazon product id;
//! - IDGenRec `item_generative_indexing_phase_0.txt` (`ASIN textual id`) → item field
//!   `title`. **This is not the product title**: IDGenRec (Tan et al., SIGIR 2024) generated
//!   these short, lower-cased word strings from the item text with a model. They are the
//!   closest thing to titles available for this data set.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use indicatif::ProgressBar;
use serde::Deserialize;

use super::builder::{check_nonempty, file_in, parse_id, read, show, At, Builder, Lines, Progress};
use crate::clean::{CleaningConfig, CleaningReport, BAD_ROW};
use crate::dataset::Dataset;
use crate::error::{Error, Result};

/// Imports a sequence file (`user item item …` per line, or `user item` per line). For a
/// file named `Beauty.txt`, the Amazon Beauty side files next to it (and in the sibling
/// `p5-datamaps/` and `idgenrec/` folders) are joined.
pub fn import_sequence(
    path: &Path,
    cfg: &CleaningConfig,
    pb: &ProgressBar,
) -> Result<(Dataset, CleaningReport)> {
    let _span = tracing::info_span!("import_sequence", path = %path.display()).entered();
    let name = path
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();
    let mut b = parse_sequence(&name, path, &read(path)?, cfg, pb)?;
    if path.file_name().is_some_and(|n| n == "Beauty.txt") {
        let dir = path.parent().unwrap_or(Path::new("."));
        let root = if dir.file_name().is_some_and(|n| n == "s3rec") {
            dir.parent().unwrap_or(dir).to_path_buf()
        } else {
            dir.to_path_buf()
        };
        attach_beauty_side_files(&mut b, dir, &root)?;
    }
    Ok(b.finish())
}

/// Imports the amazon-beauty folder layout: `s3rec/Beauty.txt` with
/// `s3rec/Beauty_item2attributes.json`, `s3rec/Beauty_attribute_names.json`,
/// `p5-datamaps/datamaps_with_attributes.json` (or `datamaps_rdrec.json`) and
/// `idgenrec/item_generative_indexing_phase_0.txt`, each joined when present.
pub fn import_amazon_beauty(
    dir: &Path,
    cfg: &CleaningConfig,
    pb: &ProgressBar,
) -> Result<(Dataset, CleaningReport)> {
    let Some(seq) = file_in(&dir.join("s3rec"), "Beauty.txt") else {
        return Err(Error::Unrecognised {
            path: dir.into(),
            looked_for: "s3rec/Beauty.txt".into(),
        });
    };
    let _span = tracing::info_span!("import_amazon_beauty", path = %dir.display()).entered();
    let mut b = parse_sequence("amazon-beauty", &seq, &read(&seq)?, cfg, pb)?;
    attach_beauty_side_files(&mut b, &dir.join("s3rec"), dir)?;
    Ok(b.finish())
}

/// Parses sequence lines into a builder.
pub(crate) fn parse_sequence(
    name: &str,
    path: &Path,
    buf: &[u8],
    cfg: &CleaningConfig,
    pb: &ProgressBar,
) -> Result<Builder> {
    check_nonempty(
        path,
        buf,
        "lines `user item item …` or `user item`, space-separated",
    )?;
    if let Some((line, text)) = Lines::new(buf).find(|(_, l)| !l.trim_ascii().is_empty()) {
        let has_ws = text.trim_ascii().iter().any(|c| *c == b' ' || *c == b'\t');
        if !has_ws {
            let seen = [
                (b',', "a comma"),
                (b';', "a semicolon"),
                (b':', "a colon"),
                (b'|', "a pipe"),
            ]
            .iter()
            .find(|(c, _)| text.contains(c))
            .map_or("it has a single field".to_owned(), |(_, n)| {
                format!("it looks separated by {n}")
            });
            return Err(Error::BadFile {
                path: path.into(),
                line,
                message: format!(
                    "expected fields separated by spaces (`user item item …`), but {seen}: {:?}",
                    show(text)
                ),
            });
        }
    }
    let mut b = Builder::new(name, cfg, false)?;
    let progress = Progress::start(pb, path, buf.len());
    let mut lines = Lines::new(buf);
    while let Some((line, text)) = lines.next() {
        progress.tick(line, lines.pos());
        let at = At { path, line };
        let mut tokens = text
            .split(|c| *c == b' ' || *c == b'\t')
            .filter(|t| !t.is_empty());
        let Some(user_tok) = tokens.next() else {
            continue;
        };
        let Some(user) = parse_id(user_tok) else {
            b.count_read();
            b.bad(BAD_ROW, at, "user", "a UTF-8 user id", user_tok)?;
            continue;
        };
        let mut any = false;
        for (k, tok) in tokens.enumerate() {
            any = true;
            match parse_id(tok) {
                Some(item) => {
                    b.push(at, user, item, None, 1.0)?;
                }
                None => {
                    b.count_read();
                    b.bad(
                        BAD_ROW,
                        at,
                        &format!("item {}", k + 1),
                        "a UTF-8 item id",
                        tok,
                    )?;
                }
            }
        }
        if !any {
            b.count_read();
            b.short_row(at, "a user followed by at least one item", text)?;
        }
    }
    progress.done(buf.len());
    Ok(b)
}

/// A JSON side file's content, parsed, with errors naming the file.
fn read_json<T: for<'de> Deserialize<'de>>(path: &Path) -> Result<T> {
    let buf = read(path)?;
    check_nonempty(path, &buf, "a JSON object")?;
    serde_json::from_slice(&buf).map_err(|e| Error::BadFile {
        path: path.into(),
        line: e.line() as u64,
        message: format!("not the expected JSON: {e}"),
    })
}

#[derive(Deserialize)]
struct DataMaps {
    id2item: HashMap<String, String>,
}

/// Joins the Beauty side files found in `s3rec_dir` and under `root`.
pub(crate) fn attach_beauty_side_files(
    b: &mut Builder,
    s3rec_dir: &Path,
    root: &Path,
) -> Result<()> {
    // Categories: item id -> attribute ids -> names.
    if let (Some(i2a), Some(names)) = (
        file_in(s3rec_dir, "Beauty_item2attributes.json"),
        file_in(s3rec_dir, "Beauty_attribute_names.json"),
    ) {
        let item2attr: HashMap<String, Vec<u64>> = read_json(&i2a)?;
        let attr_names: HashMap<String, String> = read_json(&names)?;
        let by_id: HashMap<u64, &str> = attr_names
            .iter()
            .filter_map(|(k, v)| k.trim().parse::<u64>().ok().map(|k| (k, v.as_str())))
            .collect();
        let col = b.item_column("categories");
        let at = At {
            path: &i2a,
            line: 1,
        };
        // Sorted so the report's examples do not depend on hash order.
        let mut entries: Vec<(&String, &Vec<u64>)> = item2attr.iter().collect();
        entries.sort_unstable();
        let mut joined = String::new();
        for (item_id, attrs) in entries {
            let Some(item) = b.items.get(item_id) else {
                b.unknown_side_id(at, "item", item_id);
                continue;
            };
            joined.clear();
            for a in attrs {
                match by_id.get(a) {
                    Some(name) => {
                        if !joined.is_empty() {
                            joined.push_str(" | ");
                        }
                        joined.push_str(name);
                    }
                    None => {
                        let at = At {
                            path: &names,
                            line: 1,
                        };
                        b.bad(
                            BAD_ROW,
                            at,
                            &format!("attribute {a}"),
                            "a named attribute id",
                            item_id.as_bytes(),
                        )?;
                    }
                }
            }
            b.set_item_text_idx(col, item, joined.clone());
        }
    }

    // ASINs.
    let maps_dir = root.join("p5-datamaps");
    let maps = file_in(&maps_dir, "datamaps_with_attributes.json")
        .or_else(|| file_in(&maps_dir, "datamaps_rdrec.json"));
    let mut asin_to_item: HashMap<String, u32> = HashMap::new();
    if let Some(maps) = maps {
        let dm: DataMaps = read_json(&maps)?;
        let col = b.item_column("asin");
        let at = At {
            path: &maps,
            line: 1,
        };
        let mut entries: Vec<(String, String)> = dm.id2item.into_iter().collect();
        entries.sort_unstable();
        for (id, asin) in entries {
            match b.items.get(&id) {
                Some(item) => {
                    asin_to_item.insert(asin.clone(), item);
                    b.set_item_text_idx(col, item, asin);
                }
                None => b.unknown_side_id(at, "id2item", &id),
            }
        }
    }

    // IDGenRec textual ids, keyed by ASIN.
    if let Some(p) = file_in(
        &root.join("idgenrec"),
        "item_generative_indexing_phase_0.txt",
    ) {
        if asin_to_item.is_empty() {
            b.note(format!(
                "{} skipped: it is keyed by ASIN and no p5-datamaps id2item map was found",
                p.display()
            ));
        } else {
            let buf = read(&p)?;
            check_nonempty(&p, &buf, "lines `ASIN textual id`")?;
            let col = b.item_column("title");
            for (line, text) in Lines::new(&buf) {
                if text.trim_ascii().is_empty() {
                    continue;
                }
                let at = At { path: &p, line };
                let Ok(text) = std::str::from_utf8(text) else {
                    b.bad(BAD_ROW, at, "line", "UTF-8 text", text)?;
                    continue;
                };
                // A line may hold only the ASIN (the model generated an empty id): empty title.
                let (asin, title) = text.trim().split_once(' ').unwrap_or((text.trim(), ""));
                match asin_to_item.get(asin) {
                    Some(&item) => b.set_item_text_idx(col, item, title.trim().to_owned()),
                    None => b.unknown_side_id(at, "ASIN", asin),
                }
            }
            b.note(
                "item field `title` holds IDGenRec's model-generated textual ids, not the \
                 original product titles"
                    .into(),
            );
        }
    }
    Ok(())
}

/// The amazon-beauty root for a path that is the root, its `s3rec/` folder or `Beauty.txt`.
pub(crate) fn beauty_root(path: &Path) -> Option<PathBuf> {
    if path.join("s3rec").join("Beauty.txt").is_file() {
        return Some(path.to_path_buf());
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn seq(buf: &[u8]) -> Result<Builder> {
        parse_sequence(
            "t",
            Path::new("Beauty.txt"),
            buf,
            &CleaningConfig::default(),
            &ProgressBar::hidden(),
        )
    }

    #[test]
    fn one_user_per_line_and_pairs_agree() {
        let (a, _) = seq(b"1 1 2 3\n2 4 2\n").unwrap().finish();
        let (b, rep) = seq(b"1 1\n1 2\n1 3\n2 4\n2 2\n").unwrap().finish();
        assert_eq!(a.interactions, b.interactions);
        assert_eq!(a.interactions.ts, vec![0, 1, 2, 0, 1]);
        assert!(!a.has_timestamps);
        assert!(rep.notes[0].contains("position"));
    }

    #[test]
    fn malformed() {
        let e = seq(b"1,2,3\n").err().unwrap();
        assert!(
            e.to_string().contains("separated by spaces") && e.to_string().contains("comma"),
            "{e}"
        );
        let (d, rep) = seq(b"1 1 2\n2\n3 \xff 4\n").unwrap().finish();
        assert_eq!(d.interactions.len(), 3);
        assert_eq!(rep.count(BAD_ROW), 2);
        assert!(seq(b"\n\n").is_err());
    }

    #[test]
    fn beauty_layout_with_side_files() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        for sub in ["s3rec", "p5-datamaps", "idgenrec"] {
            std::fs::create_dir(root.join(sub)).unwrap();
        }
        std::fs::write(root.join("s3rec/Beauty.txt"), "1 1 2\n2 2 1\n").unwrap();
        std::fs::write(
            root.join("s3rec/Beauty_item2attributes.json"),
            r#"{"1": [1, 2], "2": [2], "9": [1]}"#,
        )
        .unwrap();
        std::fs::write(
            root.join("s3rec/Beauty_attribute_names.json"),
            r#"{"1": "Makeup", "2": "Acme"}"#,
        )
        .unwrap();
        std::fs::write(
            root.join("p5-datamaps/datamaps_rdrec.json"),
            r#"{"id2user": {"1": "A1"}, "id2item": {"1": "B001", "2": "B002"}}"#,
        )
        .unwrap();
        std::fs::write(
            root.join("idgenrec/item_generative_indexing_phase_0.txt"),
            "B001 red lipstick\nB002 acme brush set\nB999 gone\n",
        )
        .unwrap();
        let (d, rep) =
            import_amazon_beauty(root, &CleaningConfig::default(), &ProgressBar::hidden()).unwrap();
        assert_eq!(d.item_field(0, "categories"), Some("Makeup | Acme"));
        assert_eq!(d.item_field(1, "asin"), Some("B002"));
        assert_eq!(d.item_field(0, "title"), Some("red lipstick"));
        assert_eq!(rep.count(crate::clean::UNKNOWN_SIDE_ID), 2);
        // Same result through the Beauty.txt path.
        let (d2, _) = import_sequence(
            &root.join("s3rec/Beauty.txt"),
            &CleaningConfig::default(),
            &ProgressBar::hidden(),
        )
        .unwrap();
        assert_eq!(d2.item_text, d.item_text);
        // Broken JSON is a BadFile naming the file.
        std::fs::write(
            root.join("s3rec/Beauty_item2attributes.json"),
            "{\"1\": [1,",
        )
        .unwrap();
        let e = import_amazon_beauty(root, &CleaningConfig::default(), &ProgressBar::hidden())
            .unwrap_err();
        assert!(e.to_string().contains("Beauty_item2attributes.json"), "{e}");
    }
}
