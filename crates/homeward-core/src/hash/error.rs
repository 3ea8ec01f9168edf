//! The one error type of the `hash` module.

/// Why a hash could not be computed, parsed, or an index file read.
#[derive(Debug, thiserror::Error)]
pub enum HashError {
    /// The photo is smaller than the hash can meaningfully describe.
    #[error(
        "photo is {width}x{height} px but a PDQ hash needs at least {min}x{min} px; \
         use the original upload or a larger copy instead of a thumbnail"
    )]
    ImageTooSmall {
        /// Width in pixels.
        width: u32,
        /// Height in pixels.
        height: u32,
        /// Smallest accepted value.
        min: u32,
    },

    /// The face chip does not have the size the face pipeline produces.
    #[error(
        "face chip is {width}x{height} px but must be {expected}x{expected} px; \
         pass the aligned chip from the face pipeline, not a raw crop"
    )]
    ChipSize {
        /// Width in pixels.
        width: u32,
        /// Height in pixels.
        height: u32,
        /// What was expected.
        expected: u32,
    },

    /// The face chip is almost flat, so its hash would describe noise.
    #[error(
        "face chip contrast is {contrast:.2} (luma standard deviation), below the minimum {min:.2}; \
         the face is too dark, blown out or blank to hash: use a better photo"
    )]
    ChipLowContrast {
        /// Measured contrast.
        contrast: f32,
        /// Smallest accepted value.
        min: f32,
    },

    /// A hex string is not a 256-bit hash.
    #[error("invalid 256-bit hash hex ({len} chars): {reason}; expected exactly 64 hex digits")]
    InvalidHex {
        /// Length of the input.
        len: usize,
        /// Why it was refused.
        reason: &'static str,
    },

    /// An id was added to an index that already holds it.
    #[error("id {id} is already in the Hamming index; remove it first to replace its hash")]
    DuplicateId {
        /// The id.
        id: u64,
    },

    /// The index holds more entries than its slot numbers can address.
    #[error("the Hamming index is full ({limit} entries); split the collection across indexes")]
    IndexFull {
        /// Largest number of entries.
        limit: u64,
    },

    /// Reading or writing an index file failed.
    #[error("cannot read or write the Hamming index file: {source}; check the path, disk space and permissions")]
    Io {
        #[from]
        /// The OS error.
        source: std::io::Error,
    },

    /// The file does not start with the index's magic number.
    #[error(
        "not a Homeward Hamming index file (magic bytes {found:02x?}); \
         check that you passed the right file"
    )]
    BadMagic {
        /// Value in the file.
        found: [u8; 8],
    },

    /// The file was written by a format version this build cannot read.
    #[error(
        "Hamming index file has format version {found}, but this build reads versions \
         {oldest} to {current}; rebuild the index from the registry or use a matching Homeward"
    )]
    UnsupportedVersion {
        /// Value in the file.
        found: u32,
        /// Oldest readable version.
        oldest: u32,
        /// Current version.
        current: u32,
    },

    /// The file's contents do not match its checksum.
    #[error(
        "Hamming index file is corrupted: CRC-32 is {computed:08x}, the file says {stored:08x}; \
         rebuild the index from the registry"
    )]
    ChecksumMismatch {
        /// Checksum stored in the file.
        stored: u32,
        /// Checksum of the bytes read.
        computed: u32,
    },

    /// The file's header describes something this build does not know.
    #[error("Hamming index file is malformed: {reason}; rebuild the index from the registry")]
    Malformed {
        /// Why it was refused.
        reason: String,
    },
}
