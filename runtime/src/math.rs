//! Every transcendental function the runtime uses, in one place: `libm` on every target, so the
//! desktop and the microcontroller compute bit-identical values.

/// `e^x`.
#[inline]
pub fn expf(x: f32) -> f32 {
    libm::expf(x)
}

/// Square root.
#[inline]
pub fn sqrtf(x: f32) -> f32 {
    libm::sqrtf(x)
}

/// `x^y`.
#[inline]
pub fn powf(x: f32, y: f32) -> f32 {
    libm::powf(x, y)
}

/// Cosine.
#[inline]
pub fn cosf(x: f32) -> f32 {
    libm::cosf(x)
}

/// Sine.
#[inline]
pub fn sinf(x: f32) -> f32 {
    libm::sinf(x)
}

/// Hyperbolic tangent.
#[inline]
pub fn tanhf(x: f32) -> f32 {
    libm::tanhf(x)
}
