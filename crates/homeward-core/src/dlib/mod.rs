//! dlib's model files: where they come from, how they are checked, and how
//! their serialized contents are read.
//!
//! The three CC0 models ship in the repository's `models/` folder (see
//! `models/README.md`). Each file is checked against its SHA-256 before it is
//! parsed, so a wrong, truncated or corrupted file is refused with a message
//! naming it.

pub(crate) mod format;
pub mod mmod;
pub(crate) mod resize;
pub(crate) mod shape_predictor;

use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

/// Why a model file could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum ModelError {
    /// The file could not be read.
    #[error("cannot read model file {path}: {source}; check that the path is right and readable")]
    Io {
        /// The file.
        path: PathBuf,
        #[source]
        /// The OS error.
        source: std::io::Error,
    },
    /// The file is not the published model (wrong file, truncated or corrupted).
    #[error(
        "model file {name} has SHA-256 {actual}, expected {expected}; \
         it is the wrong file or is corrupted: restore it from the repository's models/ folder"
    )]
    Checksum {
        /// What was checked.
        name: String,
        /// What was expected.
        expected: String,
        /// What was found.
        actual: String,
    },
    /// The bytes do not follow dlib's format where the reader expected them to.
    #[error("model file {model} is malformed at byte offset {offset}: {message}")]
    Format {
        /// The model file.
        model: String,
        /// Byte offset of the problem.
        offset: usize,
        /// What is wrong.
        message: String,
    },
    /// A layer's weights do not have the shape the network definition needs.
    #[error("model file {model}: layer {layer}: expected {expected}, got {got}")]
    Shape {
        /// The model file.
        model: String,
        /// The layer.
        layer: String,
        /// What was expected.
        expected: String,
        /// What was found.
        got: String,
    },
}

/// One of the published dlib models Homeward uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ModelKind {
    /// `mmod_human_face_detector.dat`: the CNN face detector.
    Detector,
    /// `shape_predictor_5_face_landmarks.dat`: the 5-point landmark predictor.
    Landmarks,
    /// `dlib_face_recognition_resnet_model_v1.dat`: the 128-d embedding ResNet.
    Embedder,
}

impl ModelKind {
    /// The file name dlib published it under.
    pub fn file_name(self) -> &'static str {
        match self {
            ModelKind::Detector => "mmod_human_face_detector.dat",
            ModelKind::Landmarks => "shape_predictor_5_face_landmarks.dat",
            ModelKind::Embedder => "dlib_face_recognition_resnet_model_v1.dat",
        }
    }

    /// SHA-256 of the file in PyPI `face-recognition-models==0.3.0`.
    pub fn sha256(self) -> &'static str {
        match self {
            ModelKind::Detector => {
                "4cb19393e2fbaf2b1609a9319ad5386618c886a6234ec1b971f3e87c85d87fe6"
            }
            ModelKind::Landmarks => {
                "c4b1e9804792707d3a405c2c16a80a20269e6675021f64a41d30fffafbc41888"
            }
            ModelKind::Embedder => {
                "55533b28a95800a551ba546ba62fe69625c7e95a7061c338adffead08719da30"
            }
        }
    }

    /// The model's bytes as built into this binary (feature `bundled-models`).
    #[cfg(feature = "bundled-models")]
    pub fn bundled_bytes(self) -> &'static [u8] {
        match self {
            ModelKind::Detector => {
                include_bytes!("../../../../models/mmod_human_face_detector.dat")
            }
            ModelKind::Landmarks => {
                include_bytes!("../../../../models/shape_predictor_5_face_landmarks.dat")
            }
            ModelKind::Embedder => {
                include_bytes!("../../../../models/dlib_face_recognition_resnet_model_v1.dat")
            }
        }
    }
}

/// Checks `bytes` against the published checksum of `kind`.
pub(crate) fn verify(kind: ModelKind, bytes: &[u8]) -> Result<(), ModelError> {
    let actual = hex(&Sha256::digest(bytes));
    if actual != kind.sha256() {
        return Err(ModelError::Checksum {
            name: kind.file_name().to_string(),
            expected: kind.sha256().to_string(),
            actual,
        });
    }
    Ok(())
}

/// Reads `dir/<file name of kind>` and verifies its checksum.
pub(crate) fn read_verified(dir: &Path, kind: ModelKind) -> Result<Vec<u8>, ModelError> {
    let path = dir.join(kind.file_name());
    let bytes = std::fs::read(&path).map_err(|source| ModelError::Io {
        path: path.clone(),
        source,
    })?;
    verify(kind, &bytes)?;
    Ok(bytes)
}

/// Parses `bytes` as the model `kind` **without** checking its SHA-256, and
/// throws the result away. Only for fuzzing (`fuzz/fuzz_targets/dlib_model.rs`)
/// and its corpus replay: the checksum would stop every mutated input before
/// the parser. Loading a model for use always goes through the checked
/// constructors ([`resnet::ResNet::from_bytes`], [`mmod::Mmod::from_bytes`],
/// [`crate::faces::ShapePredictor::from_bytes`]).
#[doc(hidden)]
pub fn parse_unchecked(kind: ModelKind, bytes: &[u8]) -> Result<(), ModelError> {
    match kind {
        ModelKind::Detector => mmod::Mmod::parse(bytes).map(drop),
        ModelKind::Embedder => resnet::ResNet::parse(bytes).map(drop),
        ModelKind::Landmarks => {
            shape_predictor::ShapePredictorModel::parse(bytes, kind.file_name()).map(drop)
        }
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

pub(crate) mod net;
pub mod resnet;
