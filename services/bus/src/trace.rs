//! One trace id per measure, carried through every hop in the W3C trace-context format.
//!
//! The gateway makes a [`TraceId`] when a court submits a measure (or keeps the one of the
//! court's own `traceparent`), stores it with the measure, and the relay sends it on the
//! instruction as the `traceparent` header. The adapter reads it there, logs it around the
//! handling of the instruction, passes it on to the agency's system as `traceparent` gRPC
//! metadata and puts it on its report's headers, where the gateway reads it again. Headers are
//! not signed: a trace id is for finding log lines, and nothing is believed because of it.

use std::fmt;

/// The header (AMQP) and metadata key (gRPC) a trace context travels under.
pub const TRACEPARENT: &str = "traceparent";

/// A W3C trace id: 16 bytes, never all zero, written as 32 lower-case hex digits.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct TraceId([u8; 16]);

/// Why a `traceparent` was not taken.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TraceparentError {
    /// Not `version-traceid-parentid-flags` with 2, 32, 16 and 2 hex digits.
    #[error("not a W3C traceparent (00-<32 hex digits>-<16 hex digits>-<2 hex digits>)")]
    Malformed,
    /// Version `ff` is forbidden by the specification.
    #[error("traceparent version ff is invalid")]
    InvalidVersion,
    /// An all-zero trace or parent id means "none".
    #[error("traceparent with an all-zero trace id or parent id")]
    Zero,
}

impl TraceId {
    /// A new random trace id.
    pub fn generate() -> Self {
        let mut bytes = [0u8; 16];
        // No randomness from the system: still unique enough to find log lines by, from the
        // clock's nanoseconds and the process.
        if getrandom::fill(&mut bytes).is_err() {
            let nanos = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_nanos());
            bytes = (nanos ^ (u128::from(std::process::id()) << 96)).to_be_bytes();
        }
        if bytes == [0; 16] {
            bytes[15] = 1;
        }
        Self(bytes)
    }

    /// A trace id written as 32 hex digits (either case), not all zero.
    pub fn parse(hex: &str) -> Result<Self, TraceparentError> {
        let bytes: [u8; 16] = from_hex(hex).ok_or(TraceparentError::Malformed)?;
        if bytes == [0; 16] {
            return Err(TraceparentError::Zero);
        }
        Ok(Self(bytes))
    }

    /// The trace id of a `traceparent` value: `00-<trace id>-<parent id>-<flags>`. A later
    /// version may append fields after the flags; version 00 may not.
    pub fn from_traceparent(value: &str) -> Result<Self, TraceparentError> {
        let mut parts = value.trim().split('-');
        let (Some(version), Some(trace), Some(parent), Some(flags)) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(TraceparentError::Malformed);
        };
        let version: [u8; 1] = from_hex(version).ok_or(TraceparentError::Malformed)?;
        if version == [0xff] {
            return Err(TraceparentError::InvalidVersion);
        }
        if version == [0] && parts.next().is_some() {
            return Err(TraceparentError::Malformed);
        }
        let parent: [u8; 8] = from_hex(parent).ok_or(TraceparentError::Malformed)?;
        let _flags: [u8; 1] = from_hex(flags).ok_or(TraceparentError::Malformed)?;
        let trace = Self::parse(trace)?;
        if parent == [0; 8] {
            return Err(TraceparentError::Zero);
        }
        Ok(trace)
    }

    /// A `traceparent` value for this trace with a new span (parent) id, sampled.
    pub fn traceparent(&self) -> String {
        let mut span = [0u8; 8];
        if getrandom::fill(&mut span).is_err() || span == [0; 8] {
            span.copy_from_slice(&self.0[8..]);
        }
        format!("00-{self}-{}-01", to_hex(&span))
    }
}

impl fmt::Display for TraceId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&to_hex(&self.0))
    }
}

impl fmt::Debug for TraceId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "TraceId({self})")
    }
}

fn to_hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Exactly `N` bytes written as `2 N` hex digits.
fn from_hex<const N: usize>(hex: &str) -> Option<[u8; N]> {
    if hex.len() != 2 * N {
        return None;
    }
    crate::signing::from_hex(hex)?.try_into().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    const TRACE: &str = "4bf92f3577b34da6a3ce929d0e0e4736";

    #[test]
    fn a_well_formed_traceparent_gives_its_trace_id() {
        let id = TraceId::from_traceparent(&format!("00-{TRACE}-00f067aa0ba902b7-01"))
            .expect("well formed");
        assert_eq!(id.to_string(), TRACE);
        let upper =
            TraceId::from_traceparent(&format!("00-{}-00F067AA0BA902B7-00", TRACE.to_uppercase()))
                .expect("upper case");
        assert_eq!(upper, id);
        // A later version may carry more fields.
        let later = TraceId::from_traceparent(&format!("01-{TRACE}-00f067aa0ba902b7-01-extra"));
        assert_eq!(later, Ok(id));
    }

    #[test]
    fn all_zero_trace_and_parent_ids_are_refused() {
        let zero_trace = format!("00-{}-00f067aa0ba902b7-01", "0".repeat(32));
        assert_eq!(
            TraceId::from_traceparent(&zero_trace),
            Err(TraceparentError::Zero)
        );
        let zero_parent = format!("00-{TRACE}-0000000000000000-01");
        assert_eq!(
            TraceId::from_traceparent(&zero_parent),
            Err(TraceparentError::Zero)
        );
        assert_eq!(TraceId::parse(&"0".repeat(32)), Err(TraceparentError::Zero));
    }

    #[test]
    fn wrong_lengths_and_shapes_are_refused() {
        for bad in [
            String::new(),
            "00".to_string(),
            format!("00-{TRACE}-00f067aa0ba902b7"),
            format!("00-{}-00f067aa0ba902b7-01", &TRACE[1..]),
            format!("00-{TRACE}0-00f067aa0ba902b7-01"),
            format!("00-{TRACE}-00f067aa0ba902b-01"),
            format!("00-{TRACE}-00f067aa0ba902b7-1"),
            format!("0-{TRACE}-00f067aa0ba902b7-01"),
            format!("00-{TRACE}-00f067aa0ba902b7-01-extra"),
            format!("00-{}g-00f067aa0ba902b7-01", &TRACE[1..]),
            format!("00-{}é-00f067aa0ba902b7-01", &TRACE[2..]),
        ] {
            assert_eq!(
                TraceId::from_traceparent(&bad),
                Err(TraceparentError::Malformed),
                "{bad:?}"
            );
        }
        let ff = format!("ff-{TRACE}-00f067aa0ba902b7-01");
        assert_eq!(
            TraceId::from_traceparent(&ff),
            Err(TraceparentError::InvalidVersion)
        );
    }

    #[test]
    fn a_generated_id_is_32_hex_digits_and_its_traceparent_reads_back() {
        let id = TraceId::generate();
        let text = id.to_string();
        assert_eq!(text.len(), 32);
        assert!(
            text.bytes()
                .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase())
        );
        assert_ne!(id, TraceId::generate());
        let header = id.traceparent();
        assert_eq!(header.len(), 55, "{header}");
        assert!(header.starts_with(&format!("00-{text}-")) && header.ends_with("-01"));
        assert_eq!(TraceId::from_traceparent(&header), Ok(id));
        assert_eq!(TraceId::parse(&text), Ok(id));
    }
}
