//! Cases written straight into a registry directory, as an import or an
//! older version would have written them (no checks of the CLI's own).

use std::path::Path;

use homeward_core::store::{CaseStatus, NewCase, Registry, Sex};

/// A case still searched for, with nothing but a name and perhaps the
/// date the child went missing.
pub fn new_case(name: &str, missing_date: Option<&str>) -> NewCase {
    NewCase {
        child_name: name.into(),
        sex: Sex::Unknown,
        birth_date: None,
        birth_year: None,
        missing_date: missing_date.map(String::from),
        missing_place: String::new(),
        missing_location: None,
        status: CaseStatus::Searching,
        contact_ref: None,
        notes: None,
    }
}

/// Adds [`new_case`] to the registry at `db` (made if need be); its id.
pub fn add_case(db: &Path, name: &str, missing_date: Option<&str>) -> u64 {
    let mut reg = Registry::open(db).expect("registry");
    let id = reg
        .add_case("test", &new_case(name, missing_date))
        .expect("stored");
    reg.close().expect("closed");
    id
}
