//! Every transcendental function the runtime uses, in one place.
//!
//! All of them go through [`libm`], on every target including std hosts: glibc's `expf` and libm's
//! differ in the last bit for some inputs, and a desktop run must reproduce a board's run bit for bit.
//! Nothing else in the crate may call `libm` (or `f32` methods that would pull in the platform libm).

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

/// Cosine (radians).
#[inline]
pub fn cosf(x: f32) -> f32 {
    libm::cosf(x)
}

/// Sine (radians).
#[inline]
pub fn sinf(x: f32) -> f32 {
    libm::sinf(x)
}

/// Hyperbolic tangent.
#[inline]
pub fn tanhf(x: f32) -> f32 {
    libm::tanhf(x)
}

/// Rounds half away from zero, like C's `roundf` (ggml's quantizers use it).
#[inline]
pub fn roundf(x: f32) -> f32 {
    libm::roundf(x)
}

/// Absolute value.
#[inline]
pub fn fabsf(x: f32) -> f32 {
    libm::fabsf(x)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_values() {
        assert_eq!(expf(0.0), 1.0);
        assert_eq!(sqrtf(4.0), 2.0);
        assert_eq!(powf(2.0, 10.0), 1024.0);
        assert_eq!(cosf(0.0), 1.0);
        assert_eq!(sinf(0.0), 0.0);
        assert_eq!(tanhf(0.0), 0.0);
        // C roundf: half away from zero (not to even).
        assert_eq!(roundf(2.5), 3.0);
        assert_eq!(roundf(-2.5), -3.0);
        assert_eq!(roundf(0.49999997), 0.0);
        assert_eq!(fabsf(-1.5), 1.5);
    }
}
