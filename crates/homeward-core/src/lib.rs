//! Homeward's engine: photos in, faces, embeddings and perceptual hashes out,
//! and the indexes and registry that match them.
//!
//! Everything here ranks candidates **for human review**; nothing in this crate
//! declares that two photos show the same child, and nothing here decides
//! policy (thresholds, bands, calibration): callers pass those in.
//!
//! # Surface
//!
//! The types most callers need are re-exported at the root; each module keeps
//! its full API:
//!
//! - input: [`intake`] (untrusted bytes to an upright image), [`rules`] (the
//!   one set of input rules: sex, dates, apparent ages, statuses, names);
//! - analysis: [`faces`] ([`FaceEngine`]), [`sface`], [`yunet`] ([`YuNet`]), [`hash`] (PDQ and chip
//!   hashes, the Hamming index), with the model readers and kernels in
//!   [`dlib`], [`nn`] and [`geometry`]; [`cancel`] stops an analysis between layers;
//! - records: [`index`] (nearest faces), [`store`] ([`Registry`], the
//!   [`Store`] contract, typed reads, accounts, versioned stored scores).
//!
//! Modules form no import cycle: `rules`, `geometry` and `cancel` are leaves that the
//! others use (see `docs/ARCHITECTURE.md`).
//!
//! # Documentation lint
//!
//! `#![deny(missing_docs)]` makes every public item of this crate carry a
//! doc comment: modules, types, fields, variants, functions, constants and
//! re-exports' targets. Crate-private items and test code are not checked.
//!
//! ```
//! use homeward_core::{CalendarDate, Sex};
//! assert_eq!("boy".parse::<Sex>().unwrap(), Sex::Male);
//! assert!("2024-02-30".parse::<CalendarDate>().is_err());
//! ```

#![deny(missing_docs)]

pub mod cancel;
pub mod dlib;
pub mod faces;
pub mod geometry;
pub mod hash;
pub mod index;
pub mod intake;
pub mod nn;
pub mod rules;
pub mod sface;
pub mod store;
pub mod yunet;

pub use faces::{Face, FaceEngine, FaceOptions};
pub use hash::{HammingIndex, Hash256};
pub use index::{Embedding, SearchFilter};
pub use intake::{DecodeError, Limits};
pub use rules::{AgeRange, CalendarDate, CaseStatus, FreeText, MatchState, Name, Sex};
pub use store::{Registry, Store, StoreError, StoredScores};
pub use yunet::{YuNet, YuNetDetection, YuNetOptions};
