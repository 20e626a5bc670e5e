//! Random secrets and their digests, and password hashing.

use sha2::{Digest, Sha256};

/// A 256-bit random secret as 43 URL-safe characters.
pub fn random_secret() -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let bytes: [u8; 43] = rand::random();
    // 64 symbols: each byte's low six bits pick one, 43 × 6 = 258 bits.
    bytes.iter().map(|b| ALPHABET[(b & 63) as usize] as char).collect()
}

pub fn digest(secret: &str) -> String {
    let d = Sha256::digest(secret.as_bytes());
    d.iter().map(|b| format!("{b:02x}")).collect()
}

/// Argon2id with the crate's default (OWASP) parameters. CPU-heavy: call
/// through `spawn_blocking`.
pub fn hash_password(password: &str) -> anyhow::Result<String> {
    use argon2::password_hash::{PasswordHasher, SaltString, rand_core::OsRng};
    let salt = SaltString::generate(&mut OsRng);
    argon2::Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| anyhow::anyhow!("argon2 hashing failed: {e}"))
}

pub fn verify_password(password: &str, hash: &str) -> bool {
    use argon2::password_hash::{PasswordHash, PasswordVerifier};
    PasswordHash::new(hash)
        .map(|parsed| argon2::Argon2::default().verify_password(password.as_bytes(), &parsed).is_ok())
        .unwrap_or(false)
}

/// How much password hashing runs at once. Each Argon2id check holds
/// ~19 MiB and a core for ~50 ms; unbounded, a flood of logins takes the
/// process's memory with it (48 at once reached ~960 MiB). Past the bound a
/// check waits up to `wait_ms` for its turn, then is answered "unavailable"
/// (503 with `Retry-After`), so the flood is refused rather than queued.
#[derive(Debug, Clone, PartialEq, serde::Deserialize, serde::Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct PasswordHashing {
    pub concurrency: usize,
    pub wait_ms: u64,
}

impl Default for PasswordHashing {
    fn default() -> Self {
        PasswordHashing { concurrency: 4, wait_ms: 2_000 }
    }
}

impl PasswordHashing {
    pub fn validate(&self) -> Result<(), String> {
        if !(1..=256).contains(&self.concurrency) {
            return Err("users.password_hashing.concurrency must be between 1 and 256".into());
        }
        Ok(())
    }
}

/// The permits of [`PasswordHashing`], shared by every check in a process.
#[derive(Clone)]
pub struct HashingPermits {
    permits: std::sync::Arc<tokio::sync::Semaphore>,
    wait: std::time::Duration,
}

impl HashingPermits {
    pub fn new(settings: &PasswordHashing) -> Self {
        HashingPermits {
            permits: std::sync::Arc::new(tokio::sync::Semaphore::new(settings.concurrency.max(1))),
            wait: std::time::Duration::from_millis(settings.wait_ms),
        }
    }

    /// Runs `f` (Argon2 work) on the blocking pool once a permit is free;
    /// `None` when none came free in time.
    pub async fn run<T: Send + 'static>(&self, f: impl FnOnce() -> T + Send + 'static) -> Option<anyhow::Result<T>> {
        let permit = tokio::time::timeout(self.wait, self.permits.clone().acquire_owned()).await.ok()?.ok()?;
        let result = blocking(f).await;
        drop(permit);
        Some(result)
    }
}

/// Runs CPU-bound work on the blocking pool, keeping the caller's span.
pub async fn blocking<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> anyhow::Result<T> {
    let span = tracing::Span::current();
    tokio::task::spawn_blocking(move || span.in_scope(f))
        .await
        .map_err(|e| anyhow::anyhow!("blocking task failed: {e}"))
}

#[cfg(test)]
mod tests {
    #[test]
    fn secrets_are_unique_and_digests_stable() {
        let a = super::random_secret();
        assert_eq!(a.len(), 43);
        assert_ne!(a, super::random_secret());
        assert_eq!(super::digest("x"), super::digest("x"));
        assert_ne!(super::digest(&a), a);
    }

    #[test]
    fn password_hashes_verify() {
        let h = super::hash_password("correct horse").unwrap();
        assert!(h.starts_with("$argon2id$"));
        assert!(super::verify_password("correct horse", &h));
        assert!(!super::verify_password("wrong horse", &h));
    }
}
