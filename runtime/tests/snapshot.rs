//! Session snapshots: save, continue, restore (rewind) and continue again gives identical tokens;
//! a snapshot of another model, another context or damaged bytes (checksum) is rejected and changes
//! nothing. `fuzz/` has a target for restoring arbitrary and damaged snapshots.

use glmix::builder::AlignedBytes;
use glmix::builder::{random_model, RandomLayer, RandomSpec};
use glmix::plan::Plan;
use glmix::snapshot::{SNAPSHOT_MAGIC, SNAPSHOT_VERSION};
use glmix::{Model, Session, SnapshotError};

fn model(seed: u64) -> AlignedBytes {
    let lattice = RandomLayer { pattern: 6, param: 0, form: 2, n_heads: 2, n_kv_heads: 2 };
    let attention = RandomLayer { pattern: 0, param: 0, form: 0, n_heads: 2, n_kv_heads: 1 };
    let ssm = RandomLayer { pattern: 2, param: 1, form: 3, n_heads: 2, n_kv_heads: 2 };
    let loglinear = RandomLayer { pattern: 4, param: 0, form: 3, n_heads: 2, n_kv_heads: 2 };
    let spec = RandomSpec::small(vec![lattice, attention, ssm, loglinear]);
    AlignedBytes::new(&random_model(&spec, seed).unwrap().to_bytes().unwrap())
}

fn argmax(x: &[f32]) -> u32 {
    x.iter().enumerate().max_by(|a, b| a.1.total_cmp(b.1)).map_or(0, |(i, _)| i as u32)
}

/// Greedy continuation of `n` tokens from the session's current state.
fn continue_greedy(session: &mut Session<'_, '_>, first: u32, n: usize) -> Vec<u32> {
    let mut out = Vec::new();
    let mut token = first;
    for _ in 0..n {
        token = argmax(session.step(token).unwrap());
        out.push(token);
    }
    out
}

#[test]
fn restore_rewinds_exactly() {
    let bytes = model(1);
    let m = Model::parse(bytes.as_bytes()).unwrap();
    let context = 200;
    let mut state = vec![0f32; Plan::new(&m, context).total_words()];
    let mut session = Session::new(&m, context, &mut state).unwrap();
    continue_greedy(&mut session, 10, 37);
    let mut snap = vec![0u8; session.snapshot_len()];
    assert_eq!(session.save(&mut snap).unwrap(), snap.len());
    let first = continue_greedy(&mut session, 5, 60);
    session.restore(&snap).unwrap();
    assert_eq!(session.position(), 37);
    assert_eq!(continue_greedy(&mut session, 5, 60), first, "restored decoding must repeat exactly");

    // Into a fresh session too.
    let mut state2 = vec![0f32; Plan::new(&m, context).total_words()];
    let mut other = Session::new(&m, context, &mut state2).unwrap();
    other.restore(&snap).unwrap();
    assert_eq!(continue_greedy(&mut other, 5, 60), first);
}

#[test]
fn mismatched_snapshots_are_rejected_and_change_nothing() {
    let (a, b) = (model(1), model(2));
    let (ma, mb) = (Model::parse(a.as_bytes()).unwrap(), Model::parse(b.as_bytes()).unwrap());
    let mut sa = vec![0f32; Plan::new(&ma, 64).total_words()];
    let mut session = Session::new(&ma, 64, &mut sa).unwrap();
    continue_greedy(&mut session, 1, 9);
    let mut snap = vec![0u8; session.snapshot_len()];
    session.save(&mut snap).unwrap();
    assert!(matches!(session.save(&mut [0u8; 10]), Err(SnapshotError::BufferTooSmall { have: 10, .. })));

    let mut sb = vec![0f32; Plan::new(&mb, 64).total_words()];
    let mut wrong_model = Session::new(&mb, 64, &mut sb).unwrap();
    assert!(matches!(wrong_model.restore(&snap), Err(SnapshotError::WrongModel { .. })));
    assert_eq!(wrong_model.position(), 0);

    let mut sc = vec![0f32; Plan::new(&ma, 128).total_words()];
    let mut wrong_context = Session::new(&ma, 128, &mut sc).unwrap();
    assert_eq!(wrong_context.restore(&snap), Err(SnapshotError::WrongContext { snapshot: 64, session: 128 }));

    let mut bad = snap.clone();
    bad[0] = b'X';
    assert_eq!(session.restore(&bad), Err(SnapshotError::BadMagic));
    let mut bad = snap.clone();
    bad[4..8].copy_from_slice(&(SNAPSHOT_VERSION + 1).to_le_bytes());
    assert!(matches!(session.restore(&bad), Err(SnapshotError::UnsupportedVersion { .. })));
    assert!(matches!(session.restore(&snap[..snap.len() - 4]), Err(SnapshotError::LengthMismatch { .. })));
    assert!(matches!(session.restore(&snap[..3]), Err(SnapshotError::LengthMismatch { .. })));
    for at in [16, 30, snap.len() - 1] {
        // The position, a cache word, the last byte: any damage fails the checksum.
        let mut bad = snap.clone();
        bad[at] ^= 0x40;
        assert!(matches!(session.restore(&bad), Err(SnapshotError::BadChecksum { .. })), "byte {at}");
    }
    assert_eq!(&snap[..4], &SNAPSHOT_MAGIC);
    assert_eq!(session.position(), 9, "a rejected restore changes nothing");
}
