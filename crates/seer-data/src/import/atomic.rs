//! RecBole atomic files: `NAME.inter`, `NAME.item`, `NAME.user`, tab-separated, with a
//! header naming each column `name:type` (`token`, `token_seq`, `float`, `float_seq`).
//!
//! - `.inter`: `user_id` and `item_id` (required), `rating` (default 1.0), `timestamp`
//!   (unix seconds; without it `has_timestamps = false` and ts is the sequence position). Other
//!   `token` columns become categorical context columns.
//! - `.item`: `item_id` plus text columns. `movie_title` → `title`, `class` → `genres` (its
//!   space-separated tokens joined with `" | "`), `release_year` → `year`; other columns are
//!   kept under their own names.
//! - `.user`: `user_id` plus attribute columns, kept under their own names.

use std::path::{Path, PathBuf};

use indicatif::ProgressBar;

use super::builder::{
    check_nonempty, check_separator, parse_f32, parse_id, parse_ts, read, show, split_on, At,
    Builder, Lines, Progress,
};
use crate::clean::{CleaningConfig, CleaningReport, BAD_ROW};
use crate::dataset::Dataset;
use crate::error::{Error, Result};

/// One column of an atomic header.
#[derive(Debug, Clone, PartialEq)]
struct Column {
    name: String,
    kind: String,
}

/// Imports `NAME.inter` (and `NAME.item` / `NAME.user` next to it). `path` is either the
/// `.inter` file or a folder holding exactly one `.inter` file.
pub fn import_atomic(
    path: &Path,
    cfg: &CleaningConfig,
    pb: &ProgressBar,
) -> Result<(Dataset, CleaningReport)> {
    let inter = if path.is_dir() {
        find_inter(path)?
    } else {
        path.to_path_buf()
    };
    let _span = tracing::info_span!("import_atomic", path = %inter.display()).entered();
    let name = inter
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();
    let mut b = parse_inter(&name, &inter, &read(&inter)?, cfg, pb)?;
    let item = inter.with_extension("item");
    if item.is_file() {
        parse_side(&mut b, &item, &read(&item)?, Side::Item)?;
    }
    let user = inter.with_extension("user");
    if user.is_file() {
        parse_side(&mut b, &user, &read(&user)?, Side::User)?;
    }
    Ok(b.finish())
}

/// The single `*.inter` file in `dir`.
pub(crate) fn find_inter(dir: &Path) -> Result<PathBuf> {
    let entries = std::fs::read_dir(dir).map_err(|source| Error::Io {
        path: dir.into(),
        source,
    })?;
    let mut found: Vec<PathBuf> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|e| e == "inter") && p.is_file())
        .collect();
    found.sort();
    // A folder written by `seer export` (or RecBole's benchmark layout) also holds
    // `NAME.train.inter`, `NAME.valid.inter`, `NAME.test.inter`: the dataset is `NAME.inter`.
    if found.len() > 1 {
        let stem = |p: &PathBuf| p.file_stem().map(|s| s.to_string_lossy().into_owned());
        let full: Vec<&PathBuf> = found
            .iter()
            .filter(|p| stem(p).is_some_and(|s| !s.contains('.')))
            .collect();
        if let [only] = full[..] {
            let base = stem(only).unwrap_or_default();
            if found
                .iter()
                .all(|p| stem(p).is_some_and(|s| s == base || s.starts_with(&format!("{base}."))))
            {
                return Ok(only.clone());
            }
        }
    }
    match found.len() {
        1 => Ok(found.remove(0)),
        0 => Err(Error::Unrecognised {
            path: dir.into(),
            looked_for: "a *.inter file".into(),
        }),
        _ => Err(Error::Unrecognised {
            path: dir.into(),
            looked_for: format!(
                "exactly one *.inter file, found {}; pass the file itself",
                found.len()
            ),
        }),
    }
}

/// RecBole's atomic field types.
const TYPES: [&str; 4] = ["token", "token_seq", "float", "float_seq"];

/// Parses the `name:type` header line: every field `name:type` with a known type, no name twice.
fn header(path: &Path, buf: &[u8]) -> Result<Vec<Column>> {
    let (_, line) = Lines::new(buf).next().unwrap_or((1, b""));
    let mut fields = Vec::new();
    split_on(line, b"\t", &mut fields);
    let bad = |message: String| Error::BadFile {
        path: path.into(),
        line: 1,
        message,
    };
    let mut cols: Vec<Column> = Vec::with_capacity(fields.len());
    for f in &fields {
        let text = std::str::from_utf8(f).ok().map(str::trim);
        let col = match text.and_then(|t| t.split_once(':')) {
            Some((name, kind)) if !name.is_empty() => Column {
                name: name.to_owned(),
                kind: kind.to_owned(),
            },
            _ => {
                return Err(bad(format!(
                    "header field {:?} is not `name:type` (RecBole atomic header, e.g. \
                     `user_id:token`)",
                    show(f)
                )))
            }
        };
        if !TYPES.contains(&col.kind.as_str()) {
            return Err(bad(format!(
                "header field `{}:{}`: unknown type `{}` (RecBole atomic types: {})",
                col.name,
                col.kind,
                col.kind,
                TYPES.join(", ")
            )));
        }
        if cols.iter().any(|c| c.name == col.name) {
            return Err(bad(format!(
                "header field `{}` appears twice (field {} and {})",
                col.name,
                cols.iter().position(|c| c.name == col.name).unwrap_or(0) + 1,
                cols.len() + 1
            )));
        }
        cols.push(col);
    }
    Ok(cols)
}

fn position(path: &Path, cols: &[Column], name: &str) -> Result<usize> {
    cols.iter()
        .position(|c| c.name == name)
        .ok_or_else(|| Error::BadFile {
            path: path.into(),
            line: 1,
            message: format!(
                "header has no column {name:?}; found {}",
                cols.iter()
                    .map(|c| format!("{}:{}", c.name, c.kind))
                    .collect::<Vec<_>>()
                    .join(" ")
            ),
        })
}

/// Parses an `.inter` file.
pub(crate) fn parse_inter(
    name: &str,
    path: &Path,
    buf: &[u8],
    cfg: &CleaningConfig,
    pb: &ProgressBar,
) -> Result<Builder> {
    check_nonempty(
        path,
        buf,
        "a header like `user_id:token\\titem_id:token\\t…` and rows",
    )?;
    check_separator(path, buf, b"\t")?;
    let cols = header(path, buf)?;
    let cu = position(path, &cols, "user_id")?;
    let ci = position(path, &cols, "item_id")?;
    let cr = cols.iter().position(|c| c.name == "rating");
    let ct = cols.iter().position(|c| c.name == "timestamp");
    let mut b = Builder::new(name, cfg, ct.is_some())?;
    let ctx: Vec<(usize, usize)> = cols
        .iter()
        .enumerate()
        .filter(|(k, c)| ![Some(cu), Some(ci), cr, ct].contains(&Some(*k)) && c.kind == "token")
        .map(|(k, c)| (k, b.context_column(&c.name)))
        .collect();
    let progress = Progress::start(pb, path, buf.len());
    let mut fields = Vec::with_capacity(cols.len());
    let mut lines = Lines::new(buf);
    lines.next(); // header
    while let Some((line, text)) = lines.next() {
        progress.tick(line, lines.pos());
        if text.trim_ascii().is_empty() {
            continue;
        }
        let at = At { path, line };
        split_on(text, b"\t", &mut fields);
        if fields.len() != cols.len() {
            b.count_read();
            let expected = format!("{} tab-separated fields", cols.len());
            b.short_row(at, &expected, text)?;
            continue;
        }
        let Some(user) = parse_id(fields[cu]) else {
            b.count_read();
            b.bad(BAD_ROW, at, "user_id", "a user id", fields[cu])?;
            continue;
        };
        let Some(item) = parse_id(fields[ci]) else {
            b.count_read();
            b.bad(BAD_ROW, at, "item_id", "an item id", fields[ci])?;
            continue;
        };
        let rating = match cr {
            None => 1.0,
            Some(k) => match parse_f32(fields[k]) {
                Some(r) => r,
                None => {
                    b.count_read();
                    b.bad(BAD_ROW, at, "rating", "a number", fields[k])?;
                    continue;
                }
            },
        };
        let ts = match ct {
            None => None,
            Some(k) => match parse_ts(fields[k]) {
                Some(t) => Some(t),
                None => {
                    b.count_read();
                    b.bad(
                        BAD_ROW,
                        at,
                        "timestamp",
                        "an integer unix timestamp",
                        fields[k],
                    )?;
                    continue;
                }
            },
        };
        if b.push(at, user, item, ts, rating)? {
            for &(k, col) in &ctx {
                let v = std::str::from_utf8(fields[k]).unwrap_or_default().trim();
                b.set_context(col, v);
            }
        }
    }
    progress.done(buf.len());
    Ok(b)
}

#[derive(Clone, Copy, PartialEq)]
pub(crate) enum Side {
    Item,
    User,
}

/// Parses an `.item` or `.user` file.
pub(crate) fn parse_side(b: &mut Builder, path: &Path, buf: &[u8], side: Side) -> Result<()> {
    let id_name = if side == Side::Item {
        "item_id"
    } else {
        "user_id"
    };
    check_nonempty(
        path,
        buf,
        &format!("a header like `{id_name}:token\\t…` and rows"),
    )?;
    check_separator(path, buf, b"\t")?;
    let cols = header(path, buf)?;
    let cid = position(path, &cols, id_name)?;
    let targets: Vec<(usize, usize, bool)> = cols
        .iter()
        .enumerate()
        .filter(|&(k, _)| k != cid)
        .map(|(k, c)| {
            let (name, list) = match (side, c.name.as_str()) {
                (Side::Item, "movie_title") => ("title", false),
                (Side::Item, "class") => ("genres", true),
                (Side::Item, "release_year") => ("year", false),
                (_, other) => (other, false),
            };
            let col = if side == Side::Item {
                b.item_column(name)
            } else {
                b.user_column(name)
            };
            (k, col, list)
        })
        .collect();
    let mut fields = Vec::with_capacity(cols.len());
    let mut lines = Lines::new(buf);
    lines.next();
    for (line, text) in lines {
        if text.trim_ascii().is_empty() {
            continue;
        }
        let at = At { path, line };
        split_on(text, b"\t", &mut fields);
        if fields.len() != cols.len() {
            let expected = format!("{} tab-separated fields", cols.len());
            b.short_row(at, &expected, text)?;
            continue;
        }
        let Some(id) = parse_id(fields[cid]) else {
            b.bad(BAD_ROW, at, id_name, "an id", fields[cid])?;
            continue;
        };
        let idx = if side == Side::Item {
            b.items.get(id)
        } else {
            b.users.get(id)
        };
        let Some(idx) = idx else {
            b.unknown_side_id(at, id_name, id);
            continue;
        };
        for &(k, col, list) in &targets {
            let Ok(v) = std::str::from_utf8(fields[k]) else {
                b.bad(BAD_ROW, at, &cols[k].name, "UTF-8 text", fields[k])?;
                continue;
            };
            let v = if list {
                v.split_whitespace().collect::<Vec<_>>().join(" | ")
            } else {
                v.trim().to_owned()
            };
            if side == Side::Item {
                b.set_item_text_idx(col, idx, v);
            } else {
                let at_id = id.to_owned();
                b.set_user_attr(at, col, &at_id, v);
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clean::UNKNOWN_SIDE_ID;

    const INTER: &[u8] = b"user_id:token\titem_id:token\trating:float\ttimestamp:float\n196\t242\t3\t881250949\n186\t302\t3\t891717742\n196\t302\t5\t881250950\n";

    fn inter(buf: &[u8]) -> Result<Builder> {
        parse_inter(
            "t",
            Path::new("t.inter"),
            buf,
            &CleaningConfig::default(),
            &ProgressBar::hidden(),
        )
    }

    #[test]
    fn inter_item_user() {
        let mut b = inter(INTER).unwrap();
        parse_side(
            &mut b,
            Path::new("t.item"),
            b"item_id:token\tmovie_title:token_seq\trelease_year:token\tclass:token_seq\n242\tKolya\t1996\tComedy\n302\tL.A. Confidential\t1997\tCrime Film-Noir Mystery Thriller\n999\tNope\t1990\tWar\n",
            Side::Item,
        )
        .unwrap();
        parse_side(
            &mut b,
            Path::new("t.user"),
            b"user_id:token\tage:token\tgender:token\toccupation:token\tzip_code:token\n196\t49\tM\twriter\t55105\n",
            Side::User,
        )
        .unwrap();
        let (d, rep) = b.finish();
        assert_eq!((d.n_users(), d.n_items(), d.interactions.len()), (2, 2, 3));
        assert!(d.has_timestamps);
        assert_eq!(d.item_field(1, "title"), Some("L.A. Confidential"));
        assert_eq!(
            d.item_field(1, "genres"),
            Some("Crime | Film-Noir | Mystery | Thriller")
        );
        assert_eq!(d.item_field(0, "year"), Some("1996"));
        let occ = d
            .user_attrs
            .iter()
            .find(|c| c.name == "occupation")
            .unwrap();
        assert_eq!(occ.values, vec!["writer".to_string(), String::new()]);
        assert_eq!(rep.count(UNKNOWN_SIDE_ID), 1);
    }

    #[test]
    fn context_columns_and_no_timestamp() {
        let (d, _) =
            inter(b"user_id:token\titem_id:token\tdevice:token\nu\ta\tphone\nu\tb\t\nv\ta\tweb\n")
                .unwrap()
                .finish();
        assert!(!d.has_timestamps);
        assert_eq!(d.interactions.ts, vec![0, 1, 0]);
        let c = &d.interactions.context[0];
        assert_eq!(c.name, "device");
        assert_eq!(c.codes, vec![0, u32::MAX, 1]);
    }

    /// Every atomic type in one file set: `float` and `float_seq` columns, empty `token_seq`
    /// fields, and text with quotes and commas (kept as written: atomic files are not CSV).
    #[test]
    fn every_atomic_type_parses() {
        let mut b = inter(
            b"user_id:token\titem_id:token\trating:float\ttimestamp:float\tscenario:token\tweights:float_seq\tlabels:token_seq\n\
              1\ta\t4.5\t881250949\thome\t0.1 0.2\tx y\n\
              1\tb\t3\t881250950\t\t\t\n",
        )
        .unwrap();
        parse_side(
            &mut b,
            Path::new("t.item"),
            b"item_id:token\tmovie_title:token_seq\tclass:token_seq\tprice:float\tvec:float_seq\n\
              a\t\"Quoted, with comma\" and 'single'\tComedy Drama\t9.5\t1 2 3\n\
              b\t\t\t\t\n",
            Side::Item,
        )
        .unwrap();
        let (d, rep) = b.finish();
        assert_eq!(d.interactions.len(), 2);
        assert_eq!(rep.count(BAD_ROW), 0);
        assert_eq!(d.interactions.rating, vec![4.5, 3.0]);
        // `token` context becomes a categorical column; the empty value is "missing".
        assert_eq!(d.interactions.context[0].name, "scenario");
        assert_eq!(d.interactions.context[0].codes, vec![0, u32::MAX]);
        assert_eq!(
            d.item_field(0, "title"),
            Some("\"Quoted, with comma\" and 'single'")
        );
        assert_eq!(d.item_field(0, "genres"), Some("Comedy | Drama"));
        assert_eq!(d.item_field(0, "price"), Some("9.5"));
        assert_eq!(d.item_field(0, "vec"), Some("1 2 3"));
        // Empty token_seq / float fields are empty text, not errors.
        assert_eq!(d.item_field(1, "genres").unwrap_or(""), "");
        assert_eq!(d.item_field(1, "title").unwrap_or(""), "");
    }

    #[test]
    fn malformed_headers_name_file_line_and_field() {
        let cases: [(&[u8], &str); 4] = [
            (
                b"user_id:token\titem_id:int\n1\t2\n",
                "header field `item_id:int`: unknown type `int`",
            ),
            (
                b"user_id:token\titem_id\n1\t2\n",
                "header field \"item_id\" is not `name:type`",
            ),
            (
                b"user_id:token\titem_id:token\tuser_id:float\n1\t2\t3\n",
                "header field `user_id` appears twice (field 1 and 3)",
            ),
            (
                b"user_id:token\trating:float\n1\t2\n",
                "header has no column \"item_id\"",
            ),
        ];
        for (buf, want) in cases {
            let e = inter(buf).err().unwrap().to_string();
            assert!(e.starts_with("t.inter:1"), "{e}");
            assert!(e.contains(want), "{e}");
        }
        let mut b = inter(INTER).unwrap();
        let e = parse_side(
            &mut b,
            Path::new("t.item"),
            b"item_id:token\ttitle:text\n242\tx\n",
            Side::Item,
        )
        .err()
        .unwrap()
        .to_string();
        assert!(
            e.starts_with("t.item:1") && e.contains("`title:text`: unknown type"),
            "{e}"
        );
    }

    #[test]
    fn malformed() {
        let e = inter(b"user_id,item_id\n1,2\n").err().unwrap();
        assert!(
            e.to_string()
                .contains("separated by a tab, but it looks separated by a comma"),
            "{e}"
        );
        let e = inter(b"user\titem\n1\t2\n").err().unwrap();
        assert!(e.to_string().contains("not `name:type`"), "{e}");
        let (d, rep) =
            inter(b"user_id:token\titem_id:token\trating:float\n1\t2\tx\n1\t2\n1\t3\t4\n")
                .unwrap()
                .finish();
        assert_eq!(d.interactions.len(), 1);
        assert_eq!(rep.count(BAD_ROW), 2);
    }
}
