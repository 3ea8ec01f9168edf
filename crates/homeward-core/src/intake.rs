//! Image intake: decoding with limits, orientation and colour handling.
