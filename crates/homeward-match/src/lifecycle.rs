//! A case's life: "what state is this case in, and who moved it?"
//!
//! `found` and `closed` end the search: the case leaves searches and the
//! matching of new sightings. `searching` reopens it. Who and when go to the
//! registry's audit log (which never names the child).

use homeward_core::store::{CaseId, CaseStatus, Registry};

use crate::MatchError;

/// Moves case `id` to `status` and returns the status it had. Setting the
/// status a case already has changes nothing and writes nothing.
///
/// # Errors
/// [`MatchError::Store`] when the case does not exist or the registry fails.
pub fn set_case_status(
    reg: &mut Registry,
    actor: &str,
    id: CaseId,
    status: CaseStatus,
) -> Result<CaseStatus, MatchError> {
    let before = reg.case(id)?.data.status;
    if before != status {
        reg.set_case_status(actor, id, status)?;
    }
    Ok(before)
}
