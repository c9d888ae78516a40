//! Generic CSV / TSV / JSON Lines interactions with a [`ColumnMapping`] saying which column
//! is what, plus optional items and users files ([`SideFile`]).
//!
//! The format follows the file extension: `.jsonl` / `.ndjson` are JSON Lines (one object per
//! line; string or number values), anything else is delimited text with a header row
//! (`.tsv` → tab, otherwise comma unless [`ColumnMapping::delimiter`] says otherwise).

use std::path::{Path, PathBuf};

use indicatif::ProgressBar;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::builder::{
    check_nonempty, check_separator, parse_f32, read, show, At, Builder, Lines, Progress,
};
use crate::clean::{CleaningConfig, CleaningReport, BAD_ROW};
use crate::dataset::Dataset;
use crate::error::{Error, Result};

/// How timestamps are written in the timestamp column.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TimestampFormat {
    /// Integer unix seconds (the default).
    #[default]
    UnixSeconds,
    /// Integer unix milliseconds.
    UnixMillis,
    /// RFC 3339 / ISO 8601 date-time with offset: `2015-03-01T12:00:00Z`, `…+01:00`.
    Rfc3339,
}

/// Which columns of a generic interactions file hold what. In `seer.toml` under
/// `[import.columns]`; every key is optional.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ColumnMapping {
    /// User id column. Default `"user_id"`.
    pub user: String,
    /// Item id column. Default `"item_id"`.
    pub item: String,
    /// Timestamp column; without one `has_timestamps = false` and ts is the position in the
    /// user's sequence. Default none.
    pub timestamp: Option<String>,
    /// Rating / weight column; without one every rating is 1.0. Default none.
    pub rating: Option<String>,
    /// Columns kept as categorical context (device, event type, …). Default none.
    pub context: Vec<String>,
    /// Field separator of delimited files, one ASCII character (`","`, `"\t"`, `";"`; a number
    /// is read as the byte value). Default: tab for `.tsv`, comma otherwise.
    #[serde(serialize_with = "ser_delim", deserialize_with = "de_delim")]
    pub delimiter: Option<u8>,
    /// How timestamps are written. Default `unix_seconds`.
    pub timestamp_format: TimestampFormat,
}

impl Default for ColumnMapping {
    fn default() -> Self {
        ColumnMapping {
            user: "user_id".into(),
            item: "item_id".into(),
            timestamp: None,
            rating: None,
            context: Vec::new(),
            delimiter: None,
            timestamp_format: TimestampFormat::UnixSeconds,
        }
    }
}

fn ser_delim<S: Serializer>(d: &Option<u8>, s: S) -> std::result::Result<S::Ok, S::Error> {
    match d {
        Some(b) => s.serialize_some(&(*b as char).to_string()),
        None => s.serialize_none(),
    }
}

fn de_delim<'de, D: Deserializer<'de>>(d: D) -> std::result::Result<Option<u8>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Delim {
        Byte(u8),
        Text(String),
    }
    match Option::<Delim>::deserialize(d)? {
        None => Ok(None),
        Some(Delim::Byte(b)) => Ok(Some(b)),
        Some(Delim::Text(t)) => match t.as_bytes() {
            [b] if b.is_ascii() => Ok(Some(*b)),
            _ => Err(serde::de::Error::custom(format!(
                "delimiter {t:?} must be a single ASCII character"
            ))),
        },
    }
}

/// An items or users file: an id column plus text columns.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SideFile {
    /// The file (CSV/TSV/JSONL, detected like the interactions file).
    pub path: PathBuf,
    /// Id column. Default `"id"`.
    #[serde(default = "default_id")]
    pub id: String,
    /// Columns to keep as text fields; empty (the default) keeps every other column.
    #[serde(default)]
    pub columns: Vec<String>,
    /// Field separator, as in [`ColumnMapping::delimiter`].
    #[serde(default, serialize_with = "ser_delim", deserialize_with = "de_delim")]
    pub delimiter: Option<u8>,
}

fn default_id() -> String {
    "id".into()
}

/// Imports `path` with `mapping`, joining `items` / `users` side files when given.
pub fn import_generic(
    path: &Path,
    mapping: &ColumnMapping,
    items: Option<&SideFile>,
    users: Option<&SideFile>,
    cfg: &CleaningConfig,
    pb: &ProgressBar,
) -> Result<(Dataset, CleaningReport)> {
    let _span = tracing::info_span!("import_generic", path = %path.display()).entered();
    let name = path
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();
    let mut b = parse_generic(&name, path, &read(path)?, mapping, cfg, pb)?;
    for (side, is_item) in [(items, true), (users, false)] {
        if let Some(side) = side {
            parse_side(&mut b, &side.path, &read(&side.path)?, side, is_item)?;
        }
    }
    if let Some(side) = items {
        // Interactions are the source of truth: such items stay, but the user should know.
        if let (n @ 1.., Some(first)) = b.items_without_text() {
            b.note(format!(
                "{n} item(s) of the interactions have no text in {} (e.g. id {first:?}); \
                 they are kept without text",
                side.path.display()
            ));
        }
    }
    Ok(b.finish())
}

fn is_jsonl(path: &Path) -> bool {
    path.extension()
        .is_some_and(|e| e == "jsonl" || e == "ndjson")
}

fn delimiter(path: &Path, given: Option<u8>) -> u8 {
    given.unwrap_or(if path.extension().is_some_and(|e| e == "tsv") {
        b'\t'
    } else {
        b','
    })
}

/// A table of rows whose fields are looked up by column position.
/// One row: its line number, or (line, what was expected, what was found) for a broken row.
type RowResult = std::result::Result<u64, (u64, String, String)>;

enum Table<'a> {
    Delimited {
        rdr: csv::Reader<&'a [u8]>,
        rec: csv::ByteRecord,
        header: Vec<String>,
    },
    Jsonl {
        lines: Lines<'a>,
        row: serde_json::Map<String, serde_json::Value>,
        header: Vec<String>,
        line: u64,
    },
}

impl<'a> Table<'a> {
    fn open(path: &Path, buf: &'a [u8], delim: Option<u8>, required: &[&str]) -> Result<Self> {
        if is_jsonl(path) {
            let mut header: Vec<String> = required.iter().map(|s| s.to_string()).collect();
            header.dedup();
            return Ok(Table::Jsonl {
                lines: Lines::new(buf),
                row: Default::default(),
                header,
                line: 0,
            });
        }
        let d = delimiter(path, delim);
        check_separator(path, buf, &[d])?;
        let mut rdr = csv::ReaderBuilder::new()
            .delimiter(d)
            .flexible(true)
            .from_reader(buf);
        let header: Vec<String> = rdr
            .byte_headers()
            .map_err(|e| Error::BadFile {
                path: path.into(),
                line: 1,
                message: format!("unreadable header: {e}"),
            })?
            .iter()
            .map(|h| String::from_utf8_lossy(h).trim().to_owned())
            .collect();
        Ok(Table::Delimited {
            rdr,
            rec: csv::ByteRecord::new(),
            header,
        })
    }

    fn header(&self) -> &[String] {
        match self {
            Table::Delimited { header, .. } | Table::Jsonl { header, .. } => header,
        }
    }

    fn column(&self, path: &Path, name: &str) -> Result<usize> {
        self.header()
            .iter()
            .position(|h| h == name)
            .ok_or_else(|| Error::BadFile {
                path: path.into(),
                line: 1,
                message: format!(
                    "header has no column {name:?}; found {:?}",
                    self.header().join(",")
                ),
            })
    }

    /// Advances to the next row; returns its line, or an unparsable JSON line as `Err((line,
    /// text))`.
    fn next_row(&mut self, path: &Path) -> Result<Option<RowResult>> {
        match self {
            Table::Delimited { rdr, rec, header } => match rdr.read_byte_record(rec) {
                Ok(true) => {
                    let line = rec.position().map_or(0, |p| p.line());
                    if rec.len() != header.len() {
                        // A truncated or overlong row: its fields cannot be trusted.
                        let text: Vec<String> = rec
                            .iter()
                            .map(|f| String::from_utf8_lossy(f).into_owned())
                            .collect();
                        return Ok(Some(Err((
                            line,
                            format!("{} fields as in the header", header.len()),
                            format!("{} fields: {}", rec.len(), text.join(",")),
                        ))));
                    }
                    Ok(Some(Ok(line)))
                }
                Ok(false) => Ok(None),
                Err(e) => Err(Error::BadFile {
                    path: path.into(),
                    line: e.position().map_or(0, |p| p.line()),
                    message: format!("unreadable CSV: {e}"),
                }),
            },
            Table::Jsonl {
                lines, row, line, ..
            } => loop {
                let Some((n, text)) = lines.next() else {
                    return Ok(None);
                };
                *line = n;
                if text.trim_ascii().is_empty() {
                    continue;
                }
                return Ok(Some(match serde_json::from_slice(text) {
                    Ok(v) => {
                        *row = v;
                        Ok(n)
                    }
                    Err(e) => Err((
                        n,
                        "a JSON object".to_owned(),
                        format!("{e}: {}", show(text)),
                    )),
                }));
            },
        }
    }

    /// Field `k` of the current row as text (numbers in their JSON form); `None` if missing.
    fn get(&self, k: usize) -> Option<std::borrow::Cow<'_, str>> {
        match self {
            Table::Delimited { rec, .. } => rec.get(k).map(String::from_utf8_lossy),
            Table::Jsonl { row, header, .. } => match row.get(header.get(k)?)? {
                serde_json::Value::String(s) => Some(s.as_str().into()),
                serde_json::Value::Null => None,
                other => Some(other.to_string().into()),
            },
        }
    }
}

/// Parses a generic interactions file.
pub(crate) fn parse_generic(
    name: &str,
    path: &Path,
    buf: &[u8],
    m: &ColumnMapping,
    cfg: &CleaningConfig,
    pb: &ProgressBar,
) -> Result<Builder> {
    check_nonempty(
        path,
        buf,
        &format!(
            "a header with columns {:?} and {:?}, and rows",
            m.user, m.item
        ),
    )?;
    let mut required = vec![m.user.as_str(), m.item.as_str()];
    required.extend(m.timestamp.as_deref());
    required.extend(m.rating.as_deref());
    required.extend(m.context.iter().map(String::as_str));
    let mut t = Table::open(path, buf, m.delimiter, &required)?;
    let cu = t.column(path, &m.user)?;
    let ci = t.column(path, &m.item)?;
    let ct = m
        .timestamp
        .as_ref()
        .map(|c| t.column(path, c))
        .transpose()?;
    let cr = m.rating.as_ref().map(|c| t.column(path, c)).transpose()?;
    let mut b = Builder::new(name, cfg, ct.is_some())?;
    let ctx: Vec<(usize, usize)> = m
        .context
        .iter()
        .map(|c| Ok((t.column(path, c)?, b.context_column(c))))
        .collect::<Result<_>>()?;
    let progress = Progress::start(pb, path, buf.len());
    while let Some(row) = t.next_row(path)? {
        let line = match row {
            Ok(line) => line,
            Err((line, expected, text)) => {
                b.count_read();
                b.bad(
                    BAD_ROW,
                    At { path, line },
                    "row",
                    &expected,
                    text.as_bytes(),
                )?;
                continue;
            }
        };
        progress.tick(line, 0);
        let at = At { path, line };
        let user = t.get(cu).filter(|s| !s.trim().is_empty());
        let item = t.get(ci).filter(|s| !s.trim().is_empty());
        let (Some(user), Some(item)) = (user, item) else {
            b.count_read();
            let field = if t.get(cu).is_none_or(|s| s.trim().is_empty()) {
                &m.user
            } else {
                &m.item
            };
            b.bad(BAD_ROW, at, field, "an id", b"")?;
            continue;
        };
        let rating = match cr {
            None => 1.0,
            Some(k) => match t.get(k).and_then(|s| parse_f32(s.as_bytes())) {
                Some(r) => r,
                None => {
                    b.count_read();
                    let found = t.get(k).unwrap_or_default().into_owned();
                    b.bad(
                        BAD_ROW,
                        at,
                        m.rating.as_deref().unwrap_or_default(),
                        "a number",
                        found.as_bytes(),
                    )?;
                    continue;
                }
            },
        };
        let ts = match ct {
            None => None,
            Some(k) => match t
                .get(k)
                .and_then(|s| parse_time(s.trim(), m.timestamp_format))
            {
                Some(v) => Some(v),
                None => {
                    b.count_read();
                    let found = t.get(k).unwrap_or_default().into_owned();
                    let expected = match m.timestamp_format {
                        TimestampFormat::UnixSeconds => "integer unix seconds",
                        TimestampFormat::UnixMillis => "integer unix milliseconds",
                        TimestampFormat::Rfc3339 => {
                            "an RFC 3339 date-time like 2015-03-01T12:00:00Z"
                        }
                    };
                    b.bad(
                        BAD_ROW,
                        at,
                        m.timestamp.as_deref().unwrap_or_default(),
                        expected,
                        found.as_bytes(),
                    )?;
                    continue;
                }
            },
        };
        let (user, item) = (user.trim().to_owned(), item.trim().to_owned());
        if b.push(at, &user, &item, ts, rating)? {
            for &(k, col) in &ctx {
                let v = t.get(k).unwrap_or_default();
                b.set_context(col, v.trim());
            }
        }
    }
    progress.done(buf.len());
    Ok(b)
}

/// Parses an items/users side file.
fn parse_side(
    b: &mut Builder,
    path: &Path,
    buf: &[u8],
    side: &SideFile,
    is_item: bool,
) -> Result<()> {
    check_nonempty(
        path,
        buf,
        &format!("a header with an id column {:?}, and rows", side.id),
    )?;
    // For JSON Lines the header is the requested columns; "all other columns" needs a first row.
    let mut required = vec![side.id.as_str()];
    let first_keys: Vec<String>;
    if is_jsonl(path) && side.columns.is_empty() {
        first_keys = Lines::new(buf)
            .find(|(_, l)| !l.trim_ascii().is_empty())
            .and_then(|(_, l)| {
                serde_json::from_slice::<serde_json::Map<String, serde_json::Value>>(l).ok()
            })
            .map(|m| m.keys().cloned().collect())
            .unwrap_or_default();
        required.extend(
            first_keys
                .iter()
                .map(String::as_str)
                .filter(|k| *k != side.id),
        );
    } else {
        required.extend(side.columns.iter().map(String::as_str));
    }
    let mut t = Table::open(path, buf, side.delimiter, &required)?;
    let cid = t.column(path, &side.id)?;
    let wanted: Vec<String> = if side.columns.is_empty() {
        t.header()
            .iter()
            .filter(|h| **h != side.id)
            .cloned()
            .collect()
    } else {
        side.columns.clone()
    };
    let mut cols = Vec::new();
    for name in &wanted {
        let k = t.column(path, name)?;
        let col = if is_item {
            b.item_column(name)
        } else {
            b.user_column(name)
        };
        cols.push((k, col));
    }
    while let Some(row) = t.next_row(path)? {
        let line = match row {
            Ok(line) => line,
            Err((line, expected, text)) => {
                b.bad(
                    BAD_ROW,
                    At { path, line },
                    "row",
                    &expected,
                    text.as_bytes(),
                )?;
                continue;
            }
        };
        let at = At { path, line };
        let Some(id) = t
            .get(cid)
            .map(|s| s.trim().to_owned())
            .filter(|s| !s.is_empty())
        else {
            b.bad(BAD_ROW, at, &side.id, "an id", b"")?;
            continue;
        };
        let known = if is_item {
            b.items.get(&id)
        } else {
            b.users.get(&id)
        };
        if known.is_none() {
            b.unknown_side_id(at, &side.id, &id);
            continue;
        }
        for &(k, col) in &cols {
            let v = t.get(k).map(|s| s.trim().to_owned()).unwrap_or_default();
            if is_item {
                b.set_item_text(at, col, &id, v);
            } else {
                b.set_user_attr(at, col, &id, v);
            }
        }
    }
    Ok(())
}

/// Parses a timestamp in `fmt` into unix seconds.
pub fn parse_time(s: &str, fmt: TimestampFormat) -> Option<i64> {
    match fmt {
        TimestampFormat::UnixSeconds => super::builder::parse_ts(s.as_bytes()),
        TimestampFormat::UnixMillis => {
            super::builder::parse_ts(s.as_bytes()).map(|ms| ms.div_euclid(1000))
        }
        TimestampFormat::Rfc3339 => parse_rfc3339(s),
    }
}

/// `YYYY-MM-DDTHH:MM:SS[.frac](Z|±HH:MM)` (also with a space instead of `T`) → unix seconds.
fn parse_rfc3339(s: &str) -> Option<i64> {
    let b = s.as_bytes();
    if b.len() < 20 || !b.is_ascii() {
        return None;
    }
    let num = |r: std::ops::Range<usize>| -> Option<i64> {
        let t = s.get(r)?;
        t.bytes()
            .all(|c| c.is_ascii_digit())
            .then(|| t.parse().ok())
            .flatten()
    };
    let (y, mo, d) = (num(0..4)?, num(5..7)?, num(8..10)?);
    let (h, mi, sec) = (num(11..13)?, num(14..16)?, num(17..19)?);
    if b[4] != b'-'
        || b[7] != b'-'
        || !matches!(b[10], b'T' | b't' | b' ')
        || b[13] != b':'
        || b[16] != b':'
    {
        return None;
    }
    if !(1..=12).contains(&mo) || !(1..=31).contains(&d) || h > 23 || mi > 59 || sec > 60 {
        return None;
    }
    let mut rest = &s[19..];
    if let Some(frac) = rest.strip_prefix('.') {
        let digits = frac.bytes().take_while(u8::is_ascii_digit).count();
        if digits == 0 {
            return None;
        }
        rest = &frac[digits..];
    }
    let offset = match rest {
        "Z" | "z" => 0,
        _ => {
            let rb = rest.as_bytes();
            if rb.len() != 6 || !matches!(rb[0], b'+' | b'-') || rb[3] != b':' {
                return None;
            }
            let oh: i64 = rest.get(1..3)?.parse().ok()?;
            let om: i64 = rest.get(4..6)?.parse().ok()?;
            let o = oh * 3600 + om * 60;
            if rb[0] == b'-' {
                -o
            } else {
                o
            }
        }
    };
    // Days from civil (Howard Hinnant's algorithm).
    let y2 = if mo <= 2 { y - 1 } else { y };
    let era = y2.div_euclid(400);
    let yoe = y2 - era * 400;
    let mp = (mo + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    Some(days * 86_400 + h * 3600 + mi * 60 + sec - offset)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(path: &str, buf: &[u8], m: &ColumnMapping) -> Result<(Dataset, CleaningReport)> {
        parse_generic(
            "t",
            Path::new(path),
            buf,
            m,
            &CleaningConfig::default(),
            &ProgressBar::hidden(),
        )
        .map(Builder::finish)
    }

    #[test]
    fn csv_with_mapping() {
        let m = ColumnMapping {
            user: "uid".into(),
            item: "sku".into(),
            timestamp: Some("when".into()),
            rating: Some("stars".into()),
            context: vec!["device".into()],
            timestamp_format: TimestampFormat::Rfc3339,
            ..Default::default()
        };
        let (d, rep) = parse(
            "e.csv",
            b"uid,sku,when,stars,device\nu1,A,2015-03-01T12:00:00Z,5,web\nu1,B,2015-03-01T13:00:00+01:00,3,app\nu2,A,yesterday,1,web\n",
            &m,
        )
        .unwrap();
        assert_eq!(d.interactions.ts, vec![1_425_211_200, 1_425_211_200]);
        assert_eq!(d.interactions.rating, vec![5.0, 3.0]);
        assert_eq!(d.interactions.context[0].codes, vec![0, 1]);
        assert!(
            rep.examples[BAD_ROW][0].contains("e.csv:4:when: expected an RFC 3339"),
            "{:?}",
            rep.examples
        );
    }

    #[test]
    fn jsonl_tsv_and_side_files() {
        let m = ColumnMapping {
            timestamp: Some("ts".into()),
            timestamp_format: TimestampFormat::UnixMillis,
            ..Default::default()
        };
        let (d, rep) = parse(
            "e.jsonl",
            b"{\"user_id\": 1, \"item_id\": \"x\", \"ts\": 1425211200000}\nnot json\n{\"user_id\": 2, \"item_id\": \"y\", \"ts\": 1425211201000}\n",
            &m,
        )
        .unwrap();
        assert_eq!(d.users.ids(), &["1".to_string(), "2".to_string()]);
        assert_eq!(d.interactions.ts, vec![1_425_211_200, 1_425_211_201]);
        assert_eq!(rep.count(BAD_ROW), 1);

        let mut b = parse_generic(
            "t",
            Path::new("e.tsv"),
            b"user_id\titem_id\nu\tx\nu\ty\n",
            &ColumnMapping::default(),
            &CleaningConfig::default(),
            &ProgressBar::hidden(),
        )
        .unwrap();
        let side = SideFile {
            path: "items.csv".into(),
            id: "id".into(),
            columns: vec![],
            delimiter: None,
        };
        parse_side(
            &mut b,
            Path::new("items.csv"),
            b"id,title,brand\nx,\"Red, big\",Acme\nz,Gone,None\n",
            &side,
            true,
        )
        .unwrap();
        let side = SideFile {
            path: "users.jsonl".into(),
            id: "id".into(),
            columns: vec![],
            delimiter: None,
        };
        parse_side(
            &mut b,
            Path::new("users.jsonl"),
            b"{\"id\": \"u\", \"age\": 30}\n",
            &side,
            false,
        )
        .unwrap();
        let (d, rep) = b.finish();
        assert!(!d.has_timestamps);
        assert_eq!(d.item_field(0, "title"), Some("Red, big"));
        assert_eq!(d.item_field(1, "brand"), None);
        assert_eq!(d.user_attrs[0].values, vec!["30".to_string()]);
        assert_eq!(rep.count(crate::clean::UNKNOWN_SIDE_ID), 1);
    }

    #[test]
    fn truncated_and_overlong_rows_are_reported() {
        let (d, rep) = parse(
            "e.csv",
            b"user_id,item_id,device\nu1,A,web\nu1,B\nu2,C,app,extra\nu2,D,app\n",
            &ColumnMapping {
                context: vec!["device".into()],
                ..Default::default()
            },
        )
        .unwrap();
        assert_eq!(d.interactions.len(), 2);
        assert_eq!(rep.count(BAD_ROW), 2);
        let ex = &rep.examples[BAD_ROW];
        assert!(
            ex[0].contains("e.csv:3:row: expected 3 fields as in the header"),
            "{ex:?}"
        );
        assert!(
            ex[1].contains("e.csv:4:row") && ex[1].contains("4 fields"),
            "{ex:?}"
        );
    }

    #[test]
    fn items_missing_from_the_items_file_are_noted() {
        let dir = tempfile::tempdir().unwrap();
        let inter = dir.path().join("e.csv");
        std::fs::write(&inter, "user_id,item_id\nu,x\nu,y\n").unwrap();
        let items = dir.path().join("items.csv");
        std::fs::write(&items, "id,title\nx,Known\n").unwrap();
        let side = SideFile {
            path: items,
            id: "id".into(),
            columns: vec![],
            delimiter: None,
        };
        let (d, rep) = import_generic(
            &inter,
            &ColumnMapping::default(),
            Some(&side),
            None,
            &CleaningConfig::default(),
            &ProgressBar::hidden(),
        )
        .unwrap();
        assert_eq!(d.n_items(), 2);
        assert!(
            rep.notes
                .iter()
                .any(|n| n.contains("1 item(s)") && n.contains("\"y\"")),
            "{:?}",
            rep.notes
        );
    }

    #[test]
    fn mapping_serde() {
        let m: ColumnMapping =
            serde_json::from_str(r#"{"user":"u","delimiter":";","timestamp_format":"rfc3339"}"#)
                .unwrap();
        assert_eq!(m.delimiter, Some(b';'));
        assert_eq!(m.item, "item_id");
        let m2: ColumnMapping = serde_json::from_str(&serde_json::to_string(&m).unwrap()).unwrap();
        assert_eq!(m, m2);
        assert!(serde_json::from_str::<ColumnMapping>(r#"{"users":"u"}"#).is_err());
        assert!(serde_json::from_str::<ColumnMapping>(r#"{"delimiter":"::"}"#).is_err());
        let e = parse("e.csv", b"user;item\n1;2\n", &ColumnMapping::default()).unwrap_err();
        assert!(
            e.to_string()
                .contains("a comma, but it looks separated by a semicolon"),
            "{e}"
        );
        let e = parse("e.csv", b"a,b\n1,2\n", &ColumnMapping::default()).unwrap_err();
        assert!(e.to_string().contains("no column \"user_id\""), "{e}");
    }

    #[test]
    fn rfc3339() {
        assert_eq!(parse_rfc3339("1970-01-01T00:00:00Z"), Some(0));
        assert_eq!(parse_rfc3339("2000-03-01T00:00:00.5Z"), Some(951_868_800));
        assert_eq!(
            parse_rfc3339("2000-03-01T01:00:00+01:00"),
            Some(951_868_800)
        );
        assert_eq!(parse_rfc3339("2000-13-01T00:00:00Z"), None);
        assert_eq!(parse_rfc3339("2000-03-01"), None);
        assert_eq!(parse_rfc3339("2000-03-01T00:00:00Zé"), None);
    }
}
