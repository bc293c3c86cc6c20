//! The ip-hash stage: the secret salt and the salted hash of an IP address as released
//! (`hashed_ip`, WildChat's `sha256(salt + ip)`), plus keys derived from the same secret for other
//! uses (the PII hash operator). The salt's bytes never reach a log line, an error or a debug
//! print. Pure functions: text in, hex out.

use std::fmt;
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

/// What can go wrong while loading the salt. No variant carries salt bytes, so errors are safe
/// to log.
#[derive(Debug, thiserror::Error)]
pub enum SaltError {
    #[error("invalid ip salt: {reason}")]
    Invalid { reason: String },
    #[error("cannot read the ip salt file {}", path.display())]
    File {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

/// The shortest salt accepted: 16 bytes (32 hex digits). A shorter one makes `hashed_ip`
/// reversible by hashing every IPv4 address under every possible salt.
pub const MIN_SALT_BYTES: usize = 16;

/// How to make a salt, for error messages.
pub const MAKE_A_SALT: &str = "make one with `openssl rand -hex 32 > ip-salt.hex` and keep it for every run of a \
                               release series (docs/operations.md, \"IP salt\")";

/// The secret salt prepended to every IP before hashing. Its bytes are never printed.
#[derive(Clone)]
pub struct IpSalt {
    salt_bytes: Vec<u8>,
}

impl fmt::Debug for IpSalt {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str("IpSalt(<redacted>)")
    }
}

impl IpSalt {
    /// Parses hex text (upper or lower case, surrounding whitespace ignored). The error
    /// describes the problem without echoing any of the text, which may be the real salt.
    pub fn from_hex(text: &str) -> Result<IpSalt, SaltError> {
        let trimmed_text = text.trim();
        if trimmed_text.is_empty() {
            return Err(SaltError::Invalid {
                reason: "the salt is empty".to_string(),
            });
        }
        match hex::decode(trimmed_text) {
            Ok(salt_bytes) if salt_bytes.len() < MIN_SALT_BYTES => Err(SaltError::Invalid {
                reason: format!(
                    "the salt has {} bytes; at least {MIN_SALT_BYTES} ({} hex digits) are needed, or hashed_ip \
                     can be reversed by trying every IPv4 address: {MAKE_A_SALT}",
                    salt_bytes.len(),
                    MIN_SALT_BYTES * 2
                ),
            }),
            Ok(salt_bytes) => Ok(IpSalt { salt_bytes }),
            Err(hex::FromHexError::OddLength) => Err(SaltError::Invalid {
                reason: "the salt has an odd number of hex digits".to_string(),
            }),
            Err(_) => Err(SaltError::Invalid {
                reason: "the salt contains a character that is not a hex digit".to_string(),
            }),
        }
    }

    /// Reads the salt as hex text from a file (a trailing newline is fine).
    pub fn from_file(path: &Path) -> Result<IpSalt, SaltError> {
        let file_text = std::fs::read_to_string(path).map_err(|source| SaltError::File {
            path: path.to_path_buf(),
            source,
        })?;
        IpSalt::from_hex(&file_text).map_err(|error| match error {
            SaltError::Invalid { reason } => SaltError::Invalid {
                reason: format!("{reason} (in {})", path.display()),
            },
            other_error => other_error,
        })
    }

    /// 32 random bytes, for the demo only: a real release must reuse one stored salt so that
    /// the same IP hashes the same way across runs.
    ///
    /// `rand` is only a dev-dependency of this crate, so the bytes come from the kernel's
    /// CSPRNG (/dev/urandom); where that cannot be read, they fall back to SHA-256 over std's
    /// randomly keyed SipHash, which is seeded from the OS and good enough for a demo.
    pub fn random() -> IpSalt {
        let mut salt_bytes = [0u8; 32];
        let read_from_kernel = std::fs::File::open("/dev/urandom")
            .and_then(|mut urandom| std::io::Read::read_exact(&mut urandom, &mut salt_bytes));
        if read_from_kernel.is_err() {
            salt_bytes = fallback_random_bytes();
        }
        IpSalt {
            salt_bytes: salt_bytes.to_vec(),
        }
    }

    /// A key for another use of the same secret, `sha256(purpose || 0 || salt)`: it cannot be
    /// turned back into the salt, and hashes made with it cannot be matched against IP hashes.
    pub fn derived_key(&self, purpose: &str) -> Vec<u8> {
        let mut hasher = Sha256::new();
        hasher.update(purpose.as_bytes());
        hasher.update([0u8]);
        hasher.update(&self.salt_bytes);
        hasher.finalize().to_vec()
    }

    /// Names the salt without revealing it: the first 16 hex digits of HMAC-SHA256 under the
    /// salt of [`KEY_ID_LABEL`]. Run fingerprints, manifests and logs carry it so that two
    /// processes (or two releases) can tell whether they hash with the same salt; with a salt
    /// of at least [`MIN_SALT_BYTES`] it cannot be searched back to the salt.
    pub fn key_id(&self) -> String {
        hex::encode(&hmac_sha256(&self.salt_bytes, KEY_ID_LABEL.as_bytes())[..8])
    }

    /// Lowercase hex of sha256(salt_bytes || ip_utf8), the same as Python's
    /// `hashlib.sha256(salt + ip.encode()).hexdigest()`. The ip text is hashed as given (no
    /// normalisation), as the reference pipeline did.
    pub fn hash_ip(&self, ip: &str) -> String {
        let mut hasher = Sha256::new();
        hasher.update(&self.salt_bytes);
        hasher.update(ip.as_bytes());
        hex::encode(hasher.finalize())
    }
}

/// The message [`IpSalt::key_id`] authenticates; changing it changes every key id.
pub const KEY_ID_LABEL: &str = "wildchat-pipeline ip salt key id v1";

/// HMAC-SHA256 (RFC 2104): sha256((key ^ opad) || sha256((key ^ ipad) || message)), the key
/// hashed first when it is longer than the 64-byte block.
fn hmac_sha256(key: &[u8], message: &[u8]) -> [u8; 32] {
    const BLOCK: usize = 64;
    let mut block = [0u8; BLOCK];
    if key.len() > BLOCK {
        block[..32].copy_from_slice(&Sha256::digest(key));
    } else {
        block[..key.len()].copy_from_slice(key);
    }
    let padded = |pad: u8| -> [u8; BLOCK] { std::array::from_fn(|index| block[index] ^ pad) };
    let inner = Sha256::new()
        .chain_update(padded(0x36))
        .chain_update(message)
        .finalize();
    Sha256::new()
        .chain_update(padded(0x5c))
        .chain_update(inner)
        .finalize()
        .into()
}

fn fallback_random_bytes() -> [u8; 32] {
    use std::hash::{BuildHasher, Hasher};
    let mut hasher = Sha256::new();
    for round in 0u64..4 {
        // Each RandomState gets fresh OS-seeded keys (incremented per instance).
        let mut sip_hasher = std::collections::hash_map::RandomState::new().build_hasher();
        sip_hasher.write_u64(round);
        hasher.update(sip_hasher.finish().to_le_bytes());
    }
    let nanoseconds_since_epoch = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|duration| duration.as_nanos())
        .unwrap_or_default();
    hasher.update(nanoseconds_since_epoch.to_le_bytes());
    hasher.update(std::process::id().to_le_bytes());
    hasher.finalize().into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hmac_matches_the_rfc_4231_vectors() {
        // RFC 4231 test cases 2 (short key) and 6 (key longer than the block).
        assert_eq!(
            hex::encode(hmac_sha256(b"Jefe", b"what do ya want for nothing?")),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
        assert_eq!(
            hex::encode(hmac_sha256(
                &[0xaa; 131],
                b"Test Using Larger Than Block-Size Key - Hash Key First"
            )),
            "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54"
        );
    }

    #[test]
    fn the_key_id_names_a_salt_without_showing_it() {
        let salt = IpSalt::from_hex(&"ab".repeat(16)).unwrap();
        let same = IpSalt::from_hex(&"AB".repeat(16)).unwrap();
        let other = IpSalt::from_hex(&"ac".repeat(16)).unwrap();
        assert_eq!(salt.key_id().len(), 16);
        assert_eq!(salt.key_id(), same.key_id());
        assert_ne!(salt.key_id(), other.key_id());
        assert!(!salt.key_id().contains("abab"), "the id is not the salt's hex");
        assert_ne!(
            salt.key_id(),
            salt.hash_ip(KEY_ID_LABEL)[..16],
            "not a plain salted hash either"
        );
    }
    use rand::{Rng, SeedableRng};
    use std::io::Write;
    use std::process::{Command, Stdio};

    #[test]
    fn hash_matches_a_vector_computed_once_with_python() {
        let salt = IpSalt::from_hex("00112233445566778899AABBCCDDEEFF").expect("valid salt");
        // hashlib.sha256(bytes.fromhex('00112233445566778899aabbccddeeff') + ip.encode()).hexdigest()
        assert_eq!(
            salt.hash_ip("203.0.113.7"),
            "682963cd715f6a49877596c31375c4ee806e1a6a97cb57a98c2820de1a2a0b8a"
        );
        assert_eq!(
            salt.hash_ip("2001:db8::1"),
            "c5db1f6c55d232be2f2b718bb0fb685652c5e7697607ea2d453fb66d75012f59"
        );
    }

    #[test]
    fn hash_matches_python_hashlib_for_many_vectors() {
        let mut random_generator = rand_chacha::ChaCha8Rng::seed_from_u64(2405_01470);
        let mut vectors: Vec<(String, String)> = Vec::new();
        let fixed_ips = [
            "",
            "127.0.0.1",
            " 1.2.3.4 ",
            "::1",
            "::",
            "::ffff:81.2.69.142",
            "::FFFF:81.2.69.142",
            "fe80::1%eth0",
            "2001:DB8::1",
            "not an ip",
            "ünïcode",
        ];
        for (vector_index, fixed_ip) in fixed_ips.iter().enumerate() {
            let salt_hex = hex::encode(vec![vector_index as u8; MIN_SALT_BYTES + vector_index]);
            vectors.push((salt_hex, fixed_ip.to_string()));
        }
        for vector_index in 0..60 {
            let salt_length = random_generator.random_range(MIN_SALT_BYTES..=64);
            let salt_bytes: Vec<u8> = (0..salt_length).map(|_| random_generator.random()).collect();
            let ip = match vector_index % 3 {
                0 => std::net::Ipv4Addr::from(random_generator.random::<u32>()).to_string(),
                1 => std::net::Ipv6Addr::from(random_generator.random::<u128>()).to_string(),
                _ => format!("::ffff:{}", std::net::Ipv4Addr::from(random_generator.random::<u32>())),
            };
            vectors.push((hex::encode(salt_bytes), ip));
        }
        assert!(vectors.len() >= 50);

        let python_script = "import sys, json, hashlib\n\
            for line in sys.stdin:\n\
            \x20   salt_hex, ip = json.loads(line)\n\
            \x20   print(hashlib.sha256(bytes.fromhex(salt_hex) + ip.encode()).hexdigest())\n";
        let mut python = Command::new("python3")
            .arg("-c")
            .arg(python_script)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("python3 must be installed to check the hashes against hashlib");
        {
            let mut python_input = python.stdin.take().expect("python stdin is piped");
            for (salt_hex, ip) in &vectors {
                let line = serde_json::to_string(&(salt_hex, ip)).expect("json encodes");
                writeln!(python_input, "{line}").expect("writing to python3");
            }
        }
        let python_output = python.wait_with_output().expect("python3 runs");
        assert!(python_output.status.success(), "python3 failed");
        let python_hashes: Vec<String> = String::from_utf8(python_output.stdout)
            .expect("python prints utf-8")
            .lines()
            .map(str::to_string)
            .collect();
        assert_eq!(python_hashes.len(), vectors.len());

        for (vector_index, ((salt_hex, ip), python_hash)) in vectors.iter().zip(&python_hashes).enumerate() {
            // Exercise the accepted spellings: upper case and surrounding whitespace.
            let salt_text = match vector_index % 3 {
                0 => salt_hex.clone(),
                1 => salt_hex.to_uppercase(),
                _ => format!("  {salt_hex}\n"),
            };
            let salt = IpSalt::from_hex(&salt_text).expect("valid salt");
            assert_eq!(&salt.hash_ip(ip), python_hash, "vector {vector_index}");
        }
    }

    #[test]
    fn invalid_salts_are_rejected_without_echoing_them() {
        for bad_salt_text in ["", "   \n", "abc", "zz", "0g", "de ad"] {
            let error = IpSalt::from_hex(bad_salt_text).expect_err("invalid salt rejected");
            assert!(matches!(error, SaltError::Invalid { .. }), "{error:?}");
        }
        let secret_looking_text = "ab12cd34ef56ab12cd3";
        let message = IpSalt::from_hex(secret_looking_text)
            .expect_err("odd length rejected")
            .to_string();
        assert!(!message.contains(secret_looking_text), "{message}");
        let message = IpSalt::from_hex("ab12cd34ef56xx")
            .expect_err("non-hex rejected")
            .to_string();
        assert!(!message.contains("ab12cd34"), "{message}");
    }

    #[test]
    fn a_salt_under_16_bytes_is_refused_with_how_to_make_one() {
        let short = "00112233445566778899aabbccddee";
        let message = IpSalt::from_hex(short).expect_err("15 bytes").to_string();
        assert!(message.contains("the salt has 15 bytes; at least 16"), "{message}");
        assert!(message.contains("openssl rand -hex 32"), "{message}");
        assert!(!message.contains(short), "{message}");
        assert!(IpSalt::from_hex("abcd").is_err());
        assert!(IpSalt::from_hex(&format!("{short}ff")).is_ok());
    }

    #[test]
    fn salt_debug_is_redacted() {
        let salt_hex = "deadbeefcafebabe0123456789abcdef";
        let salt = IpSalt::from_hex(salt_hex).expect("valid salt");
        let debug_text = format!("{salt:?}");
        assert_eq!(debug_text, "IpSalt(<redacted>)");
        assert!(!debug_text.to_lowercase().contains("deadbeef"));
        assert!(!format!("{:?}", Some(salt.clone())).contains("deadbeef"));
        assert_eq!(format!("{:?}", IpSalt::random()), "IpSalt(<redacted>)");
    }

    #[test]
    fn salt_from_file_and_random() {
        let mut salt_file = tempfile::NamedTempFile::new().expect("tempfile");
        writeln!(salt_file, "  00112233445566778899AABBCCDDEEFF").expect("write salt");
        let salt = IpSalt::from_file(salt_file.path()).expect("salt file reads");
        assert_eq!(
            salt.hash_ip("203.0.113.7"),
            "682963cd715f6a49877596c31375c4ee806e1a6a97cb57a98c2820de1a2a0b8a"
        );

        let missing_path = salt_file.path().with_extension("missing");
        let error = IpSalt::from_file(&missing_path).expect_err("missing salt file");
        assert!(matches!(error, SaltError::File { .. }), "{error:?}");

        let first_random_salt = IpSalt::random();
        let second_random_salt = IpSalt::random();
        assert_eq!(first_random_salt.salt_bytes.len(), 32);
        assert_ne!(first_random_salt.salt_bytes, second_random_salt.salt_bytes);
        assert_ne!(fallback_random_bytes(), fallback_random_bytes());
    }
}
