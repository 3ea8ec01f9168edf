//! Text for people: names beside ids, and columns aligned by display width
//! (a Chinese character takes two terminal cells, a combining mark none).

use homeward_core::store::MatchStore;
use homeward_match::ranking::Candidate;
use unicode_width::UnicodeWidthStr;

use crate::output::terminal_safe;

/// Cells a string takes on a terminal.
pub fn width(s: &str) -> usize {
    UnicodeWidthStr::width(s)
}

/// How a column is aligned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Align {
    Left,
    Right,
}

/// Rows of cells printed in aligned columns, two spaces apart. Cells are
/// made terminal-safe before they are measured, so an escaped control
/// character cannot shift the columns either.
#[derive(Debug)]
pub struct Table {
    aligns: Vec<Align>,
    rows: Vec<Vec<String>>,
}

impl Table {
    /// A table whose first row is `header`.
    pub fn new(header: &[(&str, Align)]) -> Table {
        Table {
            aligns: header.iter().map(|(_, a)| *a).collect(),
            rows: vec![header.iter().map(|(h, _)| (*h).to_string()).collect()],
        }
    }

    /// Adds a row (missing cells are empty, extra cells are dropped).
    pub fn row(&mut self, cells: Vec<String>) {
        let mut cells: Vec<String> = cells
            .into_iter()
            .map(|c| terminal_safe(&c).into_owned())
            .collect();
        cells.resize(self.aligns.len(), String::new());
        self.rows.push(cells);
    }

    /// The lines, header first, without trailing spaces.
    pub fn lines(&self) -> Vec<String> {
        let widths: Vec<usize> = (0..self.aligns.len())
            .map(|k| self.rows.iter().map(|r| width(&r[k])).max().unwrap_or(0))
            .collect();
        self.rows
            .iter()
            .map(|r| {
                let mut line = String::new();
                for (k, cell) in r.iter().enumerate() {
                    if k > 0 {
                        line.push_str("  ");
                    }
                    let fill = " ".repeat(widths[k] - width(cell));
                    match self.aligns[k] {
                        Align::Left => {
                            line.push_str(cell);
                            line.push_str(&fill);
                        }
                        Align::Right => {
                            line.push_str(&fill);
                            line.push_str(cell);
                        }
                    }
                }
                line.truncate(line.trim_end().len());
                line
            })
            .collect()
    }
}

/// `case 3 (李小明)`, or `case 3` when the name is empty.
pub fn case_label(id: u64, name: &str) -> String {
    if name.trim().is_empty() {
        format!("case {id}")
    } else {
        format!("case {id} ({name})")
    }
}

/// The child's name of a case ("" when the case cannot be read).
pub fn case_name(reg: &dyn MatchStore, id: u64) -> String {
    reg.case(id).map(|c| c.data.child_name).unwrap_or_default()
}

/// [`case_label`] read from the registry.
pub fn case_label_in(reg: &dyn MatchStore, id: u64) -> String {
    case_label(id, &case_name(reg, id))
}

/// A candidate's one-line summary with the child's name beside the case id.
pub fn candidate_line(reg: &dyn MatchStore, c: &Candidate) -> String {
    let summary = c.summary();
    let label = case_label_in(reg, c.case_id);
    // The library's summary opens with the padded case id; the rest (band,
    // plain words, evidence) is kept as it is.
    match summary.strip_prefix(&format!("case {:>5}", c.case_id)) {
        Some(rest) => format!("{label}{rest}"),
        None => format!("{label}: {summary}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wide_names_align() {
        let mut t = Table::new(&[
            ("case", Align::Right),
            ("name", Align::Left),
            ("status", Align::Left),
        ]);
        t.row(vec!["1".into(), "李小明".into(), "searching".into()]);
        t.row(vec!["12".into(), "Ana".into(), "found".into()]);
        let lines = t.lines();
        assert_eq!(lines.len(), 3);
        let at = |l: &str, word: &str| width(&l[..l.find(word).unwrap()]);
        assert_eq!(at(&lines[1], "searching"), at(&lines[2], "found"));
        assert_eq!(at(&lines[0], "status"), at(&lines[1], "searching"));
        assert_eq!(lines[2], "  12  Ana     found");
    }

    #[test]
    fn escaped_cells_are_measured_as_printed() {
        let mut t = Table::new(&[("name", Align::Left), ("x", Align::Left)]);
        t.row(vec!["a\u{1b}b".into(), "X".into()]);
        t.row(vec!["abcdefgh".into(), "Y".into()]);
        let lines = t.lines();
        assert_eq!(lines[1].find('X'), lines[2].find('Y'));
        assert!(lines[1].starts_with("a\\u001bb"));
    }

    #[test]
    fn labels() {
        assert_eq!(case_label(3, "李小明"), "case 3 (李小明)");
        assert_eq!(case_label(3, " "), "case 3");
    }
}
