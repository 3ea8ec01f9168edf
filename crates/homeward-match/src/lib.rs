//! Homeward's matching library: every use case and all matching policy.
//!
//! Homeward matches photos of children seen on the street against a registry
//! of missing children and ranks candidates **for a person to review**; it
//! never declares a match by itself. The fronts (the `homeward` CLI and its
//! web server) parse input, call this library and render what it returns.
//!
//! - [`Matcher`]: the registry, its duplicate index and the policy, kept in
//!   step; one method per use case (register a case, add a photo, submit a
//!   sighting, search, review, batch, erase, case status ([`lifecycle`])).
//! - [`timeline`]: a case's whole life in order; [`review`]: assignment and
//!   "new since you last looked"; [`export`]: CSV for spreadsheets.
//! - [`Analyzer`]: a photo read the same way for every front
//!   (flip-averaged embeddings, [`Analysis`]).
//! - [`policy`]: every threshold that decides what a person is shown;
//!   [`ranking`]: the children's calibration, bands and priors;
//!   [`hashing`]: "are these photo files the same picture?".
//!
//! Photo in, ranked shortlist out:
//!
//! ```
//! use homeward_core::store::{CaseStatus, NewCase, PhotoMeta, Sex};
//! use homeward_match::{Analysis, Analyzer, Matcher, Policy};
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let fixtures = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fixtures");
//! let dir = tempfile::tempdir()?;
//! let analyzer = Analyzer::bundled(Analysis::default())?;
//! let mut matcher = Matcher::open(dir.path(), Policy::shipped()?)?;
//!
//! let case = matcher.register_case("doc", &NewCase {
//!     child_name: "A. Child".into(),
//!     sex: Sex::Male,
//!     birth_date: Some("1961-08-04".into()),
//!     birth_year: None,
//!     missing_date: Some("2008-01-01".into()),
//!     missing_place: "doc".into(),
//!     missing_location: None,
//!     status: CaseStatus::Searching,
//!     contact_ref: None,
//!     notes: None,
//! })?;
//! let photo = analyzer.photo_path(&fixtures.join("obama.jpg"))?;
//! matcher.add_photo("doc", case, &photo, &PhotoMeta::default())?;
//!
//! let seen = analyzer.photo_path(&fixtures.join("obama.jpg"))?;
//! let meta = homeward_match::ranking::QueryMeta::default();
//! let shortlist = matcher.search(&seen, &meta, 5, &[CaseStatus::Searching])?;
//! assert_eq!(shortlist[0].case_id, case);
//! # Ok(()) }
//! ```

#![deny(missing_docs)]

pub mod batch;
pub mod export;
pub mod hashing;
#[cfg(feature = "postgres")]
pub mod ingest;
pub mod input;
pub mod lifecycle;
pub mod manifest;
mod matcher;
pub mod matching;
pub mod models;
pub mod notify;
pub mod policy;
pub mod ranking;
pub mod review;
pub mod timeline;

pub use matcher::{Analysis, Analyzer, Matcher};
pub use matching::{
    Analyzed, DupIndex, EnrolledPhoto, MatchError, Queued, Repeat, SightingOutcome, Surfaced,
};
pub use policy::SamePhotoRule;
pub use ranking::{Band, Candidate, Policy, QueryMeta};
