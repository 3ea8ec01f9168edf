//! What every store refuses of the model slot, engine-free so that each
//! [`super::Store`] implementation calls the same checks: a model it could
//! not index, and a vector it could not compare with the ones it holds.

use std::collections::HashMap;

use super::types::{FaceId, FaceRecord};
use super::vectors::ModelSpec;
use super::StoreError;
use crate::index::{Embedding, DIM, MAX_DIM};

/// Refuses a model a registry could not index: no name or version, or a
/// dimension no index holds (each model's index takes its model's
/// dimension, 1..=[`MAX_DIM`]).
pub fn check_spec(spec: &ModelSpec) -> Result<(), StoreError> {
    let bad = |why: String| StoreError::Invalid {
        field: "model",
        why,
    };
    if spec.name.trim().is_empty() || spec.version.trim().is_empty() {
        return Err(bad("a model needs a name and a version".into()));
    }
    if spec.dim == 0 || spec.dim as usize > MAX_DIM {
        return Err(bad(format!(
            "{} declares {}-d vectors; a face index holds 1 to {MAX_DIM} numbers per vector, \
             so check the model's declared dimension",
            spec.name, spec.dim
        )));
    }
    Ok(())
}

/// A model's vectors (`read`, at the model's dimension) as the 128-d
/// vectors the ranking reads (SFace's and dlib's dimension); a vector of
/// another length is left out. A model of another dimension (among
/// `specs`) is refused: it has its own index and is read whole
/// ([`super::Registry::model_vectors_of`]). Both stores' `vectors_of`.
pub fn as_128(
    specs: &[ModelSpec],
    model: &str,
    read: impl FnOnce() -> Result<HashMap<FaceId, Vec<f32>>, StoreError>,
) -> Result<HashMap<FaceId, Embedding>, StoreError> {
    if let Some(spec) = specs.iter().find(|m| m.name == model) {
        if spec.dim as usize != DIM {
            return Err(StoreError::Invalid {
                field: "model",
                why: format!(
                    "{} gives {}-d vectors, and this reads {DIM}-d vectors; search it through its \
                     own index (search_model) and read its vectors with model_vectors_of",
                    spec.name, spec.dim
                ),
            });
        }
    }
    Ok(read()?
        .into_iter()
        .filter_map(|(id, v)| Some((id, <Embedding>::try_from(v.as_slice()).ok()?)))
        .collect())
}

/// Why `v` is not a vector of `spec` (wrong length, a non-finite value).
pub fn check_vector(spec: &ModelSpec, v: &[f32]) -> Result<(), String> {
    if v.len() != spec.dim as usize {
        return Err(format!(
            "{} vector of length {}, expected {}",
            spec.name,
            v.len(),
            spec.dim
        ));
    }
    if v.iter().any(|x| !x.is_finite()) {
        return Err(format!("{} vector has a non-finite value", spec.name));
    }
    Ok(())
}

/// Refuses the vectors of an enabled model (one of `specs`) that the
/// registry could not compare with its own: another version, another
/// length or non-finite values. Vectors of models not enabled pass (they
/// are not kept).
pub fn check_vectors(specs: &[ModelSpec], faces: &[FaceRecord]) -> Result<(), StoreError> {
    for (i, f) in faces.iter().enumerate() {
        for v in &f.vectors {
            let Some(spec) = specs.iter().find(|m| m.name == v.model) else {
                continue;
            };
            if spec.version != v.version {
                return Err(StoreError::Invalid {
                    field: "vector",
                    why: format!(
                        "face {i}: {} vector of version {}, but the registry holds version {}; \
                         use a build with the registry's version",
                        v.model, v.version, spec.version
                    ),
                });
            }
            check_vector(spec, &v.vector).map_err(|why| StoreError::Invalid {
                field: "vector",
                why: format!("face {i}: {why}"),
            })?;
        }
    }
    Ok(())
}

/// Refuses a vector given for face `id` to store later (a re-embedding job).
pub fn check_stored_vector(spec: &ModelSpec, id: u64, v: &[f32]) -> Result<(), StoreError> {
    check_vector(spec, v).map_err(|why| StoreError::Invalid {
        field: "vector",
        why: format!("face {id}: {why}"),
    })
}

/// Refuses enabling `spec` when a model of the same name is enabled with
/// another version, length or metric (`enabled`); `Ok(true)` when it is
/// new and may be enabled, `Ok(false)` when it is enabled already.
pub fn check_enable(enabled: &[ModelSpec], spec: &ModelSpec) -> Result<bool, StoreError> {
    match enabled.iter().find(|m| m.name == spec.name) {
        Some(m) if m == spec => Ok(false),
        Some(m) => Err(StoreError::Invalid {
            field: "model",
            why: format!(
                "{} is enabled at version {} ({}-d); this program's is {} ({}-d), and \
                 the two are never compared: use a build with the registry's version",
                m.name, m.version, m.dim, spec.version, spec.dim
            ),
        }),
        None => check_spec(spec).map(|()| true),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::Metric;

    fn spec() -> ModelSpec {
        ModelSpec {
            name: "sface".into(),
            version: "v1".into(),
            dim: DIM as u32,
            metric: Metric::Cosine,
        }
    }

    #[test]
    fn enabling_is_idempotent_and_never_at_another_version_or_length() {
        assert!(check_enable(&[], &spec()).unwrap());
        assert!(!check_enable(&[spec()], &spec()).unwrap());
        let other = ModelSpec {
            version: "v2".into(),
            ..spec()
        };
        assert!(check_enable(&[spec()], &other).is_err());
        // Any dimension an index holds is a model of its own...
        let wide = ModelSpec {
            name: "wide".into(),
            dim: 512,
            ..spec()
        };
        assert!(check_enable(&[spec()], &wide).unwrap());
        // ...but not the same model at another dimension, nor none at all.
        let sface_wide = ModelSpec { dim: 512, ..spec() };
        assert!(check_enable(&[spec()], &sface_wide)
            .unwrap_err()
            .to_string()
            .contains("512-d"));
        for dim in [0, MAX_DIM as u32 + 1] {
            let odd = ModelSpec {
                dim,
                ..wide.clone()
            };
            assert!(check_enable(&[], &odd)
                .unwrap_err()
                .to_string()
                .contains(&format!("{dim}-d")));
        }
        let unnamed = ModelSpec {
            name: " ".into(),
            ..spec()
        };
        assert!(check_enable(&[], &unnamed).is_err());
    }

    #[test]
    fn vectors_of_wrong_length_or_non_finite_are_refused() {
        assert!(check_vector(&spec(), &[0.0; DIM]).is_ok());
        assert!(check_vector(&spec(), &[0.0; 3])
            .unwrap_err()
            .contains("length 3"));
        let mut v = vec![0.0; DIM];
        v[1] = f32::INFINITY;
        assert!(check_stored_vector(&spec(), 7, &v)
            .unwrap_err()
            .to_string()
            .contains("face 7"));
    }
}
