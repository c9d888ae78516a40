//! MovieLens `.dat` files (ml-1m, ml-10m): `::`-separated, no header, ISO-8859-1 text.
//!
//! - `ratings.dat`: `UserID::MovieID::Rating::Timestamp` (unix seconds);
//! - or, when it is missing, `implicit-pairs/ratings_pairs.dat`: `UserID::MovieID`, no rating
//!   and no time (rating 1.0, ts = position in the user's sequence, `has_timestamps = false`);
//! - `movies.dat`: `MovieID::Title (Year)::Genre|Genre` → item fields `title` (year stripped),
//!   `year`, `genres` (joined with `" | "`);
//! - `users.dat`: `UserID::Gender::Age::Occupation::Zip` → user fields `gender`, `age`,
//!   `occupation`, `zip`.
//!
//! Text is decoded as latin-1: movies.dat contains bytes like 0xE9 ("é") that are not UTF-8.

use std::path::Path;

use indicatif::ProgressBar;

use super::builder::{
    check_nonempty, check_separator, file_in, latin1, parse_f32, parse_id, parse_ts, read,
    split_on, At, Builder, Lines, Progress,
};
use crate::clean::{CleaningConfig, CleaningReport, BAD_ROW};
use crate::dataset::Dataset;
use crate::error::{Error, Result};

/// Imports a MovieLens `.dat` folder (`ratings.dat` or `implicit-pairs/ratings_pairs.dat`, plus
/// `movies.dat` and `users.dat` when present; for a `ratings_pairs.dat` inside
/// `implicit-pairs/`, the side files are looked up one folder up).
pub fn import_movielens_dat(
    dir: &Path,
    cfg: &CleaningConfig,
    pb: &ProgressBar,
) -> Result<(Dataset, CleaningReport)> {
    let (ratings, side_dir) = if let Some(p) = file_in(dir, "ratings.dat") {
        (p, dir.to_path_buf())
    } else if let Some(p) = file_in(&dir.join("implicit-pairs"), "ratings_pairs.dat") {
        (p, dir.to_path_buf())
    } else if let Some(p) = file_in(dir, "ratings_pairs.dat") {
        (p, dir.parent().unwrap_or(dir).to_path_buf())
    } else {
        return Err(Error::Unrecognised {
            path: dir.into(),
            looked_for: "ratings.dat or implicit-pairs/ratings_pairs.dat".into(),
        });
    };
    import_movielens_dat_files(
        &dataset_name(dir),
        &ratings,
        file_in(&side_dir, "movies.dat").as_deref(),
        file_in(&side_dir, "users.dat").as_deref(),
        cfg,
        pb,
    )
}

/// The folder name as dataset name (`ml-1m`), skipping `implicit-pairs`.
pub(crate) fn dataset_name(dir: &Path) -> String {
    let name = |p: &Path| p.file_name().map(|n| n.to_string_lossy().into_owned());
    match name(dir) {
        Some(n) if n == "implicit-pairs" => dir.parent().and_then(name).unwrap_or(n),
        Some(n) => n,
        None => "dataset".into(),
    }
}

/// Imports explicit files: a ratings file (4 fields, or 2 for pairs) and optional side files.
pub fn import_movielens_dat_files(
    name: &str,
    ratings: &Path,
    movies: Option<&Path>,
    users: Option<&Path>,
    cfg: &CleaningConfig,
    pb: &ProgressBar,
) -> Result<(Dataset, CleaningReport)> {
    let _span = tracing::info_span!("import_movielens_dat", path = %ratings.display()).entered();
    let buf = read(ratings)?;
    let mut b = parse_ratings_dat(name, ratings, &buf, cfg, pb)?;
    if let Some(p) = movies {
        parse_movies_dat(&mut b, p, &read(p)?)?;
    }
    if let Some(p) = users {
        parse_users_dat(&mut b, p, &read(p)?)?;
    }
    Ok(b.finish())
}

/// Parses `ratings.dat` (4 fields) or `ratings_pairs.dat` (2 fields), decided by the first line.
pub(crate) fn parse_ratings_dat(
    name: &str,
    path: &Path,
    buf: &[u8],
    cfg: &CleaningConfig,
    pb: &ProgressBar,
) -> Result<Builder> {
    check_nonempty(
        path,
        buf,
        "UserID::MovieID::Rating::Timestamp or UserID::MovieID lines",
    )?;
    check_separator(path, buf, b"::")?;
    let mut fields = Vec::with_capacity(4);
    let first = Lines::new(buf)
        .find(|(_, l)| !l.trim_ascii().is_empty())
        .map(|(_, l)| l);
    split_on(first.unwrap_or_default(), b"::", &mut fields);
    let pairs = fields.len() == 2;
    let expected = if pairs {
        "2 fields UserID::MovieID"
    } else {
        "4 fields UserID::MovieID::Rating::Timestamp"
    };
    let mut b = Builder::new(name, cfg, !pairs)?;
    if pairs {
        b.note(
            "MovieLens (user, movie) pairs keep ratings.dat's order, which within a user is not \
             chronological: split with a random holdout (`seer split --method random`), not \
             leave-one-out"
                .into(),
        );
    }
    let progress = Progress::start(pb, path, buf.len());
    let mut lines = Lines::new(buf);
    while let Some((line, text)) = lines.next() {
        progress.tick(line, lines.pos());
        if text.trim_ascii().is_empty() {
            continue;
        }
        let at = At { path, line };
        split_on(text, b"::", &mut fields);
        if fields.len() != if pairs { 2 } else { 4 } {
            b.count_read();
            b.short_row(at, expected, text)?;
            continue;
        }
        let Some(user) = parse_id(fields[0]) else {
            b.count_read();
            b.bad(BAD_ROW, at, "UserID", "a user id", fields[0])?;
            continue;
        };
        let Some(item) = parse_id(fields[1]) else {
            b.count_read();
            b.bad(BAD_ROW, at, "MovieID", "a movie id", fields[1])?;
            continue;
        };
        if pairs {
            b.push(at, user, item, None, 1.0)?;
            continue;
        }
        let Some(rating) = parse_f32(fields[2]) else {
            b.count_read();
            b.bad(BAD_ROW, at, "Rating", "a number", fields[2])?;
            continue;
        };
        let Some(ts) = parse_ts(fields[3]) else {
            b.count_read();
            b.bad(
                BAD_ROW,
                at,
                "Timestamp",
                "an integer unix timestamp",
                fields[3],
            )?;
            continue;
        };
        b.push(at, user, item, Some(ts), rating)?;
    }
    progress.done(buf.len());
    Ok(b)
}

/// Splits `"Toy Story (1995)"` into `("Toy Story", "1995")`; titles without a trailing
/// four-digit year are returned whole with an empty year.
pub(crate) fn split_year(title: &str) -> (&str, &str) {
    let t = title.trim_end();
    if let Some(open) = t.rfind(" (") {
        let inner = &t[open + 2..];
        if let Some(year) = inner.strip_suffix(')') {
            if year.len() == 4 && year.bytes().all(|c| c.is_ascii_digit()) {
                return (t[..open].trim_end(), year);
            }
        }
    }
    (t, "")
}

/// Parses `movies.dat` into item fields `title`, `year`, `genres`.
pub(crate) fn parse_movies_dat(b: &mut Builder, path: &Path, buf: &[u8]) -> Result<()> {
    check_nonempty(path, buf, "MovieID::Title (Year)::Genres lines")?;
    check_separator(path, buf, b"::")?;
    let (c_title, c_year, c_genres) = (
        b.item_column("title"),
        b.item_column("year"),
        b.item_column("genres"),
    );
    let mut fields = Vec::with_capacity(3);
    for (line, text) in Lines::new(buf) {
        if text.trim_ascii().is_empty() {
            continue;
        }
        let at = At { path, line };
        split_on(text, b"::", &mut fields);
        if fields.len() != 3 {
            b.short_row(at, "3 fields MovieID::Title (Year)::Genres", text)?;
            continue;
        }
        let Some(id) = parse_id(fields[0]) else {
            b.bad(BAD_ROW, at, "MovieID", "a movie id", fields[0])?;
            continue;
        };
        let Some(item) = b.items.get(id) else {
            b.unknown_side_id(at, "MovieID", id);
            continue;
        };
        let full = latin1(fields[1]);
        let (title, year) = split_year(&full);
        b.set_item_text_idx(c_title, item, title.to_owned());
        b.set_item_text_idx(c_year, item, year.to_owned());
        let genres = latin1(fields[2]);
        let genres: Vec<&str> = genres.split('|').filter(|g| !g.is_empty()).collect();
        b.set_item_text_idx(c_genres, item, genres.join(" | "));
    }
    Ok(())
}

/// Parses `users.dat` into user fields `gender`, `age`, `occupation`, `zip`.
pub(crate) fn parse_users_dat(b: &mut Builder, path: &Path, buf: &[u8]) -> Result<()> {
    check_nonempty(path, buf, "UserID::Gender::Age::Occupation::Zip-code lines")?;
    check_separator(path, buf, b"::")?;
    let names = ["gender", "age", "occupation", "zip"];
    let cols: Vec<usize> = names.iter().map(|n| b.user_column(n)).collect();
    let mut fields = Vec::with_capacity(5);
    for (line, text) in Lines::new(buf) {
        if text.trim_ascii().is_empty() {
            continue;
        }
        let at = At { path, line };
        split_on(text, b"::", &mut fields);
        if fields.len() != 5 {
            b.short_row(
                at,
                "5 fields UserID::Gender::Age::Occupation::Zip-code",
                text,
            )?;
            continue;
        }
        let Some(id) = parse_id(fields[0]) else {
            b.bad(BAD_ROW, at, "UserID", "a user id", fields[0])?;
            continue;
        };
        for (k, &col) in cols.iter().enumerate() {
            let value = latin1(fields[k + 1]);
            b.set_user_attr(at, col, id, value);
            if b.users.get(id).is_none() {
                break; // counted once per row
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clean::{TIMESTAMP_OUT_OF_RANGE, UNKNOWN_SIDE_ID};

    fn ratings(text: &[u8], cfg: &CleaningConfig) -> Result<Builder> {
        parse_ratings_dat(
            "t",
            Path::new("ratings.dat"),
            text,
            cfg,
            &ProgressBar::hidden(),
        )
    }

    const RATINGS: &[u8] = b"1::10::5::978300760\n1::20::3::978302109\n2::10::4::978301968\n";

    #[test]
    fn ratings_movies_users() {
        let mut b = ratings(RATINGS, &CleaningConfig::default()).unwrap();
        let movies = b"10::Caf\xe9 Society (1995)::Comedy|Drama\n20::Untitled::Horror\n99::Never Rated (2000)::War\n";
        parse_movies_dat(&mut b, Path::new("movies.dat"), movies).unwrap();
        parse_users_dat(
            &mut b,
            Path::new("users.dat"),
            b"1::F::1::10::48067\n3::M::25::15::55117\n",
        )
        .unwrap();
        let (d, rep) = b.finish();
        assert!(d.has_timestamps);
        assert_eq!((d.n_users(), d.n_items(), d.interactions.len()), (2, 2, 3));
        assert_eq!(d.interactions.rating, vec![5.0, 3.0, 4.0]);
        assert_eq!(d.item_field(0, "title"), Some("Café Society"));
        assert_eq!(d.item_field(0, "year"), Some("1995"));
        assert_eq!(d.item_field(0, "genres"), Some("Comedy | Drama"));
        assert_eq!(d.item_field(1, "title"), Some("Untitled"));
        assert_eq!(d.item_field(1, "year"), None);
        let zip = d.user_attrs.iter().find(|c| c.name == "zip").unwrap();
        assert_eq!(zip.values, vec!["48067".to_string(), String::new()]);
        assert_eq!(rep.count(UNKNOWN_SIDE_ID), 2); // movie 99 and user 3
    }

    #[test]
    fn implicit_pairs_use_positions() {
        let b = ratings(
            b"1::1193\n1::661\n2::914\n1::3408\n",
            &CleaningConfig::default(),
        )
        .unwrap();
        let (d, _) = b.finish();
        assert!(!d.has_timestamps);
        assert_eq!(d.interactions.ts, vec![0, 1, 0, 2]);
    }

    #[test]
    fn malformed_rows_are_reported_or_fatal() {
        let text = b"1::10::5::978300760\n1::20::five::978302109\n1::30::4\n2::10::4::12\n";
        let (d, rep) = ratings(text, &CleaningConfig::default()).unwrap().finish();
        assert_eq!(d.interactions.len(), 1);
        assert_eq!(rep.rows_read, 4);
        assert_eq!(rep.count(BAD_ROW), 2);
        assert_eq!(rep.count(TIMESTAMP_OUT_OF_RANGE), 1);
        assert!(rep.examples[BAD_ROW][0].starts_with("ratings.dat:2:Rating: expected a number"));
        let strict = CleaningConfig {
            strict: true,
            ..Default::default()
        };
        let e = ratings(text, &strict).err().unwrap();
        assert!(
            matches!(&e, Error::BadField { line: 2, field, .. } if field == "Rating"),
            "{e}"
        );
    }

    #[test]
    fn wrong_separator_and_empty() {
        let e = ratings(b"1,10,5,978300760\n", &CleaningConfig::default())
            .err()
            .unwrap();
        assert!(
            e.to_string()
                .contains("separated by `::`, but it looks separated by a comma"),
            "{e}"
        );
        let e = ratings(b"", &CleaningConfig::default()).err().unwrap();
        assert!(e.to_string().contains("file is empty"), "{e}");
    }

    #[test]
    fn non_utf8_id_is_a_bad_row() {
        let (d, rep) = ratings(
            b"\xff::10::5::978300760\n1::10::5::978300760\n",
            &CleaningConfig::default(),
        )
        .unwrap()
        .finish();
        assert_eq!(d.interactions.len(), 1);
        assert_eq!(rep.count(BAD_ROW), 1);
    }

    #[test]
    fn years() {
        assert_eq!(split_year("Matrix, The (1999)"), ("Matrix, The", "1999"));
        assert_eq!(split_year("Foo (Bar)"), ("Foo (Bar)", ""));
        assert_eq!(split_year("(1999)"), ("(1999)", ""));
    }
}
