//! Inference layers on ndarray.
