//! A case's life: "what state is this case in, who moved it, and why?"
//!
//! `found` and `closed` end the search: the case leaves searches and the
//! matching of new sightings. `searching` reopens it. Who, when and why go
//! to the case's journal; the registry's audit log records that it
//! happened (it never names the child nor holds the reason or a note).
//! [`crate::timeline`] reads it all back in order.

use homeward_core::rules::FreeText;
use homeward_core::store::{CaseEventId, CaseId, CaseStatus, Store};

use crate::input::InputError;
use crate::MatchError;

/// Moves case `id` to `status` with the reason `why`, and returns the
/// status it had. Setting the status a case already has changes nothing
/// and writes nothing.
///
/// # Errors
/// [`MatchError::Input`] when `why` breaks the free-text rule (empty,
/// over 4,000 characters, control characters); [`MatchError::Store`] when
/// the case does not exist or the registry fails.
pub fn set_case_status<S: Store + ?Sized>(
    reg: &mut S,
    actor: &str,
    id: CaseId,
    status: CaseStatus,
    why: Option<&str>,
) -> Result<CaseStatus, MatchError> {
    let why = why.map(|w| text("why", w)).transpose()?;
    let before = reg.case(id)?.data.status;
    if before != status {
        reg.set_case_status(actor, id, status, why.as_deref())?;
    }
    Ok(before)
}

/// Adds a case worker's note to case `id`.
///
/// # Errors
/// [`MatchError::Input`] when the note breaks the free-text rule;
/// [`MatchError::Store`] when the case does not exist or the registry fails.
pub fn add_case_note<S: Store + ?Sized>(
    reg: &mut S,
    actor: &str,
    id: CaseId,
    note: &str,
) -> Result<CaseEventId, MatchError> {
    let note = text("note", note)?;
    Ok(reg.add_case_note(actor, id, &note)?)
}

fn text(field: &'static str, s: &str) -> Result<String, InputError> {
    s.parse::<FreeText>()
        .map(|t| t.as_str().to_string())
        .map_err(|source| InputError::Text { field, source })
}

#[cfg(test)]
mod tests {
    use homeward_core::store::{CaseEventKind, NewCase, Registry, Sex};

    use super::*;

    fn case(reg: &mut Registry) -> CaseId {
        reg.add_case(
            "t",
            &NewCase {
                child_name: "A".into(),
                sex: Sex::Female,
                birth_date: None,
                birth_year: None,
                missing_date: None,
                missing_place: "p".into(),
                missing_location: None,
                status: CaseStatus::Searching,
                contact_ref: None,
                notes: None,
            },
        )
        .unwrap()
    }

    #[test]
    fn status_keeps_who_and_why_and_a_repeat_writes_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let mut reg = Registry::open(dir.path()).unwrap();
        let a = case(&mut reg);
        let before =
            set_case_status(&mut reg, "li", a, CaseStatus::Found, Some(" Home safe ")).unwrap();
        assert_eq!(before, CaseStatus::Searching);
        set_case_status(&mut reg, "li", a, CaseStatus::Found, Some("again")).unwrap();
        let ev = reg.case_events(a).unwrap();
        assert_eq!(ev.len(), 1);
        assert_eq!(ev[0].kind, CaseEventKind::Status(CaseStatus::Found));
        assert_eq!(ev[0].actor, "li");
        assert_eq!(ev[0].text.as_deref(), Some("Home safe"));
    }

    #[test]
    fn bad_text_is_refused_before_anything_is_written() {
        let dir = tempfile::tempdir().unwrap();
        let mut reg = Registry::open(dir.path()).unwrap();
        let a = case(&mut reg);
        let e = set_case_status(&mut reg, "li", a, CaseStatus::Closed, Some("  ")).unwrap_err();
        assert!(e.to_string().contains("`why`"), "{e}");
        let e = add_case_note(&mut reg, "li", a, "bell\u{7}").unwrap_err();
        assert!(e.to_string().contains("`note`"), "{e}");
        assert_eq!(reg.case(a).unwrap().data.status, CaseStatus::Searching);
        assert!(reg.case_events(a).unwrap().is_empty());
        let e = add_case_note(&mut reg, "li", a + 7, "x").unwrap_err();
        assert!(e.to_string().contains("does not exist"), "{e}");
    }
}
