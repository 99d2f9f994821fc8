//! OPA-format bundles: the `.manifest`, OPA's file hashing (canonical JSON for structured files),
//! `.signatures.json` signing and verification, and `.tar.gz` archives with OPA's entry names.
//!
//! Everything works on bytes in memory; reading and writing files is the caller's job.

pub mod archive;
pub mod canonical;
pub mod contents;
pub mod hash;
pub mod keys;
pub mod manifest;
pub mod signing;

/// A bundle's files: (path without a leading `/`, bytes), in archive order.
pub type Files = Vec<(String, Vec<u8>)>;

pub use archive::{read_archive, read_archive_with, write_archive, ArchiveError};
pub use contents::{contents, contents_without_data, data_files, Contents};
pub use manifest::{Manifest, ManifestMetadata};
pub use signing::{
    sign, verify, verify_with, PublicKey, SigningKey, VerificationConfig, Verified, VerifyError,
};
