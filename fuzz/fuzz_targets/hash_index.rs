//! The hash-index file reader (`HammingIndex::load`) on arbitrary bytes, as
//! given and with a valid trailing CRC-32 appended so that inputs reach the
//! entry parser behind the checksum. Must never panic or over-allocate.
#![no_main]

use homeward_core::hash::HammingIndex;
use libfuzzer_sys::fuzz_target;

/// Bytes per stored entry (u64 id + 256-bit hash) and of the header.
const ENTRY_LEN: usize = 40;
const HEADER_LEN: usize = 24;

fuzz_target!(|data: &[u8]| {
    let _ = HammingIndex::load(data);
    let mut with_crc = data.to_vec();
    with_crc.extend_from_slice(&crc32fast::hash(data).to_le_bytes());
    if let Ok(index) = HammingIndex::load(with_crc.as_slice()) {
        // Nothing is invented: every entry came from the input.
        assert!(index.len() <= data.len().saturating_sub(HEADER_LEN) / ENTRY_LEN);
    }
});
