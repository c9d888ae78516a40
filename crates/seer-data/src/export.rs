//! Writing a dataset (and optionally its split) as RecBole atomic files, so RecBole — or any
//! tool that reads its format — trains and evaluates on exactly seer's data and split.
//!
//! Layout of `dir/NAME/`:
//! - `NAME.inter`: every event, `user_id:token  item_id:token  rating:float
//!   timestamp:float` plus one `name:token` column per context column, in dataset row order;
//! - `NAME.item` / `NAME.user` when the dataset has item text / user attributes. Fields seer
//!   renamed on import go back to RecBole's names (`title` → `movie_title`, `genres` → `class`,
//!   `year` → `release_year`); list fields (joined `" | "` inside seer) become space-separated
//!   `token_seq`; other fields are `token`, or `token_seq` when a value contains a space;
//! - with a split: `NAME.train.inter`, `NAME.valid.inter`, `NAME.test.inter`, each holding
//!   exactly the events of that part, every user's events in time order (ties in file order),
//!   which RecBole loads with `benchmark_filename: [train, valid, test]`.
//!
//! Tabs and newlines inside values are written as spaces (the format has no quoting).
//! Without real timestamps the `timestamp` column holds each event's position in its user's
//! sequence, which keeps the order.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use crate::dataset::{Dataset, TextColumn};
use crate::error::{Error, Result};
use crate::split::{Part, Split};

/// Writes `data` (and the parts of `split`, if given) into `dir/NAME/`; returns that folder.
pub fn write_recbole(data: &Dataset, split: Option<&Split>, dir: &Path) -> Result<PathBuf> {
    let name = if data.name.is_empty() {
        "dataset"
    } else {
        data.name.as_str()
    };
    let out = dir.join(name);
    std::fs::create_dir_all(&out).map_err(|source| Error::Io {
        path: out.clone(),
        source,
    })?;
    let all: Vec<usize> = (0..data.interactions.len()).collect();
    write_inter(data, &all, &out.join(format!("{name}.inter")))?;
    if let Some(split) = split {
        if split.part.len() != data.interactions.len() {
            return Err(Error::Config {
                key: "split".into(),
                message: format!(
                    "split has {} rows, dataset {} events",
                    split.part.len(),
                    data.interactions.len()
                ),
            });
        }
        for (part, suffix) in [
            (Part::Train, "train"),
            (Part::Valid, "valid"),
            (Part::Test, "test"),
        ] {
            // Per user, in time order: the order RecBole's sequential loaders expect.
            let mut rows = split.rows(&[part]);
            rows.sort_by_key(|&r| (data.interactions.user[r], data.interactions.ts[r], r));
            write_inter(data, &rows, &out.join(format!("{name}.{suffix}.inter")))?;
        }
    }
    if !data.item_text.is_empty() {
        write_side(
            &data.item_text,
            "item_id",
            data.items.ids(),
            &out.join(format!("{name}.item")),
        )?;
    }
    if !data.user_attrs.is_empty() {
        write_side(
            &data.user_attrs,
            "user_id",
            data.users.ids(),
            &out.join(format!("{name}.user")),
        )?;
    }
    Ok(out)
}

fn create(path: &Path) -> Result<BufWriter<File>> {
    File::create(path)
        .map(BufWriter::new)
        .map_err(|source| Error::Io {
            path: path.into(),
            source,
        })
}

fn io(path: &Path) -> impl Fn(std::io::Error) -> Error + '_ {
    move |source| Error::Io {
        path: path.into(),
        source,
    }
}

/// A value safe for a tab-separated line.
fn clean(v: &str) -> String {
    v.replace(['\t', '\n', '\r'], " ")
}

fn write_inter(data: &Dataset, rows: &[usize], path: &Path) -> Result<()> {
    let inter = &data.interactions;
    let mut w = create(path)?;
    let mut header = String::from("user_id:token\titem_id:token\trating:float\ttimestamp:float");
    for c in &inter.context {
        header.push_str(&format!("\t{}:token", clean(&c.name)));
    }
    writeln!(w, "{header}").map_err(io(path))?;
    for &r in rows {
        let user = data.users.id(inter.user[r]).unwrap_or_default();
        let item = data.items.id(inter.item[r]).unwrap_or_default();
        write!(
            w,
            "{}\t{}\t{}\t{}",
            clean(user),
            clean(item),
            inter.rating[r],
            inter.ts[r]
        )
        .map_err(io(path))?;
        for c in &inter.context {
            let v = c.values.id(c.codes[r]).unwrap_or_default();
            write!(w, "\t{}", clean(v)).map_err(io(path))?;
        }
        writeln!(w).map_err(io(path))?;
    }
    w.flush().map_err(io(path))
}

/// RecBole's name and type for a seer text column.
fn side_header(col: &TextColumn) -> String {
    let (name, list) = match col.name.as_str() {
        "title" => ("movie_title", false),
        "genres" => ("class", true),
        "year" => ("release_year", false),
        other => (other, col.values.iter().any(|v| v.contains(" | "))),
    };
    let seq = list || col.values.iter().any(|v| v.contains(' '));
    format!(
        "{}:{}",
        clean(name),
        if seq { "token_seq" } else { "token" }
    )
}

fn side_value(col: &TextColumn, v: &str) -> String {
    let list = col.name == "genres" || v.contains(" | ");
    if list {
        // token_seq is space-separated: one token per list element.
        v.split(" | ")
            .map(|t| clean(t).replace(' ', "_"))
            .collect::<Vec<_>>()
            .join(" ")
    } else {
        clean(v)
    }
}

fn write_side(cols: &[TextColumn], id: &str, ids: &[String], path: &Path) -> Result<()> {
    let mut w = create(path)?;
    let header: Vec<String> = std::iter::once(format!("{id}:token"))
        .chain(cols.iter().map(side_header))
        .collect();
    writeln!(w, "{}", header.join("\t")).map_err(io(path))?;
    for (i, entity) in ids.iter().enumerate() {
        write!(w, "{}", clean(entity)).map_err(io(path))?;
        for c in cols {
            let v = c.values.get(i).map(String::as_str).unwrap_or_default();
            write!(w, "\t{}", side_value(c, v)).map_err(io(path))?;
        }
        writeln!(w).map_err(io(path))?;
    }
    w.flush().map_err(io(path))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clean::CleaningConfig;
    use crate::import::import_atomic;
    use crate::split::SplitConfig;
    use indicatif::ProgressBar;

    fn import(path: &Path) -> Dataset {
        import_atomic(path, &CleaningConfig::default(), &ProgressBar::hidden())
            .unwrap()
            .0
    }

    /// Import → export with split → re-import gives the same data, and each split file holds
    /// exactly the events of its part.
    fn round_trip(src: &Path) {
        let data = import(src);
        let split = SplitConfig::LeaveOneOut { min_events: 3 }
            .split(&data)
            .unwrap();
        let tmp = tempfile::tempdir().unwrap();
        let out = write_recbole(&data, Some(&split), tmp.path()).unwrap();
        // The folder now holds four .inter files; import picks NAME.inter.
        let back = import(&out);
        assert_eq!(back.users, data.users);
        assert_eq!(back.items, data.items);
        assert_eq!(back.interactions, data.interactions);
        assert_eq!(back.has_timestamps, data.has_timestamps);
        assert_eq!(back.item_text, data.item_text);
        assert_eq!(back.user_attrs, data.user_attrs);
        for (part, suffix) in [
            (Part::Train, "train"),
            (Part::Valid, "valid"),
            (Part::Test, "test"),
        ] {
            let f = out.join(format!("{}.{suffix}.inter", data.name));
            let text = std::fs::read_to_string(&f).unwrap();
            let mut got: Vec<(String, String, String)> = text
                .lines()
                .skip(1)
                .map(|l| {
                    let v: Vec<&str> = l.split('\t').collect();
                    (v[0].to_owned(), v[1].to_owned(), v[3].to_owned())
                })
                .collect();
            let mut want: Vec<(String, String, String)> = split
                .rows(&[part])
                .into_iter()
                .map(|r| {
                    let i = &data.interactions;
                    (
                        data.users.id(i.user[r]).unwrap().to_owned(),
                        data.items.id(i.item[r]).unwrap().to_owned(),
                        i.ts[r].to_string(),
                    )
                })
                .collect();
            assert_eq!(got.len(), split.count(part));
            got.sort();
            want.sort();
            assert_eq!(got, want, "{suffix}");
        }
    }

    #[test]
    fn small_atomic_round_trip() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path().join("tiny");
        std::fs::create_dir(&d).unwrap();
        std::fs::write(
            d.join("tiny.inter"),
            "user_id:token\titem_id:token\trating:float\ttimestamp:float\tdevice:token\n\
             1\t10\t4\t100\tweb\n1\t11\t3\t101\tapp\n1\t12\t5\t102\tweb\n\
             2\t10\t2\t100\tapp\n2\t12\t1\t105\tweb\n2\t13\t4.5\t105\tweb\n",
        )
        .unwrap();
        std::fs::write(
            d.join("tiny.item"),
            "item_id:token\tmovie_title:token_seq\trelease_year:token\tclass:token_seq\n\
             10\tThe Film\t1999\tDrama Crime\n11\tOther\t2001\tComedy\n12\tThird One\t1990\t\n13\tX\t\tWar\n",
        )
        .unwrap();
        std::fs::write(
            d.join("tiny.user"),
            "user_id:token\tage:token\tzip_code:token\n1\t24\tT8H1N\n2\t53\t94043\n",
        )
        .unwrap();
        round_trip(&d);
    }

    /// The real MovieLens 100K atomic files (skipped when ../shared/data is absent).
    #[test]
    fn ml100k_round_trip() {
        let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/data/ml-100k");
        if !src.join("ml-100k.inter").exists() {
            eprintln!("skipping: {} not present", src.display());
            return;
        }
        round_trip(&src);
    }
}
