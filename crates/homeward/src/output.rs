//! What the CLI prints about a photo, as JSON lines or text.

use std::path::{Path, PathBuf};

use homeward_core::faces::Face;
use image::RgbImage;
use serde::Serialize;

/// File endings picked up when a directory is walked.
const IMAGE_EXTENSIONS: &[&str] = &["jpg", "jpeg", "png", "webp", "bmp", "tif", "tiff", "gif"];

#[derive(Debug, Serialize)]
pub struct FaceReport {
    #[serde(rename = "box")]
    pub bbox: [i64; 4],
    pub score: f64,
    pub landmarks: [[f64; 2]; 5],
    pub embedding: Vec<f32>,
}

/// One photo's result: faces, or the reason it could not be read.
#[derive(Debug, Serialize)]
pub struct ImageReport {
    pub path: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub width: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub height: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub faces: Option<Vec<FaceReport>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

impl ImageReport {
    pub fn from_faces(path: &Path, image: &RgbImage, faces: &[Face]) -> Self {
        let faces = faces
            .iter()
            .map(|f| FaceReport {
                bbox: [f.rect.left, f.rect.top, f.rect.right, f.rect.bottom],
                score: f.score,
                landmarks: f.landmarks.points,
                embedding: f.embedding.0.to_vec(),
            })
            .collect();
        ImageReport {
            path: path.display().to_string(),
            width: Some(image.width()),
            height: Some(image.height()),
            faces: Some(faces),
            error: None,
        }
    }

    pub fn error(path: &Path, error: String) -> Self {
        ImageReport {
            path: path.display().to_string(),
            width: None,
            height: None,
            faces: None,
            error: Some(error),
        }
    }

    pub fn to_json(&self) -> String {
        serde_json::to_string(self).unwrap_or_else(|e| format!("{{\"error\":\"{e}\"}}"))
    }

    pub fn to_text(&self) -> String {
        if let Some(e) = &self.error {
            return format!("{}: error: {e}", self.path);
        }
        let faces = self.faces.as_deref().unwrap_or(&[]);
        let mut s = format!(
            "{}: {}x{}, {} face(s)",
            self.path,
            self.width.unwrap_or(0),
            self.height.unwrap_or(0),
            faces.len()
        );
        for (i, f) in faces.iter().enumerate() {
            let [l, t, r, b] = f.bbox;
            s.push_str(&format!(
                "\n  face {i}: box ({l},{t})-({r},{b}) score {:.3}",
                f.score
            ));
        }
        s
    }
}

/// Expands directories (recursively, sorted, image files only) and keeps files
/// as given. Paths that do not exist are reported as errors here and skipped;
/// the returned flag says whether any was.
pub fn expand_paths(paths: &[PathBuf], json: bool) -> (Vec<PathBuf>, bool) {
    let mut files = Vec::new();
    let mut failed = false;
    for p in paths {
        if p.is_dir() {
            if let Err(e) = walk(p, &mut files) {
                failed = true;
                report_error(p, &format!("cannot read directory: {e}"), json);
            }
        } else {
            files.push(p.clone()); // missing files are reported by intake
        }
    }
    (files, failed)
}

fn walk(dir: &Path, files: &mut Vec<PathBuf>) -> std::io::Result<()> {
    let mut entries: Vec<PathBuf> = std::fs::read_dir(dir)?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .collect();
    entries.sort();
    for path in entries {
        if path.is_dir() {
            walk(&path, files)?;
        } else if is_image_name(&path) {
            files.push(path);
        }
    }
    Ok(())
}

pub fn is_image_name(path: &Path) -> bool {
    path.extension()
        .and_then(|e| e.to_str())
        .is_some_and(|e| IMAGE_EXTENSIONS.contains(&e.to_ascii_lowercase().as_str()))
}

fn report_error(path: &Path, error: &str, json: bool) {
    let report = ImageReport::error(path, error.to_string());
    let line = if json {
        report.to_json()
    } else {
        report.to_text()
    };
    write_stdout(&format!("{}\n", terminal_safe(&line)));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn image_names() {
        assert!(is_image_name(Path::new("a/B.JPG")));
        assert!(is_image_name(Path::new("x.webp")));
        assert!(!is_image_name(Path::new("notes.txt")));
        assert!(!is_image_name(Path::new("noext")));
    }

    #[test]
    fn error_json_has_path_and_error_only() {
        let r = ImageReport::error(Path::new("x.jpg"), "bad".into());
        let v: serde_json::Value = serde_json::from_str(&r.to_json()).unwrap();
        assert_eq!(v, serde_json::json!({"path": "x.jpg", "error": "bad"}));
    }
}

/// `s` made safe to print on a terminal: every control character except
/// newline and tab (ESC, BEL, DEL, the C1 set including CSI U+009B) and the
/// bidirectional overrides are written as `\uXXXX`, so text typed into a
/// case name on the web cannot move the cursor, recolour or retitle the
/// terminal, or hide what follows. In JSON output the escape has the same
/// meaning as the character, so JSON stays valid and equal.
pub fn terminal_safe(s: &str) -> std::borrow::Cow<'_, str> {
    let unsafe_char = |c: char| {
        (c.is_control() && c != '\n' && c != '\t')
            || matches!(c, '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}')
    };
    if !s.chars().any(unsafe_char) {
        return std::borrow::Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len() + 16);
    for c in s.chars() {
        if unsafe_char(c) {
            out.push_str(&format!("\\u{:04x}", c as u32));
        } else {
            out.push(c);
        }
    }
    std::borrow::Cow::Owned(out)
}

/// Writes `text` to standard output, the one writer behind [`outln!`] and
/// [`out!`] and the commands that stream (`embed`, `hash`, `dupes`). A
/// reader that has gone (`homeward review list | head -3`) ends the run
/// quietly through [`stdout_failed`].
pub fn write_stdout(text: &str) {
    use std::io::Write as _;
    let mut out = std::io::stdout().lock();
    if let Err(e) = out.write_all(text.as_bytes()).and_then(|()| out.flush()) {
        stdout_failed(&e)
    }
}

/// Ends the process after standard output failed. A closed pipe is the
/// reader saying it has seen enough (`| head`): exit 0 at once, without a
/// word, as a program killed by SIGPIPE would stop (whatever the registry
/// had committed stays; an unclosed registry is recovered at its next
/// open). Any other failure (a full disk, a closed descriptor) is said on
/// stderr and exits 2.
pub fn stdout_failed(e: &std::io::Error) -> ! {
    if e.kind() == std::io::ErrorKind::BrokenPipe {
        std::process::exit(0)
    }
    write_stderr(&format!("homeward: cannot write the output: {e}\n"));
    std::process::exit(2)
}

/// Writes `text` to standard error; a closed stderr is ignored (there is
/// nowhere left to say anything).
pub fn write_stderr(text: &str) {
    use std::io::Write as _;
    let _ = std::io::stderr().lock().write_all(text.as_bytes());
}

/// A line through [`terminal_safe`] to [`write_stdout`]: every line the CLI prints.
macro_rules! outln {
    () => { $crate::output::write_stdout("\n") };
    ($($arg:tt)*) => {
        $crate::output::write_stdout(&format!("{}\n", $crate::output::terminal_safe(&format!($($arg)*))))
    };
}
/// Text through [`terminal_safe`] to [`write_stdout`], no newline added.
macro_rules! out {
    ($($arg:tt)*) => { $crate::output::write_stdout(&$crate::output::terminal_safe(&format!($($arg)*))) };
}
/// A line through [`terminal_safe`] to [`write_stderr`].
macro_rules! errln {
    () => { $crate::output::write_stderr("\n") };
    ($($arg:tt)*) => {
        $crate::output::write_stderr(&format!("{}\n", $crate::output::terminal_safe(&format!($($arg)*))))
    };
}
pub(crate) use {errln, out, outln};

#[cfg(test)]
mod terminal_tests {
    use super::terminal_safe;

    #[test]
    fn escapes_and_control_characters_are_shown_not_obeyed() {
        let name = "Ana\u{1b}[2J\u{1b}]0;pwned\u{7}\u{9b}31m\u{202e}x\r";
        let safe = terminal_safe(name);
        assert_eq!(
            safe,
            "Ana\\u001b[2J\\u001b]0;pwned\\u0007\\u009b31m\\u202ex\\u000d"
        );
        assert!(!safe.chars().any(|c| c.is_control()));
        // Plain text, newlines and tabs are untouched (and not copied).
        assert!(matches!(
            terminal_safe("José\tok\n"),
            std::borrow::Cow::Borrowed(_)
        ));
        // In JSON the escape means the same character.
        let json = serde_json::to_string(&serde_json::json!({ "name": "a\u{9b}b" })).unwrap();
        let v: serde_json::Value = serde_json::from_str(&terminal_safe(&json)).unwrap();
        assert_eq!(v["name"], "a\u{9b}b");
    }
}
