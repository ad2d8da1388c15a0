//! Signatures on the hub's messages. The gateway signs every instruction it publishes, and
//! adapters that know the gateway's public key refuse any instruction that is unsigned or does
//! not verify: a message that was not written by the hub cannot make an agency freeze anything.
//! The other way, each adapter signs every report it publishes with its agency's key
//! ([`KeyedSigner`], the key id in `x-hub-key-id`), and agency systems seal their answers; the
//! gateway verifies both against its registry of agency keys.
//!
//! Ed25519 over the message body; the signature travels hex-encoded in the `x-hub-signature`
//! header. Keys are 32-byte seeds (signing) and public keys, written as 64 hex digits.

use ed25519_dalek::{Signature, Signer as _, SigningKey, VerifyingKey};

/// Header carrying the signature of the message body.
pub const HEADER_SIGNATURE: &str = "x-hub-signature";
/// Header naming the key a report was signed with, as registered for its agency.
pub const HEADER_KEY_ID: &str = "x-hub-key-id";

/// Why a key or signature was not accepted.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum SigningError {
    /// Not 64 hex digits.
    #[error("a key is 64 hex digits (32 bytes)")]
    BadKey,
    /// Not a valid public key.
    #[error("not an Ed25519 public key")]
    NotAPublicKey,
    /// No signature on the message.
    #[error("the message is unsigned")]
    Unsigned,
    /// A signature that does not verify.
    #[error("the signature does not verify: the message was not sent by the hub or was altered")]
    Forged,
}

/// Signs message bodies.
#[derive(Clone)]
pub struct Signer {
    key: SigningKey,
}

impl std::fmt::Debug for Signer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never print the secret.
        write!(f, "Signer({})", self.public_hex())
    }
}

impl Signer {
    /// A signer from a 64-hex-digit seed.
    pub fn from_hex(seed: &str) -> Result<Self, SigningError> {
        Ok(Self {
            key: SigningKey::from_bytes(&decode32(seed)?),
        })
    }

    /// A new random key, from the operating system's generator.
    pub fn generate() -> Result<Self, getrandom::Error> {
        let mut seed = [0u8; 32];
        getrandom::fill(&mut seed)?;
        Ok(Self {
            key: SigningKey::from_bytes(&seed),
        })
    }

    /// The seed, for storing the key.
    pub fn seed_hex(&self) -> String {
        encode(&self.key.to_bytes())
    }

    /// The public key, for the verifiers.
    pub fn public_hex(&self) -> String {
        encode(self.key.verifying_key().as_bytes())
    }

    /// The signature of `body`, hex-encoded.
    pub fn sign(&self, body: &[u8]) -> String {
        encode(&self.key.sign(body).to_bytes())
    }

    /// The signature of `body`, its 64 bytes.
    pub fn sign_raw(&self, body: &[u8]) -> Vec<u8> {
        self.key.sign(body).to_bytes().to_vec()
    }
}

/// A signer with the id its public key is registered under: an adapter signing reports, an
/// agency sealing its answers.
#[derive(Clone, Debug)]
pub struct KeyedSigner {
    /// The key's id in the hub's registry.
    pub key_id: String,
    /// The key.
    pub signer: Signer,
}

impl KeyedSigner {
    /// A keyed signer from a 64-hex-digit seed and its id.
    pub fn from_hex(key_id: &str, seed: &str) -> Result<Self, SigningError> {
        Ok(Self {
            key_id: key_id.to_string(),
            signer: Signer::from_hex(seed)?,
        })
    }
}

/// Verifies signatures made with one public key.
#[derive(Clone, Debug)]
pub struct Verifier {
    key: VerifyingKey,
}

impl Verifier {
    /// A verifier from a 64-hex-digit public key.
    pub fn from_hex(public: &str) -> Result<Self, SigningError> {
        let key = VerifyingKey::from_bytes(&decode32(public)?)
            .map_err(|_| SigningError::NotAPublicKey)?;
        Ok(Self { key })
    }

    /// Whether `signature` (hex, from the header) is this key's signature of `body`.
    pub fn verify(&self, body: &[u8], signature: Option<&str>) -> Result<(), SigningError> {
        let hex = signature.ok_or(SigningError::Unsigned)?;
        let bytes = decode(hex).ok_or(SigningError::Forged)?;
        self.verify_raw(body, &bytes)
    }

    /// Whether `signature` (its bytes) is this key's signature of `body`.
    pub fn verify_raw(&self, body: &[u8], signature: &[u8]) -> Result<(), SigningError> {
        let bytes: [u8; 64] = signature.try_into().map_err(|_| SigningError::Forged)?;
        self.key
            .verify_strict(body, &Signature::from_bytes(&bytes))
            .map_err(|_| SigningError::Forged)
    }
}

/// Hex of `bytes`, as keys and signatures are written.
pub fn to_hex(bytes: &[u8]) -> String {
    encode(bytes)
}

/// The bytes of `hex`, if it is hex.
pub fn from_hex(hex: &str) -> Option<Vec<u8>> {
    decode(hex)
}

fn encode(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn decode(hex: &str) -> Option<Vec<u8>> {
    let hex = hex.trim();
    if !hex.len().is_multiple_of(2) {
        return None;
    }
    (0..hex.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(hex.get(i..i + 2)?, 16).ok())
        .collect()
}

fn decode32(hex: &str) -> Result<[u8; 32], SigningError> {
    decode(hex)
        .and_then(|b| b.try_into().ok())
        .ok_or(SigningError::BadKey)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_signature_verifies_only_for_its_body_and_key() {
        let signer = Signer::generate().expect("randomness");
        let verifier = Verifier::from_hex(&signer.public_hex()).expect("public key");
        let signature = signer.sign(b"freeze 10,000.00");
        assert_eq!(
            verifier.verify(b"freeze 10,000.00", Some(&signature)),
            Ok(())
        );
        assert_eq!(
            verifier.verify(b"freeze 90,000.00", Some(&signature)),
            Err(SigningError::Forged)
        );
        assert_eq!(
            verifier.verify(b"freeze 10,000.00", None),
            Err(SigningError::Unsigned)
        );
        assert_eq!(
            verifier.verify(b"freeze 10,000.00", Some("zz")),
            Err(SigningError::Forged)
        );
        let other = Signer::generate().expect("randomness");
        assert_eq!(
            verifier.verify(b"freeze 10,000.00", Some(&other.sign(b"freeze 10,000.00"))),
            Err(SigningError::Forged)
        );
    }

    #[test]
    fn keys_read_back_from_their_hex() {
        let signer = Signer::generate().expect("randomness");
        let again = Signer::from_hex(&signer.seed_hex()).expect("seed");
        assert_eq!(again.public_hex(), signer.public_hex());
        assert_eq!(Signer::from_hex("abc").err(), Some(SigningError::BadKey));
        assert!(!format!("{signer:?}").contains(&signer.seed_hex()));
    }
}
