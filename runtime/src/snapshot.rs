//! The snapshot format: a session's position and layer caches as bytes, to continue or rewind later.
//!
//! ```text
//! offset  field (u32 LE)
//!      0  magic b"GLMS"
//!      4  version (SNAPSHOT_VERSION)
//!      8  model checksum (Model::checksum: a snapshot restores only into the file that saved it)
//!     12  planned context
//!     16  position
//!     20  state words n
//!     24  CRC-32 (crate::format::crc32) of every other byte of the snapshot
//!     28  the layer caches: n f32 LE words, laid out by crate::plan
//! ```
//!
//! The version is bumped whenever the state layout ([`crate::plan`]) or this header changes. A
//! snapshot is accepted only whole: same model, same context, exact length, matching checksum;
//! a rejected one changes nothing.

use crate::format::{crc32, crc32_update};

/// `b"GLMS"`: a saved [`crate::Session`] state.
pub const SNAPSHOT_MAGIC: [u8; 4] = *b"GLMS";
/// Snapshot format version: bumped whenever the state layout ([`crate::plan::Plan`]) or this header
/// changes.
pub const SNAPSHOT_VERSION: u32 = 2;
/// Bytes of the header.
pub const SNAPSHOT_HEADER: usize = 28;
/// Offset of the snapshot's CRC-32 (the last header word).
pub const SNAPSHOT_CRC_OFFSET: usize = SNAPSHOT_HEADER - 4;

/// Why a snapshot could not be saved or restored.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub enum SnapshotError {
    /// The output buffer is smaller than [`crate::Session::snapshot_len`].
    BufferTooSmall {
        /// Bytes needed.
        needed: usize,
        /// Bytes given.
        have: usize,
    },
    /// The bytes do not start with `GLMS`.
    BadMagic,
    /// A snapshot format version this build does not read.
    UnsupportedVersion {
        /// Version in the snapshot.
        found: u32,
        /// Version this build reads.
        supported: u32,
    },
    /// The snapshot was taken with another model file (checksums differ).
    WrongModel {
        /// Model checksum in the snapshot.
        snapshot: u32,
        /// Checksum of this session's model.
        session: u32,
    },
    /// The snapshot was taken with a state planned for another context.
    WrongContext {
        /// Context in the snapshot.
        snapshot: u32,
        /// This session's context.
        session: u32,
    },
    /// The snapshot's length does not match its header.
    LengthMismatch {
        /// Bytes the header implies.
        expected: usize,
        /// Bytes given.
        have: usize,
    },
    /// The snapshot's bytes do not match its checksum (damaged in storage or transit).
    BadChecksum {
        /// Checksum in the snapshot.
        stored: u32,
        /// Checksum of its bytes.
        computed: u32,
    },
    /// The snapshot's position is one this session could not have reached: some layer's pattern
    /// cannot serve the position before it within the planned context.
    UnreachablePosition {
        /// Position in the snapshot.
        position: u32,
        /// This session's context.
        max_context: u32,
    },
}

impl core::fmt::Display for SnapshotError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match *self {
            SnapshotError::BufferTooSmall { needed, have } => {
                write!(f, "snapshot buffer too small: {needed} bytes needed, {have} given; size it with Session::snapshot_len")
            }
            SnapshotError::BadMagic => f.write_str("not a glmix snapshot (no GLMS magic)"),
            SnapshotError::UnsupportedVersion { found, supported } => {
                write!(f, "snapshot format version {found}; this build reads version {supported}")
            }
            SnapshotError::WrongModel { snapshot, session } => write!(
                f,
                "snapshot saved with another model file (checksum {snapshot:#010x}, this model's is {session:#010x})"
            ),
            SnapshotError::WrongContext { snapshot, session } => write!(
                f,
                "snapshot saved with a state planned for {snapshot} tokens; this session serves {session}"
            ),
            SnapshotError::LengthMismatch { expected, have } => {
                write!(f, "snapshot is {have} bytes; its header and this session imply {expected}")
            }
            SnapshotError::BadChecksum { stored, computed } => write!(
                f,
                "snapshot damaged: checksum {stored:#010x} stored, {computed:#010x} computed over its bytes"
            ),
            SnapshotError::UnreachablePosition { position, max_context } => write!(
                f,
                "snapshot at position {position}, which a session planned for {max_context} tokens never reaches"
            ),
        }
    }
}

impl core::error::Error for SnapshotError {}

/// Bytes of a snapshot of `state_words` words.
pub const fn len(state_words: usize) -> usize {
    SNAPSHOT_HEADER + 4 * state_words
}

/// What ties a snapshot to a session: its model file, planned context and state size.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Identity {
    pub model: u32,
    pub max_context: u32,
    pub words: usize,
}

/// CRC-32 of a snapshot's bytes, skipping its checksum word.
fn crc(bytes: &[u8]) -> u32 {
    let head = bytes.get(..SNAPSHOT_CRC_OFFSET).unwrap_or(bytes);
    let body = bytes.get(SNAPSHOT_HEADER..).unwrap_or(&[]);
    crc32_update(crc32(head), body)
}

/// Writes the snapshot of `state` (`id.words` words) at position `pos` into `out`; returns its length.
pub(crate) fn save(id: Identity, pos: u32, state: &[f32], out: &mut [u8]) -> Result<usize, SnapshotError> {
    let needed = len(id.words);
    let have = out.len();
    let out = out.get_mut(..needed).ok_or(SnapshotError::BufferTooSmall { needed, have })?;
    let (head, body) = out.split_at_mut(SNAPSHOT_HEADER);
    let fields = [
        u32::from_le_bytes(SNAPSHOT_MAGIC),
        SNAPSHOT_VERSION,
        id.model,
        id.max_context,
        pos,
        id.words as u32,
    ];
    for (dst, v) in head.chunks_exact_mut(4).zip(fields) {
        dst.copy_from_slice(&v.to_le_bytes());
    }
    let words = state.get(..id.words).unwrap_or(&[]);
    for (dst, w) in body.chunks_exact_mut(4).zip(words) {
        dst.copy_from_slice(&w.to_le_bytes());
    }
    let crc = crc(out);
    if let Some(dst) = out.get_mut(SNAPSHOT_CRC_OFFSET..SNAPSHOT_HEADER) {
        dst.copy_from_slice(&crc.to_le_bytes());
    }
    Ok(needed)
}

/// Checks `bytes` against `id` and, when accepted, copies its caches into `state` and returns the
/// saved position; `state` is untouched on error.
/// `reachable(pos)` says whether a session of this model could stand at `pos`; a snapshot at any other
/// position is refused before `state` changes.
pub(crate) fn restore(
    id: Identity,
    bytes: &[u8],
    state: &mut [f32],
    reachable: impl Fn(u32) -> bool,
) -> Result<u32, SnapshotError> {
    let word = |i: usize| {
        let b = bytes.get(4 * i..4 * i + 4).and_then(|b| <[u8; 4]>::try_from(b).ok());
        b.map(u32::from_le_bytes)
    };
    let expected = len(id.words);
    let short = SnapshotError::LengthMismatch { expected, have: bytes.len() };
    if word(0).ok_or(short)? != u32::from_le_bytes(SNAPSHOT_MAGIC) {
        return Err(SnapshotError::BadMagic);
    }
    let version = word(1).ok_or(short)?;
    if version != SNAPSHOT_VERSION {
        return Err(SnapshotError::UnsupportedVersion { found: version, supported: SNAPSHOT_VERSION });
    }
    let (model, context) = (word(2).ok_or(short)?, word(3).ok_or(short)?);
    if model != id.model {
        return Err(SnapshotError::WrongModel { snapshot: model, session: id.model });
    }
    if context != id.max_context {
        return Err(SnapshotError::WrongContext { snapshot: context, session: id.max_context });
    }
    let (pos, words) = (word(4).ok_or(short)?, word(5).ok_or(short)? as usize);
    if words != id.words || bytes.len() != expected {
        return Err(short);
    }
    let (stored, computed) = (word(6).ok_or(short)?, crc(bytes));
    if stored != computed {
        return Err(SnapshotError::BadChecksum { stored, computed });
    }
    if !reachable(pos) {
        return Err(SnapshotError::UnreachablePosition { position: pos, max_context: id.max_context });
    }
    let body = bytes.get(SNAPSHOT_HEADER..).unwrap_or(&[]);
    let state = state.get_mut(..words).unwrap_or(&mut []);
    for (dst, &src) in state.iter_mut().zip(body.as_chunks::<4>().0) {
        *dst = f32::from_le_bytes(src);
    }
    Ok(pos)
}

#[cfg(test)]
mod tests {
    use super::*;
    extern crate std;
    use std::string::ToString;

    const ID: Identity = Identity { model: 0xdead_beef, max_context: 16, words: 3 };

    fn saved() -> [u8; len(3)] {
        let mut out = [0u8; len(3)];
        assert_eq!(save(ID, 5, &[1.0, -2.0, 0.5, 9.0], &mut out), Ok(len(3)));
        out
    }

    #[test]
    fn an_unreachable_position_is_refused_before_the_state_changes() {
        let mut state = [7.0f32; 4];
        let err = restore(ID, &saved(), &mut state, |pos| pos < 5).unwrap_err();
        assert_eq!(err, SnapshotError::UnreachablePosition { position: 5, max_context: 16 });
        assert_eq!(state, [7.0; 4]);
    }

    #[test]
    fn round_trip_restores_words_and_position() {
        let mut state = [0.0f32; 4];
        assert_eq!(restore(ID, &saved(), &mut state, |_| true), Ok(5));
        assert_eq!(state, [1.0, -2.0, 0.5, 0.0], "only the planned words are saved");
    }

    #[test]
    fn rejections_change_nothing_and_say_why() {
        let mut state = [7.0f32; 3];
        let mut short = [0u8; len(3) - 1];
        assert_eq!(
            save(ID, 0, &state, &mut short),
            Err(SnapshotError::BufferTooSmall { needed: 40, have: 39 })
        );
        let cases: [(usize, u8, SnapshotError); 4] = [
            (0, b'X', SnapshotError::BadMagic),
            (4, 9, SnapshotError::UnsupportedVersion { found: 9, supported: SNAPSHOT_VERSION }),
            (12, 17, SnapshotError::WrongContext { snapshot: 17, session: 16 }),
            (30, 1, SnapshotError::BadChecksum { stored: 0, computed: 0 }),
        ];
        for (at, byte, want) in cases {
            let mut bytes = saved();
            bytes[at] = byte;
            let got = restore(ID, &bytes, &mut state, |_| true);
            match want {
                SnapshotError::BadChecksum { .. } => {
                    assert!(matches!(got, Err(SnapshotError::BadChecksum { .. })))
                }
                _ => assert_eq!(got, Err(want)),
            }
            assert_eq!(state, [7.0; 3]);
        }
        let other = Identity { model: 1, ..ID };
        assert!(matches!(
            restore(other, &saved(), &mut state, |_| true),
            Err(SnapshotError::WrongModel { snapshot: 0xdead_beef, .. })
        ));
        let err = restore(ID, &saved()[..20], &mut state, |_| true).unwrap_err();
        assert_eq!(err, SnapshotError::LengthMismatch { expected: 40, have: 20 });
        assert_eq!(err.to_string(), "snapshot is 20 bytes; its header and this session imply 40");
        let err: &dyn core::error::Error = &SnapshotError::WrongModel { snapshot: 1, session: 2 };
        assert!(err.to_string().contains("0x00000001"));
    }
}
