//! Shared machinery for importers: the dataset builder that applies row checks, and byte-level
//! helpers (line iteration, separator detection, field parsing).

use std::path::{Path, PathBuf};

use indicatif::ProgressBar;
use seer_core::IdMap;

use crate::clean::{self, CleaningConfig, CleaningReport};
use crate::dataset::{CategoricalColumn, Dataset, Interactions, TextColumn};
use crate::error::{Error, Result};

/// Longest `found` text kept in errors and report examples.
const MAX_FOUND: usize = 60;

/// Reads a whole file (inputs are at most a few hundred MB; one read beats line buffering).
pub(crate) fn read(path: &Path) -> Result<Vec<u8>> {
    std::fs::read(path).map_err(|source| Error::Io {
        path: path.into(),
        source,
    })
}

/// `bytes` as text for messages, lossy and cut short.
pub(crate) fn show(bytes: &[u8]) -> String {
    let s = String::from_utf8_lossy(bytes);
    if s.chars().count() > MAX_FOUND {
        let cut: String = s.chars().take(MAX_FOUND).collect();
        format!("{cut}…")
    } else {
        s.into_owned()
    }
}

/// Latin-1 (ISO-8859-1) decoding: every byte is the code point of the same value.
pub(crate) fn latin1(bytes: &[u8]) -> String {
    bytes.iter().map(|&b| b as char).collect()
}

/// Iterates `(1-based line number, line without '\n' / "\r\n")`, skipping nothing.
pub(crate) struct Lines<'a> {
    buf: &'a [u8],
    pos: usize,
    line: u64,
}

impl<'a> Lines<'a> {
    pub(crate) fn new(buf: &'a [u8]) -> Self {
        Lines {
            buf,
            pos: 0,
            line: 0,
        }
    }

    /// Byte offset of the next line (for progress bars).
    pub(crate) fn pos(&self) -> usize {
        self.pos
    }
}

impl<'a> Iterator for Lines<'a> {
    type Item = (u64, &'a [u8]);

    fn next(&mut self) -> Option<Self::Item> {
        if self.pos >= self.buf.len() {
            return None;
        }
        let rest = &self.buf[self.pos..];
        let end = rest.iter().position(|&b| b == b'\n').unwrap_or(rest.len());
        self.pos += end + 1;
        self.line += 1;
        let mut line = &rest[..end];
        if let [head @ .., b'\r'] = line {
            line = head;
        }
        Some((self.line, line))
    }
}

/// Splits `line` on `sep` into `out` (cleared first).
pub(crate) fn split_on<'a>(line: &'a [u8], sep: &[u8], out: &mut Vec<&'a [u8]>) {
    out.clear();
    if sep.is_empty() {
        out.push(line);
        return;
    }
    let mut start = 0;
    let mut i = 0;
    while i + sep.len() <= line.len() {
        if &line[i..i + sep.len()] == sep {
            out.push(&line[start..i]);
            i += sep.len();
            start = i;
        } else {
            i += 1;
        }
    }
    out.push(&line[start..]);
}

/// Human name of a separator.
pub(crate) fn sep_name(sep: &[u8]) -> String {
    match sep {
        b"\t" => "a tab".into(),
        b"," => "a comma".into(),
        b";" => "a semicolon".into(),
        b"|" => "a pipe".into(),
        b" " => "a space".into(),
        other => format!("`{}`", String::from_utf8_lossy(other)),
    }
}

/// Fails with "file is empty, expected …" when `buf` holds only whitespace.
pub(crate) fn check_nonempty(path: &Path, buf: &[u8], expected: &str) -> Result<()> {
    if buf.iter().all(u8::is_ascii_whitespace) {
        return Err(Error::BadFile {
            path: path.into(),
            line: 1,
            message: format!("file is empty, expected {expected}"),
        });
    }
    Ok(())
}

/// Checks that the first non-empty line contains `sep`; otherwise fails saying which
/// separator was expected and which one the line seems to use.
pub(crate) fn check_separator(path: &Path, buf: &[u8], sep: &[u8]) -> Result<()> {
    let Some((line_no, line)) = Lines::new(buf).find(|(_, l)| !l.trim_ascii().is_empty()) else {
        return Ok(());
    };
    if line.windows(sep.len()).any(|w| w == sep) {
        return Ok(());
    }
    let candidates: [&[u8]; 7] = [b"::", b"\t", b",", b";", b"|", b" ", b":"];
    let seen = candidates
        .iter()
        .filter(|c| **c != sep)
        .find(|c| line.windows(c.len()).any(|w| w == **c))
        .map(|c| format!("it looks separated by {}", sep_name(c)))
        .unwrap_or_else(|| "it has a single field".into());
    Err(Error::BadFile {
        path: path.into(),
        line: line_no,
        message: format!(
            "expected fields separated by {}, but {seen}: {:?}",
            sep_name(sep),
            show(line)
        ),
    })
}

/// Parses an integer timestamp, accepting a float with a zero fraction (`881250949.0`).
pub(crate) fn parse_ts(bytes: &[u8]) -> Option<i64> {
    let s = std::str::from_utf8(bytes).ok()?.trim();
    if let Ok(v) = s.parse::<i64>() {
        return Some(v);
    }
    let f = s.parse::<f64>().ok()?;
    (f.is_finite() && f.fract() == 0.0 && f.abs() < 9.0e15).then_some(f as i64)
}

/// Parses a finite float.
pub(crate) fn parse_f32(bytes: &[u8]) -> Option<f32> {
    let v = std::str::from_utf8(bytes)
        .ok()?
        .trim()
        .parse::<f32>()
        .ok()?;
    v.is_finite().then_some(v)
}

/// One non-empty id field as UTF-8 text.
pub(crate) fn parse_id(bytes: &[u8]) -> Option<&str> {
    let s = std::str::from_utf8(bytes).ok()?.trim();
    (!s.is_empty()).then_some(s)
}

/// Where a row came from, for messages.
#[derive(Clone, Copy)]
pub(crate) struct At<'a> {
    pub path: &'a Path,
    pub line: u64,
}

impl At<'_> {
    fn file_name(&self) -> String {
        self.path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default()
    }
}

/// Collects rows into a [`Dataset`], applying the per-row checks of
/// [`CleaningConfig`] and recording what it skips.
pub(crate) struct Builder {
    name: String,
    pub users: IdMap,
    pub items: IdMap,
    inter: Interactions,
    has_timestamps: bool,
    item_text: Vec<TextColumn>,
    user_attrs: Vec<TextColumn>,
    pub report: CleaningReport,
    cfg: CleaningConfig,
    max_ts: i64,
    /// Next sequence position per user, for data without timestamps.
    next_pos: Vec<i64>,
}

impl Builder {
    pub(crate) fn new(name: &str, cfg: &CleaningConfig, has_timestamps: bool) -> Result<Self> {
        cfg.validate()?;
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs() as i64)
            .unwrap_or(i64::MAX / 2);
        let mut report = CleaningReport::new(cfg.max_examples);
        if !has_timestamps {
            report.notes.push(
                "no timestamps in the source: ts is each event's position in its user's \
                 sequence (file order)"
                    .into(),
            );
        }
        Ok(Builder {
            name: name.to_owned(),
            users: IdMap::new(),
            items: IdMap::new(),
            inter: Interactions::default(),
            has_timestamps,
            item_text: Vec::new(),
            user_attrs: Vec::new(),
            report,
            cfg: cfg.clone(),
            max_ts: now.saturating_add(86_400),
            next_pos: Vec::new(),
        })
    }

    /// Records a bad field: fatal [`Error::BadField`] in strict mode, else counted under
    /// `reason` and skipped.
    pub(crate) fn bad(
        &mut self,
        reason: &str,
        at: At<'_>,
        field: &str,
        expected: &str,
        found: &[u8],
    ) -> Result<()> {
        if self.cfg.strict {
            return Err(Error::BadField {
                path: at.path.into(),
                line: at.line,
                field: field.into(),
                expected: expected.into(),
                found: show(found),
            });
        }
        let name = at.file_name();
        self.report.record(reason, || {
            format!(
                "{name}:{}:{field}: expected {expected}, found {:?}",
                at.line,
                show(found)
            )
        });
        Ok(())
    }

    /// A row with too few fields.
    pub(crate) fn short_row(&mut self, at: At<'_>, expected: &str, line: &[u8]) -> Result<()> {
        self.bad(clean::BAD_ROW, at, "row", expected, line)
    }

    /// Counts a side-file row whose id never occurs in the interactions.
    pub(crate) fn unknown_side_id(&mut self, at: At<'_>, field: &str, id: &str) {
        let name = at.file_name();
        self.report.record(clean::UNKNOWN_SIDE_ID, || {
            format!(
                "{name}:{}:{field}: id {id:?} does not occur in the interactions",
                at.line
            )
        });
    }

    /// Adds one event; `ts = None` means "no timestamps: use the position in the user's
    /// sequence". Returns whether the row was kept (false: skipped into the report).
    pub(crate) fn push(
        &mut self,
        at: At<'_>,
        user: &str,
        item: &str,
        ts: Option<i64>,
        rating: f32,
    ) -> Result<bool> {
        self.report.rows_read += 1;
        if let Some((lo, hi)) = self.cfg.rating_range {
            if !(lo..=hi).contains(&rating) {
                let expected = format!("a rating in [{lo}, {hi}]");
                self.bad(
                    clean::RATING_OUT_OF_RANGE,
                    at,
                    "rating",
                    &expected,
                    rating.to_string().as_bytes(),
                )?;
                return Ok(false);
            }
        }
        if let Some(t) = ts {
            if self.has_timestamps && (t < self.cfg.min_timestamp || t > self.max_ts) {
                let expected = format!(
                    "a unix timestamp between {} and now (1 day slack)",
                    self.cfg.min_timestamp
                );
                self.bad(
                    clean::TIMESTAMP_OUT_OF_RANGE,
                    at,
                    "timestamp",
                    &expected,
                    t.to_string().as_bytes(),
                )?;
                return Ok(false);
            }
        }
        let u = self.users.get_or_insert(user);
        let i = self.items.get_or_insert(item);
        let ts = match ts {
            Some(t) => t,
            None => {
                if self.next_pos.len() <= u as usize {
                    self.next_pos.resize(u as usize + 1, 0);
                }
                let p = self.next_pos[u as usize];
                self.next_pos[u as usize] += 1;
                p
            }
        };
        self.inter.user.push(u);
        self.inter.item.push(i);
        self.inter.ts.push(ts);
        self.inter.rating.push(rating);
        Ok(true)
    }

    /// Counts a row that was read but not pushed (it failed parsing).
    pub(crate) fn count_read(&mut self) {
        self.report.rows_read += 1;
    }

    /// Index of context column `name`, created if new (earlier rows get "missing").
    pub(crate) fn context_column(&mut self, name: &str) -> usize {
        if let Some(k) = self.inter.context.iter().position(|c| c.name == name) {
            return k;
        }
        self.inter.context.push(CategoricalColumn {
            name: name.into(),
            values: IdMap::new(),
            codes: vec![u32::MAX; self.inter.user.len()],
        });
        self.inter.context.len() - 1
    }

    /// Sets context column `col` of the last pushed row (call right after a kept `push`).
    pub(crate) fn set_context(&mut self, col: usize, value: &str) {
        let n = self.inter.user.len();
        let c = &mut self.inter.context[col];
        c.codes.resize(n, u32::MAX);
        if !value.is_empty() {
            c.codes[n - 1] = c.values.get_or_insert(value);
        }
    }

    /// Index of item text column `name`, created if new.
    pub(crate) fn item_column(&mut self, name: &str) -> usize {
        column(&mut self.item_text, name)
    }

    /// Index of user attribute column `name`, created if new.
    pub(crate) fn user_column(&mut self, name: &str) -> usize {
        column(&mut self.user_attrs, name)
    }

    /// Items of the interactions whose every text field is empty (e.g. absent from the items
    /// file), with the first such original id.
    pub(crate) fn items_without_text(&self) -> (usize, Option<String>) {
        if self.item_text.is_empty() {
            return (0, None);
        }
        let mut n = 0;
        let mut first = None;
        for i in 0..self.items.len() {
            let empty = self
                .item_text
                .iter()
                .all(|c| c.values.get(i).is_none_or(|v| v.is_empty()));
            if empty {
                n += 1;
                if first.is_none() {
                    first = self.items.id(i as u32).map(str::to_owned);
                }
            }
        }
        (n, first)
    }

    /// Sets item text; an item never seen in the interactions is counted and dropped.
    pub(crate) fn set_item_text(&mut self, at: At<'_>, col: usize, id: &str, value: String) {
        match self.items.get(id) {
            Some(i) => set(&mut self.item_text[col], i, value),
            None => self.unknown_side_id(at, "item", id),
        }
    }

    /// Sets item text by dense index (caller resolved the id).
    pub(crate) fn set_item_text_idx(&mut self, col: usize, item: u32, value: String) {
        set(&mut self.item_text[col], item, value);
    }

    /// Appends to a list-valued item field (joined with " | "), skipping repeats.
    pub(crate) fn append_item_text(&mut self, col: usize, item: u32, value: &str) {
        let c = &mut self.item_text[col];
        if c.values.len() <= item as usize {
            c.values.resize(item as usize + 1, String::new());
        }
        let v = &mut c.values[item as usize];
        if v.split(" | ").any(|x| x == value) {
            return;
        }
        if !v.is_empty() {
            v.push_str(" | ");
        }
        v.push_str(value);
    }

    /// Sets a user attribute; a user never seen in the interactions is counted and dropped.
    pub(crate) fn set_user_attr(&mut self, at: At<'_>, col: usize, id: &str, value: String) {
        match self.users.get(id) {
            Some(u) => set(&mut self.user_attrs[col], u, value),
            None => self.unknown_side_id(at, "user", id),
        }
    }

    /// Adds a note to the report.
    pub(crate) fn note(&mut self, note: String) {
        self.report.notes.push(note);
    }

    /// Runs the dataset-level cleaning steps and returns the result.
    pub(crate) fn finish(mut self) -> (Dataset, CleaningReport) {
        let n = self.inter.user.len();
        for c in &mut self.inter.context {
            c.codes.resize(n, u32::MAX);
        }
        for c in &mut self.item_text {
            c.values.resize(self.items.len(), String::new());
        }
        for c in &mut self.user_attrs {
            c.values.resize(self.users.len(), String::new());
        }
        let data = Dataset {
            name: self.name,
            users: self.users,
            items: self.items,
            interactions: self.inter,
            has_timestamps: self.has_timestamps,
            item_text: self.item_text,
            user_attrs: self.user_attrs,
        };
        let mut report = self.report;
        let out = clean::apply(data, &self.cfg, &mut report);
        tracing::info!(
            dataset = %out.name,
            rows_read = report.rows_read,
            rows_kept = report.rows_kept,
            users = out.n_users(),
            items = out.n_items(),
            "import done"
        );
        (out, report)
    }
}

fn column(cols: &mut Vec<TextColumn>, name: &str) -> usize {
    if let Some(k) = cols.iter().position(|c| c.name == name) {
        return k;
    }
    cols.push(TextColumn {
        name: name.into(),
        values: Vec::new(),
    });
    cols.len() - 1
}

fn set(col: &mut TextColumn, idx: u32, value: String) {
    if col.values.len() <= idx as usize {
        col.values.resize(idx as usize + 1, String::new());
    }
    col.values[idx as usize] = value;
}

/// Updates the progress bar every so often while iterating lines.
pub(crate) struct Progress<'a> {
    pb: &'a ProgressBar,
    every: u64,
}

impl<'a> Progress<'a> {
    pub(crate) fn start(pb: &'a ProgressBar, path: &Path, total_bytes: usize) -> Self {
        pb.set_length(total_bytes as u64);
        pb.set_position(0);
        pb.set_message(
            path.file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default(),
        );
        Progress { pb, every: 16_384 }
    }

    pub(crate) fn tick(&self, line: u64, pos: usize) {
        if line.is_multiple_of(self.every) {
            self.pb.set_position(pos as u64);
        }
    }

    pub(crate) fn done(&self, total_bytes: usize) {
        self.pb.set_position(total_bytes as u64);
    }
}

/// Finds `name` in `dir`, returning the path if it is a file.
pub(crate) fn file_in(dir: &Path, name: &str) -> Option<PathBuf> {
    let p = dir.join(name);
    p.is_file().then_some(p)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_and_split() {
        let v: Vec<_> = Lines::new(b"a::b\r\n\nc").collect();
        assert_eq!(v, vec![(1, &b"a::b"[..]), (2, &b""[..]), (3, &b"c"[..])]);
        let mut out = Vec::new();
        split_on(b"1::2::::3", b"::", &mut out);
        assert_eq!(out, vec![&b"1"[..], b"2", b"", b"3"]);
    }

    #[test]
    fn separator_and_empty_messages() {
        let p = Path::new("ratings.dat");
        let e = check_separator(p, b"1,2,3,4\n", b"::")
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("expected fields separated by `::`") && e.contains("a comma"),
            "{e}"
        );
        let e = check_nonempty(p, b" \n\n", "UserID::MovieID")
            .unwrap_err()
            .to_string();
        assert!(e.contains("file is empty, expected UserID::MovieID"), "{e}");
    }

    #[test]
    fn numbers() {
        assert_eq!(parse_ts(b"881250949"), Some(881_250_949));
        assert_eq!(parse_ts(b"881250949.0"), Some(881_250_949));
        assert_eq!(parse_ts(b"1.5"), None);
        assert_eq!(parse_f32(b"NaN"), None);
        assert_eq!(parse_id(b"  "), None);
        assert_eq!(latin1(b"Caf\xe9"), "Café");
    }
}
