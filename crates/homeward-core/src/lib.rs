//! Homeward's engine: photos in, faces, embeddings and perceptual hashes out,
//! and the indexes and registry that match them.
//!
//! Everything here ranks candidates **for human review**; nothing in this crate
//! declares that two photos show the same child.

pub mod dlib;
pub mod faces;
pub mod hash;
pub mod index;
pub mod intake;
pub mod nn;
pub mod rules;
pub mod sface;
pub mod store;
