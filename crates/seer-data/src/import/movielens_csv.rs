//! MovieLens CSV files (ml-latest, ml-25m, ml-20m): comma-separated UTF-8 with a header.
//!
//! - `ratings.csv`: `userId,movieId,rating,timestamp` (unix seconds);
//! - `movies.csv`: `movieId,title,genres` → item fields `title` (year stripped), `year`,
//!   `genres` (joined with `" | "`);
//! - `tags.csv`: `userId,movieId,tag,timestamp` → item field `tags` (distinct tags of the
//!   item, in file order, joined with `" | "`).

use std::path::Path;

use indicatif::ProgressBar;

use super::builder::{
    check_nonempty, check_separator, file_in, parse_f32, parse_id, parse_ts, read, show, At,
    Builder, Progress,
};
use super::movielens_dat::{dataset_name, split_year};
use crate::clean::{CleaningConfig, CleaningReport, BAD_ROW};
use crate::dataset::Dataset;
use crate::error::{Error, Result};

/// Imports a MovieLens CSV folder: `ratings.csv` plus `movies.csv` and `tags.csv` when present.
pub fn import_movielens_csv(
    dir: &Path,
    cfg: &CleaningConfig,
    pb: &ProgressBar,
) -> Result<(Dataset, CleaningReport)> {
    let Some(ratings) = file_in(dir, "ratings.csv") else {
        return Err(Error::Unrecognised {
            path: dir.into(),
            looked_for: "ratings.csv".into(),
        });
    };
    let _span = tracing::info_span!("import_movielens_csv", path = %ratings.display()).entered();
    let mut b = parse_ratings_csv(&dataset_name(dir), &ratings, &read(&ratings)?, cfg, pb)?;
    if let Some(p) = file_in(dir, "movies.csv") {
        parse_movies_csv(&mut b, &p, &read(&p)?)?;
    }
    if let Some(p) = file_in(dir, "tags.csv") {
        parse_tags_csv(&mut b, &p, &read(&p)?)?;
    }
    Ok(b.finish())
}

/// A CSV reader over `buf` that tolerates ragged rows (we check lengths ourselves).
fn reader(buf: &[u8]) -> csv::Reader<&[u8]> {
    csv::ReaderBuilder::new()
        .flexible(true)
        .has_headers(true)
        .from_reader(buf)
}

/// Positions of `names` in the header; fails naming the missing column.
pub(crate) fn header_columns(
    path: &Path,
    headers: &csv::ByteRecord,
    names: &[&str],
) -> Result<Vec<usize>> {
    names
        .iter()
        .map(|name| {
            headers
                .iter()
                .position(|h| h.trim_ascii() == name.as_bytes())
                .ok_or_else(|| Error::BadFile {
                    path: path.into(),
                    line: 1,
                    message: format!(
                        "header has no column {name:?}; expected {}; found {:?}",
                        names.join(","),
                        headers.iter().map(show).collect::<Vec<_>>().join(",")
                    ),
                })
        })
        .collect()
}

fn csv_error(path: &Path, e: csv::Error) -> Error {
    let line = e.position().map(|p| p.line()).unwrap_or(0);
    Error::BadFile {
        path: path.into(),
        line,
        message: format!("unreadable CSV: {e}"),
    }
}

fn headers(path: &Path, rdr: &mut csv::Reader<&[u8]>) -> Result<csv::ByteRecord> {
    rdr.byte_headers().cloned().map_err(|e| csv_error(path, e))
}

/// Parses `ratings.csv`.
pub(crate) fn parse_ratings_csv(
    name: &str,
    path: &Path,
    buf: &[u8],
    cfg: &CleaningConfig,
    pb: &ProgressBar,
) -> Result<Builder> {
    check_nonempty(
        path,
        buf,
        "a header userId,movieId,rating,timestamp and rows",
    )?;
    check_separator(path, buf, b",")?;
    let mut rdr = reader(buf);
    let cols = header_columns(
        path,
        &headers(path, &mut rdr)?,
        &["userId", "movieId", "rating", "timestamp"],
    )?;
    let width = cols.iter().max().map_or(0, |m| m + 1);
    let mut b = Builder::new(name, cfg, true)?;
    let progress = Progress::start(pb, path, buf.len());
    let mut rec = csv::ByteRecord::new();
    loop {
        match rdr.read_byte_record(&mut rec) {
            Ok(true) => {}
            Ok(false) => break,
            Err(e) => return Err(csv_error(path, e)),
        }
        let line = rec.position().map_or(0, |p| p.line());
        progress.tick(line, rec.position().map_or(0, |p| p.byte() as usize));
        let at = At { path, line };
        if rec.len() < width {
            b.count_read();
            b.short_row(
                at,
                "4 fields userId,movieId,rating,timestamp",
                rec.as_slice(),
            )?;
            continue;
        }
        let f = |k: usize| rec.get(cols[k]).unwrap_or_default();
        let Some(user) = parse_id(f(0)) else {
            b.count_read();
            b.bad(BAD_ROW, at, "userId", "a user id", f(0))?;
            continue;
        };
        let Some(item) = parse_id(f(1)) else {
            b.count_read();
            b.bad(BAD_ROW, at, "movieId", "a movie id", f(1))?;
            continue;
        };
        let Some(rating) = parse_f32(f(2)) else {
            b.count_read();
            b.bad(BAD_ROW, at, "rating", "a number", f(2))?;
            continue;
        };
        let Some(ts) = parse_ts(f(3)) else {
            b.count_read();
            b.bad(BAD_ROW, at, "timestamp", "an integer unix timestamp", f(3))?;
            continue;
        };
        b.push(at, user, item, Some(ts), rating)?;
    }
    progress.done(buf.len());
    Ok(b)
}

/// Parses `movies.csv` into `title`, `year`, `genres`.
pub(crate) fn parse_movies_csv(b: &mut Builder, path: &Path, buf: &[u8]) -> Result<()> {
    check_nonempty(path, buf, "a header movieId,title,genres and rows")?;
    let mut rdr = reader(buf);
    let cols = header_columns(
        path,
        &headers(path, &mut rdr)?,
        &["movieId", "title", "genres"],
    )?;
    let (c_title, c_year, c_genres) = (
        b.item_column("title"),
        b.item_column("year"),
        b.item_column("genres"),
    );
    let mut rec = csv::ByteRecord::new();
    while rdr
        .read_byte_record(&mut rec)
        .map_err(|e| csv_error(path, e))?
    {
        let at = At {
            path,
            line: rec.position().map_or(0, |p| p.line()),
        };
        let f = |k: usize| rec.get(cols[k]).unwrap_or_default();
        let Some(id) = parse_id(f(0)) else {
            b.bad(BAD_ROW, at, "movieId", "a movie id", f(0))?;
            continue;
        };
        let Some(item) = b.items.get(id) else {
            b.unknown_side_id(at, "movieId", id);
            continue;
        };
        let (Ok(title), Ok(genres)) = (std::str::from_utf8(f(1)), std::str::from_utf8(f(2))) else {
            b.bad(BAD_ROW, at, "title", "UTF-8 text", rec.as_slice())?;
            continue;
        };
        let (t, y) = split_year(title);
        b.set_item_text_idx(c_title, item, t.to_owned());
        b.set_item_text_idx(c_year, item, y.to_owned());
        let genres = if genres == "(no genres listed)" {
            String::new()
        } else {
            genres
                .split('|')
                .filter(|g| !g.is_empty())
                .collect::<Vec<_>>()
                .join(" | ")
        };
        b.set_item_text_idx(c_genres, item, genres);
    }
    Ok(())
}

/// Parses `tags.csv` into the list field `tags`.
pub(crate) fn parse_tags_csv(b: &mut Builder, path: &Path, buf: &[u8]) -> Result<()> {
    check_nonempty(path, buf, "a header userId,movieId,tag,timestamp and rows")?;
    let mut rdr = reader(buf);
    let cols = header_columns(path, &headers(path, &mut rdr)?, &["movieId", "tag"])?;
    let c_tags = b.item_column("tags");
    let mut rec = csv::ByteRecord::new();
    while rdr
        .read_byte_record(&mut rec)
        .map_err(|e| csv_error(path, e))?
    {
        let at = At {
            path,
            line: rec.position().map_or(0, |p| p.line()),
        };
        let f = |k: usize| rec.get(cols[k]).unwrap_or_default();
        let Some(id) = parse_id(f(0)) else {
            b.bad(BAD_ROW, at, "movieId", "a movie id", f(0))?;
            continue;
        };
        let Some(item) = b.items.get(id) else {
            b.unknown_side_id(at, "movieId", id);
            continue;
        };
        match std::str::from_utf8(f(1)).map(str::trim) {
            Ok("") => {}
            Ok(tag) => b.append_item_text(c_tags, item, tag),
            Err(_) => b.bad(BAD_ROW, at, "tag", "UTF-8 text", f(1))?,
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clean::UNKNOWN_SIDE_ID;

    const RATINGS: &[u8] = b"userId,movieId,rating,timestamp\n1,1,4.0,964982703\n1,3,4.5,964981247\n6,1,2.5,964982224\n";

    fn ratings(buf: &[u8]) -> Result<Builder> {
        parse_ratings_csv(
            "t",
            Path::new("ratings.csv"),
            buf,
            &CleaningConfig::default(),
            &ProgressBar::hidden(),
        )
    }

    #[test]
    fn ratings_movies_tags() {
        let mut b = ratings(RATINGS).unwrap();
        parse_movies_csv(
            &mut b,
            Path::new("movies.csv"),
            b"movieId,title,genres\n1,\"American President, The (1995)\",Comedy|Drama|Romance\n3,Heat (1995),(no genres listed)\n7,Other (1990),War\n",
        )
        .unwrap();
        parse_tags_csv(
            &mut b,
            Path::new("tags.csv"),
            b"userId,movieId,tag,timestamp\n2,1,funny,1445714994\n3,1,funny,1445714996\n3,1,politics,1445714996\n3,99,x,1\n",
        )
        .unwrap();
        let (d, rep) = b.finish();
        assert_eq!((d.n_users(), d.n_items(), d.interactions.len()), (2, 2, 3));
        assert_eq!(d.interactions.rating, vec![4.0, 4.5, 2.5]);
        assert_eq!(d.item_field(0, "title"), Some("American President, The"));
        assert_eq!(d.item_field(0, "genres"), Some("Comedy | Drama | Romance"));
        assert_eq!(d.item_field(0, "tags"), Some("funny | politics"));
        assert_eq!(d.item_field(1, "genres"), None);
        assert_eq!(rep.count(UNKNOWN_SIDE_ID), 2);
    }

    #[test]
    fn malformed() {
        let (d, rep) =
            ratings(b"userId,movieId,rating,timestamp\n1,1,x,964982703\n1,2\n1,3,4,964982703\n")
                .unwrap()
                .finish();
        assert_eq!(d.interactions.len(), 1);
        assert_eq!(rep.count(BAD_ROW), 2);
        assert!(
            rep.examples[BAD_ROW][0].starts_with("ratings.csv:2:rating"),
            "{:?}",
            rep.examples
        );
        let e = ratings(b"userId\tmovieId\trating\ttimestamp\n1\t1\t4\t964982703\n")
            .err()
            .unwrap();
        assert!(
            e.to_string()
                .contains("expected fields separated by a comma, but it looks separated by a tab"),
            "{e}"
        );
        let e = ratings(b"user,item,rating,timestamp\n").err().unwrap();
        assert!(e.to_string().contains("no column \"userId\""), "{e}");
        assert!(ratings(b"").is_err());
    }
}
