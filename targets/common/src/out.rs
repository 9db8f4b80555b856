//! Text to the host.
//!
//! Plain builds (feature `semihosting` without `defmt`) write bytes to the host's stdout and stderr
//! through semihosting, unchanged: the generated text on stdout is byte-for-byte what `glmix generate`
//! prints on the host. With `defmt`, every write becomes a defmt log frame instead (the board links
//! defmt-semihosting under QEMU or defmt-rtt on hardware; decode with `defmt-print` / `probe-rs run`).

use core::fmt;

/// Writes `bytes` to stdout.
pub fn stdout(bytes: &[u8]) {
    imp::write(imp::Stream::Out, bytes)
}

/// Writes `bytes` to stderr.
pub fn stderr(bytes: &[u8]) {
    imp::write(imp::Stream::Err, bytes)
}

/// Writes formatted text and a newline to stdout.
pub fn println(args: fmt::Arguments<'_>) {
    imp::fmt(imp::Stream::Out, args)
}

/// Writes formatted text and a newline to stderr.
pub fn eprintln(args: fmt::Arguments<'_>) {
    imp::fmt(imp::Stream::Err, args)
}

/// Flushes buffered output (nothing is buffered today; kept so callers need not know).
pub fn flush() {}

#[cfg(not(feature = "defmt"))]
mod imp {
    use core::fmt::{self, Write as _};
    use semihosting::io::Write as _;

    #[derive(Clone, Copy)]
    pub enum Stream {
        Out,
        Err,
    }

    pub fn write(s: Stream, bytes: &[u8]) {
        if bytes.is_empty() {
            return;
        }
        // Output errors cannot be reported anywhere else; they are ignored, as `print!` would panic.
        let _ = match s {
            Stream::Out => semihosting::io::stdout().and_then(|mut o| o.write_all(bytes)),
            Stream::Err => semihosting::io::stderr().and_then(|mut o| o.write_all(bytes)),
        };
    }

    /// Formats into a line buffer so that one line costs one semihosting call (a longer one, one
    /// call per 128 bytes).
    struct Line {
        s: Stream,
        buf: heapless::Vec<u8, 128>,
    }

    impl Line {
        fn flush(&mut self) {
            write(self.s, &self.buf);
            self.buf.clear();
        }
    }

    impl fmt::Write for Line {
        fn write_str(&mut self, text: &str) -> fmt::Result {
            for &b in text.as_bytes() {
                if self.buf.is_full() {
                    self.flush();
                }
                // Never full here (flushed above), so the push cannot fail.
                let _ = self.buf.push(b);
            }
            Ok(())
        }
    }

    pub fn fmt(s: Stream, args: fmt::Arguments<'_>) {
        let mut line = Line { s, buf: heapless::Vec::new() };
        let _ = line.write_fmt(args);
        let _ = line.write_str("\n");
        line.flush();
    }
}

#[cfg(feature = "defmt")]
mod imp {
    use core::fmt;

    #[derive(Clone, Copy)]
    pub enum Stream {
        Out,
        Err,
    }

    pub fn write(s: Stream, bytes: &[u8]) {
        match (s, core::str::from_utf8(bytes)) {
            (Stream::Out, Ok(text)) => defmt::println!("{=str}", text),
            (Stream::Out, Err(_)) => defmt::println!("{=[u8]:a}", bytes),
            (Stream::Err, Ok(text)) => defmt::warn!("{=str}", text),
            (Stream::Err, Err(_)) => defmt::warn!("{=[u8]:a}", bytes),
        }
    }

    pub fn fmt(s: Stream, args: fmt::Arguments<'_>) {
        match s {
            Stream::Out => defmt::println!("{}", defmt::Display2Format(&args)),
            Stream::Err => defmt::warn!("{}", defmt::Display2Format(&args)),
        }
    }
}
