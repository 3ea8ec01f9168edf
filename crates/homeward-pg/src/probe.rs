//! "Is there a registry in this database?", asked without creating one, so
//! that a mistyped `--db` cannot start an empty registry.

use crate::error::{self, PgError};

/// Whether the database at `url` holds a Homeward registry (of any schema
/// version). Connects, reads, and changes nothing.
///
/// # Errors
/// [`PgError::BadUrl`] or [`PgError::Connect`] when the database cannot be
/// reached.
pub fn registry_exists(url: &str) -> Result<bool, PgError> {
    let (config, target) = crate::config_of(url)?;
    let mut client = crate::connect_client(&config, &target)?;
    let row = client
        .query_one("SELECT to_regclass('homeward_schema') IS NOT NULL", &[])
        .map_err(|e| PgError::Store(error::store_error(e, &target)))?;
    Ok(row.get(0))
}
