//! Plane geometry shared by the model readers (`dlib`, `sface`) and the face
//! pipeline (`faces`): integer boxes with dlib's inclusive corners, box
//! overlap, affine maps and the similarity fit. A leaf: it imports nothing
//! else from the crate, so `dlib` no longer reaches into `faces` for it.

mod affine;
mod rect;

pub use affine::Affine;
pub use rect::Rect;

pub(crate) use affine::similarity_transform;
pub(crate) use rect::BoxOverlap;
