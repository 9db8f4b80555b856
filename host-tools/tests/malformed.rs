//! A corpus of malformed model files: each must be rejected with its specific error, never a panic.

use glmix::format::{self, ENTRY_LEN, HEADER_LEN, LAYER_LEN};
use glmix::{LoadError, Model};
use glmix_tools::random::{random_model, RandomLayer, RandomSpec, Rng};
use glmix_tools::writer::AlignedBytes;

fn valid() -> Vec<u8> {
    let layer = RandomLayer { pattern: 4, param: 0, form: 1, n_heads: 2, n_kv_heads: 2 };
    let spec = RandomSpec::small(vec![layer, RandomLayer { pattern: 0, form: 0, ..layer }]);
    random_model(&spec, 7).unwrap().to_bytes().unwrap()
}

fn parse(bytes: &[u8]) -> Result<(), LoadError> {
    let aligned = AlignedBytes::new(bytes);
    Model::parse(aligned.as_bytes()).map(|_| ())
}

/// Recomputes the checksum after an edit, so the edit itself is what the parser sees.
fn reseal(bytes: &mut [u8]) {
    let version = u32::from_le_bytes(bytes[4..8].try_into().unwrap());
    let crc = format::model_crc(bytes, version);
    bytes[12..16].copy_from_slice(&crc.to_le_bytes());
}

fn table_offset(bytes: &[u8]) -> usize {
    let n_layers = u32::from_le_bytes(bytes[16..20].try_into().unwrap()) as usize;
    HEADER_LEN + n_layers * LAYER_LEN
}

#[test]
fn the_valid_file_parses() {
    parse(&valid()).unwrap();
}

#[test]
fn truncation_at_every_record_boundary_and_inside() {
    let bytes = valid();
    let table = table_offset(&bytes);
    let mut cuts = vec![
        0,
        3,
        4,
        8,
        64,
        HEADER_LEN - 1,
        HEADER_LEN,
        HEADER_LEN + LAYER_LEN,
        table,
        table + ENTRY_LEN,
        table + 3 * ENTRY_LEN + 5,
    ];
    cuts.push(bytes.len() - 1);
    cuts.push(bytes.len() / 2);
    for cut in cuts {
        let err = parse(&bytes[..cut]).unwrap_err();
        assert!(matches!(err, LoadError::Truncated { .. }), "cut at {cut}: {err:?}");
    }
    assert_eq!(parse(&bytes[..100]), Err(LoadError::Truncated { offset: 0, needed: HEADER_LEN }));
}

#[test]
fn wrong_magic() {
    let mut bytes = valid();
    bytes[0] = b'X';
    assert_eq!(parse(&bytes), Err(LoadError::BadMagic { found: *b"XLMX" }));
}

#[test]
fn future_version_names_both_numbers() {
    let mut bytes = valid();
    bytes[4..8].copy_from_slice(&3u32.to_le_bytes());
    assert_eq!(parse(&bytes), Err(LoadError::UnsupportedVersion { found: 3, supported: 2 }));
}

#[test]
fn leftover_bytes_are_rejected() {
    let mut bytes = valid();
    let len = bytes.len();
    bytes.extend_from_slice(&[0; 32]);
    assert_eq!(parse(&bytes), Err(LoadError::LengthMismatch { header: len as u32, actual: len + 32 }));
}

#[test]
fn checksum_mismatch() {
    let mut bytes = valid();
    let last = bytes.len() - 40;
    bytes[last] ^= 0x55;
    assert!(matches!(parse(&bytes), Err(LoadError::ChecksumMismatch { .. })));
}

#[test]
fn misaligned_buffer() {
    let bytes = valid();
    let mut shifted = vec![0u8; 1];
    shifted.extend_from_slice(&bytes);
    let aligned = AlignedBytes::new(&shifted);
    assert_eq!(Model::parse(&aligned.as_bytes()[1..]).map(|_| ()), Err(LoadError::MisalignedBuffer));
}

#[test]
fn unknown_mixer_codes() {
    let mut bytes = valid();
    bytes[HEADER_LEN] = 9; // layer 0 pattern
    reseal(&mut bytes);
    assert_eq!(parse(&bytes), Err(LoadError::UnknownPattern { layer: 0, code: 9, param: 0 }));
    let mut bytes = valid();
    bytes[HEADER_LEN + LAYER_LEN + 1] = 7; // layer 1 form
    reseal(&mut bytes);
    assert_eq!(parse(&bytes), Err(LoadError::UnknownForm { layer: 1, code: 7 }));
}

#[test]
fn state_space_on_an_undefined_pattern() {
    use glmix::Role;
    // Layer 1 is dense: dense x state_space is not a defined mixer.
    let mut bytes = valid();
    bytes[HEADER_LEN + LAYER_LEN + 1] = 3;
    reseal(&mut bytes);
    assert_eq!(parse(&bytes), Err(LoadError::UndefinedMixer { layer: 1, pattern: 0, form: 3 }));
    // Layer 0 is pow2_lattice: the log-linear state space is defined, and needs its decay gates.
    let mut bytes = valid();
    bytes[HEADER_LEN + 1] = 3;
    reseal(&mut bytes);
    assert_eq!(parse(&bytes), Err(LoadError::MissingTensor { layer: Some(0), role: Role::Wd }));
    // The other patterns, state_space included: only order 1 and pow2_lattice parse.
    for (code, param) in [(1u8, 2u32), (2, 2), (3, 0), (5, 0), (6, 0), (6, 4)] {
        let mut bytes = valid();
        bytes[HEADER_LEN] = code;
        bytes[HEADER_LEN + 1] = 3;
        bytes[HEADER_LEN + 4..HEADER_LEN + 8].copy_from_slice(&param.to_le_bytes());
        reseal(&mut bytes);
        assert_eq!(parse(&bytes), Err(LoadError::UndefinedMixer { layer: 0, pattern: code, form: 3 }));
    }
}

#[test]
fn loglinear_level_weights_must_have_their_shape() {
    use glmix_tools::writer::ModelFile;
    let layer = RandomLayer { pattern: 4, param: 0, form: 3, n_heads: 2, n_kv_heads: 2 };
    let good: ModelFile = random_model(&RandomSpec::small(vec![layer]), 3).unwrap();
    parse(&good.to_bytes().unwrap()).unwrap();
    // A model written for another max_context has another L: its wl no longer fits this header.
    let mut other =
        random_model(&RandomSpec { max_context: 64, ..RandomSpec::small(vec![layer]) }, 3).unwrap();
    other.header.max_context = 1024;
    let err = parse(&other.to_bytes().unwrap()).unwrap_err();
    assert!(matches!(err, LoadError::WrongShape { expected: [22, 32], found: [14, 32], .. }), "{err:?}");
}

#[test]
fn huge_dimensions() {
    let mut bytes = valid();
    bytes[24..28].copy_from_slice(&u32::MAX.to_le_bytes()); // dim
    reseal(&mut bytes); // the checksum covers the header: get past it
    assert!(matches!(parse(&bytes), Err(LoadError::BadDimension { value: u32::MAX, .. })));
    let mut bytes = valid();
    bytes[16..20].copy_from_slice(&100_000u32.to_le_bytes()); // n_layers
    reseal(&mut bytes); // the checksum covers the header: get past it
    assert_eq!(parse(&bytes), Err(LoadError::BadLayerCount { n_layers: 100_000 }));
    let mut bytes = valid();
    bytes[20..24].copy_from_slice(&u32::MAX.to_le_bytes()); // n_tensors
    reseal(&mut bytes); // the checksum covers the header: get past it
    assert_eq!(parse(&bytes), Err(LoadError::TooManyTensors { n_tensors: u32::MAX }));
}

#[test]
fn overlapping_and_out_of_range_offsets() {
    let bytes = valid();
    let table = table_offset(&bytes);
    let offset_field = |i: usize| table + i * ENTRY_LEN + format::NAME_LEN + 12;
    // Tensor 1 starting where tensor 0 starts: overlap.
    let mut b = bytes.clone();
    let first = b[offset_field(0)..offset_field(0) + 4].to_vec();
    b[offset_field(1)..offset_field(1) + 4].copy_from_slice(&first);
    reseal(&mut b);
    assert!(matches!(parse(&b), Err(LoadError::MisplacedTensor { tensor: 1, .. })), "{:?}", parse(&b));
    // An offset past the end of the file.
    let mut b = bytes.clone();
    b[offset_field(2)..offset_field(2) + 4].copy_from_slice(&(u32::MAX - 31).to_le_bytes());
    reseal(&mut b);
    assert!(matches!(parse(&b), Err(LoadError::MisplacedTensor { tensor: 2, .. })));
    // A length that disagrees with the shape.
    let mut b = bytes.clone();
    let len_field = offset_field(0) + 4;
    b[len_field..len_field + 4].copy_from_slice(&1u32.to_le_bytes());
    reseal(&mut b);
    assert!(matches!(parse(&b), Err(LoadError::SizeMismatch { tensor: 0, found: 1, .. })));
}

#[test]
fn wrong_shape_and_dtype() {
    let bytes = valid();
    let table = table_offset(&bytes);
    // Tensor 1 is layers.0.mixer_norm.weight (f32 [dim]); claim it is f16: size no longer matches.
    let mut b = bytes.clone();
    b[table + ENTRY_LEN + format::NAME_LEN] = 1;
    reseal(&mut b);
    assert!(matches!(parse(&b), Err(LoadError::SizeMismatch { tensor: 1, .. })));
    // Unknown dtype code.
    let mut b = bytes.clone();
    b[table + ENTRY_LEN + format::NAME_LEN] = 42;
    reseal(&mut b);
    assert_eq!(parse(&b), Err(LoadError::UnknownDType { tensor: 1, code: 42 }));
    // Rename a tensor to something the architecture does not use.
    let mut b = bytes.clone();
    b[table + ENTRY_LEN] = b'X';
    reseal(&mut b);
    assert_eq!(parse(&b), Err(LoadError::UnknownTensor { tensor: 1 }));
}

#[test]
fn random_corruption_never_panics() {
    let bytes = valid();
    let mut rng = Rng::new(99);
    for round in 0..3000 {
        let mut b = bytes.clone();
        for _ in 0..1 + rng.below(4) {
            let i = rng.below(b.len().min(HEADER_LEN + 2048) as u64) as usize;
            b[i] = rng.next_u64() as u8;
        }
        if round % 2 == 0 {
            reseal(&mut b);
        }
        let cut = if round % 7 == 0 { rng.below(b.len() as u64) as usize } else { b.len() };
        let _ = parse(&b[..cut]);
    }
}

#[test]
fn errors_show_float_fields_as_numbers_and_name_the_pattern_rule() {
    let mut bytes = valid();
    bytes[44..48].copy_from_slice(&(-1.0f32).to_bits().to_le_bytes()); // rope_theta
    reseal(&mut bytes);
    let err = parse(&bytes).unwrap_err();
    assert_eq!(err.to_string(), "header field rope_theta is -1; it must be finite and positive");
    let mut bytes = valid();
    let layer0 = HEADER_LEN;
    bytes[layer0] = 0; // dense
    bytes[layer0 + 4..layer0 + 8].copy_from_slice(&u32::MAX.to_le_bytes()); // param
    reseal(&mut bytes);
    let msg = parse(&bytes).unwrap_err().to_string();
    assert!(msg.contains("pattern code 0 with param 4294967295 is not valid"), "{msg}");
}
