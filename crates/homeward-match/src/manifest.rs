//! "Which photos does this batch list, and what is known of each?" The batch
//! manifest: CSV rows `path,when,where,age_range,sex` (a first row whose path
//! is `path` is a header), read under the same input rules as every front,
//! from bytes that may come from anyone (a case worker's file today, an
//! uploaded archive tomorrow).
//!
//! Paths are relative to the manifest's folder and stay inside it: an
//! absolute path, a drive or a `..` is refused, so a manifest can never make
//! Homeward read a file outside the folder it came with.
//!
//! ```
//! use homeward_match::manifest::parse;
//! let items = parse("path,when,where,age_range,sex\nkids/a.jpg,2024-05-01,Xi'an station,6-9,f\n")?;
//! assert_eq!(items[0].path, "kids/a.jpg");
//! assert_eq!(items[0].age, Some((6.0, 9.0)));
//! assert!(parse("../../etc/passwd\n").is_err());
//! # Ok::<(), homeward_match::manifest::ManifestError>(())
//! ```

use std::path::{Component, Path};

use homeward_core::rules::{AgeRange, CalendarDate, Name, Sex};

/// Largest manifest read, in bytes (about a million rows of typical length).
pub const MAX_MANIFEST_BYTES: usize = 64 << 20;
/// Most rows in one manifest.
pub const MAX_MANIFEST_ROWS: usize = 1_000_000;
/// Longest path, in bytes.
pub const MAX_PATH_BYTES: usize = 1024;

/// One photo listed by a manifest.
#[derive(Debug, Clone, PartialEq)]
pub struct ManifestItem {
    /// The path as written, relative to the manifest's folder (also the
    /// item's key in the batch).
    pub path: String,
    /// The day the photo was taken (`YYYY-MM-DD`, a real day).
    pub when: Option<String>,
    /// Where, as text.
    pub place: Option<String>,
    /// The child's apparent age range, in years.
    pub age: Option<(f32, f32)>,
    /// The child's apparent sex.
    pub sex: Option<Sex>,
}

/// Why a manifest is refused. Lines count from 1; values are never echoed
/// (they may hold names).
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ManifestError {
    /// Too large to read.
    #[error("the manifest is {bytes} bytes; split it into files of at most {max} bytes")]
    TooLarge {
        /// Its size.
        bytes: usize,
        /// The limit.
        max: usize,
    },
    /// Too many rows.
    #[error("the manifest has more than {max} rows; split it")]
    TooManyRows {
        /// The limit.
        max: usize,
    },
    /// Not readable as CSV (or not UTF-8).
    #[error("line {line}: not readable as CSV ({why}); save it as UTF-8 CSV")]
    Csv {
        /// The line.
        line: u64,
        /// What the reader said.
        why: String,
    },
    /// A field breaks its rule.
    #[error("line {line}, column `{field}`: {why}")]
    Field {
        /// The line.
        line: u64,
        /// The column.
        field: &'static str,
        /// The rule it broke and what to write instead.
        why: String,
    },
}

/// The line (from 1) that byte `at` of `text` is on, counting line ends as
/// CSV does: `\r\n`, `\n` and a bare `\r` (classic Mac spreadsheets) each
/// end one. The csv crate's own line count knows only `\n`. Used for
/// errors only.
fn line_at(text: &str, at: u64) -> u64 {
    let head = text.as_bytes();
    let head = &head[..usize::try_from(at).map_or(head.len(), |a| a.min(head.len()))];
    let mut lines = 1;
    let mut bytes = head.iter().peekable();
    while let Some(&b) = bytes.next() {
        match b {
            b'\n' => lines += 1,
            b'\r' => {
                if bytes.peek() == Some(&&b'\n') {
                    bytes.next();
                }
                lines += 1;
            }
            _ => {}
        }
    }
    lines
}

/// Reads a manifest.
///
/// # Errors
/// [`ManifestError`] for the first row or limit it breaks; nothing is
/// returned for a manifest with an error, so a batch never runs half of a
/// file its author must fix.
pub fn parse(text: &str) -> Result<Vec<ManifestItem>, ManifestError> {
    if text.len() > MAX_MANIFEST_BYTES {
        return Err(ManifestError::TooLarge {
            bytes: text.len(),
            max: MAX_MANIFEST_BYTES,
        });
    }
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let mut rdr = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .trim(csv::Trim::All)
        .from_reader(text.as_bytes());
    let mut out = Vec::new();
    for (i, rec) in rdr.records().enumerate() {
        let rec = rec.map_err(|e| ManifestError::Csv {
            line: e
                .position()
                .map_or(i as u64 + 1, |p| line_at(text, p.byte())),
            why: match e.kind() {
                csv::ErrorKind::Utf8 { .. } => "not UTF-8".into(),
                _ => "malformed quoting".into(),
            },
        })?;
        let at = rec.position().map(|p| p.byte());
        let line = || at.map_or(i as u64 + 1, |b| line_at(text, b));
        let f = |k: usize| rec.get(k).filter(|v| !v.is_empty());
        let Some(p) = f(0) else { continue };
        if i == 0 && p.eq_ignore_ascii_case("path") {
            continue;
        }
        if out.len() >= MAX_MANIFEST_ROWS {
            return Err(ManifestError::TooManyRows {
                max: MAX_MANIFEST_ROWS,
            });
        }
        let field = |field: &'static str, why: String| ManifestError::Field {
            line: line(),
            field,
            why,
        };
        check_path(p).map_err(|why| field("path", why))?;
        let when = f(1)
            .map(|w| w.parse::<CalendarDate>().map(|d| d.to_string()))
            .transpose()
            .map_err(|e| field("when", e.to_string()))?;
        let place = f(2)
            .map(|w| w.parse::<Name>().map(Name::into_string))
            .transpose()
            .map_err(|e| field("where", e.to_string()))?;
        let age = f(3)
            .map(|a| a.parse::<AgeRange>().map(|r| r.pair()))
            .transpose()
            .map_err(|e| field("age_range", e.to_string()))?;
        let sex = f(4)
            .map(|s| s.parse::<Sex>())
            .transpose()
            .map_err(|e| field("sex", e.to_string()))?;
        out.push(ManifestItem {
            path: p.to_string(),
            when,
            place,
            age,
            sex,
        });
    }
    Ok(out)
}

/// A path that stays inside the manifest's folder.
fn check_path(p: &str) -> Result<(), String> {
    if p.len() > MAX_PATH_BYTES {
        return Err(format!(
            "the path is {} bytes; at most {MAX_PATH_BYTES}",
            p.len()
        ));
    }
    if p.chars().any(char::is_control) {
        return Err("the path holds a control character; remove it".into());
    }
    // Both separators count, whatever the platform the manifest was written on.
    let windows_drive = p.len() >= 2 && p.as_bytes()[1] == b':';
    if p.starts_with(['/', '\\']) || windows_drive {
        return Err("the path is absolute; write it relative to the manifest's folder".into());
    }
    for part in p.split(['/', '\\']) {
        let mut parts = Path::new(part).components();
        if matches!(parts.next(), Some(Component::ParentDir)) {
            return Err(
                "the path leaves the manifest's folder (`..`); put the photos beside or below the manifest"
                    .into(),
            );
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_read_with_header_bom_and_blank_fields() {
        let items =
            parse("\u{feff}path,when,where,age_range,sex\na.jpg,2024-05-01,market,6-9,f\nsub/b.png,,,,\n\n,,\n")
                .unwrap();
        assert_eq!(items.len(), 2);
        assert_eq!(items[0].when.as_deref(), Some("2024-05-01"));
        assert_eq!(items[0].place.as_deref(), Some("market"));
        assert_eq!(items[0].sex, Some(Sex::Female));
        assert_eq!(items[1].path, "sub/b.png");
        assert_eq!(items[1].age, None);
    }

    #[test]
    fn classic_mac_line_endings_read_one_row_per_line() {
        let items = parse("path,when\ra.jpg,2023\rb.jpg\r").unwrap();
        let paths: Vec<&str> = items.iter().map(|i| i.path.as_str()).collect();
        assert_eq!(paths, ["a.jpg", "b.jpg"]);
        let e = parse("path\ra.jpg\rb.jpg,2023-02-30\r").unwrap_err();
        assert!(e.to_string().starts_with("line 3, column `when`"), "{e}");
    }

    #[test]
    fn paths_outside_the_folder_are_refused() {
        for p in [
            "/etc/passwd",
            "\\\\server\\share\\a.jpg",
            "C:\\photos\\a.jpg",
            "../a.jpg",
            "kids/../../a.jpg",
            "kids\\..\\..\\a.jpg",
            "a\u{7}.jpg",
        ] {
            let e = parse(&format!("\"{p}\"\n")).unwrap_err();
            assert!(
                matches!(
                    e,
                    ManifestError::Field {
                        field: "path",
                        line: 1,
                        ..
                    }
                ),
                "{p}: {e}"
            );
        }
        assert!(parse("..a.jpg\nkids/a..b.jpg\n").is_ok());
    }

    #[test]
    fn bad_fields_name_their_line_and_column() {
        let e = parse("path\na.jpg,2023-02-30\n").unwrap_err();
        assert!(
            matches!(
                e,
                ManifestError::Field {
                    line: 2,
                    field: "when",
                    ..
                }
            ),
            "{e}"
        );
        let e = parse("a.jpg,,,30-40\n").unwrap_err();
        assert!(
            matches!(
                e,
                ManifestError::Field {
                    field: "age_range",
                    ..
                }
            ),
            "{e}"
        );
        let e = parse("a.jpg,,,,x\n").unwrap_err();
        assert!(
            matches!(e, ManifestError::Field { field: "sex", .. }),
            "{e}"
        );
        let e = parse("a.jpg,,\"mar\u{1b}ket\"\n").unwrap_err();
        assert!(
            matches!(e, ManifestError::Field { field: "where", .. }),
            "{e}"
        );
        assert!(!e.to_string().contains("mar"), "values are not echoed: {e}");
        let e = parse("a.jpg,\"unclosed\n").unwrap_err();
        assert!(
            matches!(e, ManifestError::Csv { .. }) || matches!(e, ManifestError::Field { .. }),
            "{e}"
        );
    }
}
