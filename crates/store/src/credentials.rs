//! API keys, user logins and auth tokens. No secret is stored in clear.
//!
//! * API keys and login secrets are stored as `sha256$<hex>` of SHA-256(salt ‖ secret) with a
//!   16-byte random salt per row. A salted hash cannot be looked up by value, so finding the
//!   owner of a secret hashes it once per candidate row: all API keys for
//!   [`Store::account_for_api_key`] (used once per `api_auth`, then a token is used), the logins
//!   of the named account(s) for [`Store::find_user_login`]. That is about a microsecond per
//!   row. The `sha256$` prefix leaves room for a slower hash (argon2) later without a migration.
//! * Auth tokens are 32 random bytes from the thread-local CSPRNG (`rand::rng()`), given to the
//!   caller as 64 hex digits; only the SHA-256 of the token is stored, as the primary key, so
//!   [`Store::check_token`] on every API request is one indexed read. (A salt adds nothing to
//!   256 random bits.)

use std::fmt;
use std::str::FromStr;

use rand::RngCore;
use sha2::{Digest, Sha256};

use crate::backend::RowExt;
use crate::error::{id_arg, text_arg, to_i64, to_u64, Result, StoreError};
use crate::{Gregorian, Store};

const SCHEME: &str = "sha256$";

fn random_bytes<const N: usize>() -> [u8; N] {
    let mut buf = [0u8; N];
    rand::rng().fill_bytes(&mut buf);
    buf
}

fn salted_hash(salt_hex: &str, secret: &str) -> String {
    let mut h = Sha256::new();
    h.update(salt_hex.as_bytes());
    h.update(secret.as_bytes());
    format!("{SCHEME}{}", hex::encode(h.finalize()))
}

/// Compares without stopping at the first difference.
fn same(a: &str, b: &str) -> bool {
    a.len() == b.len()
        && a.bytes()
            .zip(b.bytes())
            .fold(0u8, |acc, (x, y)| acc | (x ^ y))
            == 0
}

fn verify(salt_hex: &str, stored: &str, secret: &str) -> bool {
    stored.starts_with(SCHEME) && same(&salted_hash(salt_hex, secret), stored)
}

fn token_hash(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

/// KAZOO's `md5(username:password)` as lower-case hex, the form login secrets are hashed in.
fn normalize_md5(md5_credentials: &str) -> String {
    md5_credentials.trim().to_ascii_lowercase()
}

/// A user's privilege level, as in KAZOO's `priv_level`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PrivLevel {
    /// May manage the account.
    Admin,
    /// An ordinary user.
    User,
}

impl PrivLevel {
    /// `"admin"` or `"user"`.
    pub fn as_str(self) -> &'static str {
        match self {
            PrivLevel::Admin => "admin",
            PrivLevel::User => "user",
        }
    }
}

impl fmt::Display for PrivLevel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The string given to [`PrivLevel::from_str`] is neither `admin` nor `user`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown priv_level {0:?} (admin or user)")]
pub struct UnknownPrivLevel(pub String);

impl FromStr for PrivLevel {
    type Err = UnknownPrivLevel;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "admin" => Ok(PrivLevel::Admin),
            "user" => Ok(PrivLevel::User),
            _ => Err(UnknownPrivLevel(s.to_owned())),
        }
    }
}

/// Who a valid auth token speaks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenInfo {
    /// The account the token was issued for.
    pub account_id: String,
    /// The user, for a token from user_auth; `None` for one from api_auth.
    pub user_id: Option<String>,
    /// The privilege level granted.
    pub priv_level: PrivLevel,
    /// Gregorian seconds from which the token is no longer valid.
    pub expires_at: Gregorian,
}

/// A login found by [`Store::find_user_login`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserLogin {
    /// The user's account.
    pub account_id: String,
    /// The user's document id.
    pub user_id: String,
    /// The username given to [`Store::set_user_login`].
    pub username: String,
}

/// # Credentials and tokens
///
/// None of these writes bump [`Store::change_seq`].
impl Store {
    /// Sets (or replaces) the API key of `account_id`. Only a salted hash is stored.
    /// Fails with [`StoreError::EmptyId`] for an empty account id or key.
    pub async fn set_api_key(&self, account_id: &str, key: &str) -> Result<()> {
        id_arg("account_id", account_id)?;
        if key.is_empty() {
            return Err(StoreError::EmptyId { what: "api key" });
        }
        let salt = hex::encode(random_bytes::<16>());
        let hash = salted_hash(&salt, key);
        with_pool!(&self.pool, |p, is_pg| {
            sqlx::query(
                "INSERT INTO api_keys (account_id, salt, hash) VALUES ($1, $2, $3) \
                 ON CONFLICT (account_id) DO UPDATE SET salt = excluded.salt, hash = excluded.hash",
            )
            .bind(account_id)
            .bind(&salt)
            .bind(&hash)
            .execute(p)
            .await?;
        });
        Ok(())
    }

    /// Removes the API key of `account_id`; `false` if it had none.
    pub async fn delete_api_key(&self, account_id: &str) -> Result<bool> {
        text_arg("account_id", account_id)?;
        with_pool!(&self.pool, |p, is_pg| {
            let n = sqlx::query("DELETE FROM api_keys WHERE account_id = $1")
                .bind(account_id)
                .execute(p)
                .await?
                .rows_affected();
            Ok(n > 0)
        })
    }

    /// The account whose API key is `key`, if any (checks every stored key's hash: see the
    /// module docs for the cost).
    pub async fn account_for_api_key(&self, key: &str) -> Result<Option<String>> {
        if key.is_empty() {
            return Ok(None);
        }
        let rows = with_pool!(&self.pool, |p, is_pg| {
            sqlx::query("SELECT account_id, salt, hash FROM api_keys ORDER BY account_id")
                .fetch_all(p)
                .await?
                .iter()
                .map(|r| Ok((r.text(0)?, r.text(1)?, r.text(2)?)))
                .collect::<Result<Vec<_>>>()?
        });
        Ok(rows
            .into_iter()
            .find(|(_, salt, hash)| verify(salt, hash, key))
            .map(|(account_id, _, _)| account_id))
    }

    /// Sets (or replaces) the login secret of user `user_id` in `account_id`.
    ///
    /// `md5_credentials` is KAZOO's `md5("username:password")` in hex, as user_auth clients send
    /// it (compared case-insensitively); only a salted hash of it is stored. `username` is kept
    /// in clear for display.
    pub async fn set_user_login(
        &self,
        account_id: &str,
        user_id: &str,
        username: &str,
        md5_credentials: &str,
    ) -> Result<()> {
        id_arg("account_id", account_id)?;
        id_arg("user_id", user_id)?;
        text_arg("username", username)?;
        let secret = normalize_md5(md5_credentials);
        if secret.is_empty() {
            return Err(StoreError::EmptyId {
                what: "md5 credentials",
            });
        }
        let salt = hex::encode(random_bytes::<16>());
        let hash = salted_hash(&salt, &secret);
        with_pool!(&self.pool, |p, is_pg| {
            sqlx::query(
                "INSERT INTO user_logins (account_id, user_id, username, salt, hash) \
                 VALUES ($1, $2, $3, $4, $5) ON CONFLICT (account_id, user_id) DO UPDATE \
                 SET username = excluded.username, salt = excluded.salt, hash = excluded.hash",
            )
            .bind(account_id)
            .bind(user_id)
            .bind(username)
            .bind(&salt)
            .bind(&hash)
            .execute(p)
            .await?;
        });
        Ok(())
    }

    /// Removes the login of `user_id` in `account_id`; `false` if it had none.
    pub async fn delete_user_login(&self, account_id: &str, user_id: &str) -> Result<bool> {
        text_arg("account_id", account_id)?;
        text_arg("user_id", user_id)?;
        with_pool!(&self.pool, |p, is_pg| {
            let n = sqlx::query("DELETE FROM user_logins WHERE account_id = $1 AND user_id = $2")
                .bind(account_id)
                .bind(user_id)
                .execute(p)
                .await?
                .rows_affected();
            Ok(n > 0)
        })
    }

    /// The login whose secret is `md5_credentials`, for user_auth.
    ///
    /// `account` narrows the search the way KAZOO's user_auth does with `account_name` /
    /// `account_realm`: it matches an account whose id is `account`, whose normalized name
    /// ([`normalize_account_name`](crate::normalize_account_name)) equals `account`'s, or whose
    /// realm equals it case-insensitively (a login whose account document does not exist yet is
    /// found by account id only). `None` searches every account's logins: fine for a handful of
    /// accounts, one hash per login otherwise. If several logins match (the same username and
    /// password in two accounts with the same name), the first by account id then user id wins.
    pub async fn find_user_login(
        &self,
        account: Option<&str>,
        md5_credentials: &str,
    ) -> Result<Option<UserLogin>> {
        let secret = normalize_md5(md5_credentials);
        if secret.is_empty() || account.is_some_and(|a| a.contains('\0')) {
            return Ok(None);
        }
        const COLUMNS: &str = "account_id, user_id, username, salt, hash";
        let rows = with_pool!(&self.pool, |p, is_pg| {
            let rows = match account {
                None => {
                    sqlx::query(&format!(
                        "SELECT {COLUMNS} FROM user_logins ORDER BY account_id, user_id"
                    ))
                    .fetch_all(p)
                    .await?
                }
                Some(account) => {
                    sqlx::query(&format!(
                        "SELECT {COLUMNS} FROM user_logins WHERE account_id = $1 \
                         OR account_id IN (SELECT id FROM documents WHERE kind = 'account' \
                         AND (name_key = $2 OR realm_key = $3)) ORDER BY account_id, user_id"
                    ))
                    .bind(account)
                    .bind(crate::normalize_account_name(account))
                    .bind(account.to_lowercase())
                    .fetch_all(p)
                    .await?
                }
            };
            rows.iter()
                .map(|r| Ok((r.text(0)?, r.text(1)?, r.text(2)?, r.text(3)?, r.text(4)?)))
                .collect::<Result<Vec<_>>>()?
        });
        Ok(rows
            .into_iter()
            .find(|(_, _, _, salt, hash)| verify(salt, hash, &secret))
            .map(|(account_id, user_id, username, _, _)| UserLogin {
                account_id,
                user_id,
                username,
            }))
    }

    /// Issues an auth token for `account_id` (and `user_id`, for user_auth), valid until
    /// `expires_at`, and returns it (64 hex digits). Only its hash is stored.
    pub async fn create_token(
        &self,
        account_id: &str,
        user_id: Option<&str>,
        priv_level: PrivLevel,
        expires_at: Gregorian,
    ) -> Result<String> {
        id_arg("account_id", account_id)?;
        if let Some(user_id) = user_id {
            id_arg("user_id", user_id)?;
        }
        let expires = to_i64("expires_at", expires_at)?;
        let token = hex::encode(random_bytes::<32>());
        with_pool!(&self.pool, |p, is_pg| {
            sqlx::query(
                "INSERT INTO auth_tokens (token_hash, account_id, user_id, priv_level, expires_at) \
                 VALUES ($1, $2, $3, $4, $5)",
            )
            .bind(token_hash(&token))
            .bind(account_id)
            .bind(user_id)
            .bind(priv_level.as_str())
            .bind(expires)
            .execute(p)
            .await?;
        });
        Ok(token)
    }

    /// Who `token` speaks for, or `None` if it is unknown, deleted, or expired
    /// (`expires_at <= now`).
    pub async fn check_token(&self, token: &str, now: Gregorian) -> Result<Option<TokenInfo>> {
        if token.is_empty() {
            return Ok(None);
        }
        let row = with_pool!(&self.pool, |p, is_pg| {
            match sqlx::query(
                "SELECT account_id, user_id, priv_level, expires_at FROM auth_tokens \
                 WHERE token_hash = $1",
            )
            .bind(token_hash(token))
            .fetch_optional(p)
            .await?
            {
                Some(r) => Some((r.text(0)?, r.opt_text(1)?, r.text(2)?, r.int(3)?)),
                None => None,
            }
        });
        let Some((account_id, user_id, priv_level, expires_at)) = row else {
            return Ok(None);
        };
        let expires_at = to_u64("expires_at", expires_at)?;
        if expires_at <= now {
            return Ok(None);
        }
        let priv_level = priv_level
            .parse()
            .map_err(|e: UnknownPrivLevel| StoreError::Corrupt {
                what: format!("auth token of account {account_id:?}: {e}"),
            })?;
        Ok(Some(TokenInfo {
            account_id,
            user_id,
            priv_level,
            expires_at,
        }))
    }

    /// Revokes one token (logout); `false` if it was unknown.
    pub async fn delete_token(&self, token: &str) -> Result<bool> {
        with_pool!(&self.pool, |p, is_pg| {
            let n = sqlx::query("DELETE FROM auth_tokens WHERE token_hash = $1")
                .bind(token_hash(token))
                .execute(p)
                .await?
                .rows_affected();
            Ok(n > 0)
        })
    }

    /// Revokes every token of `account_id` (e.g. after its API key changed); returns how many.
    pub async fn delete_tokens_for_account(&self, account_id: &str) -> Result<u64> {
        text_arg("account_id", account_id)?;
        with_pool!(&self.pool, |p, is_pg| {
            Ok(sqlx::query("DELETE FROM auth_tokens WHERE account_id = $1")
                .bind(account_id)
                .execute(p)
                .await?
                .rows_affected())
        })
    }

    /// Removes the tokens that expired by `now` (housekeeping); returns how many.
    pub async fn delete_expired_tokens(&self, now: Gregorian) -> Result<u64> {
        let now = to_i64("now", now)?;
        with_pool!(&self.pool, |p, is_pg| {
            Ok(
                sqlx::query("DELETE FROM auth_tokens WHERE expires_at <= $1")
                    .bind(now)
                    .execute(p)
                    .await?
                    .rows_affected(),
            )
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn salted_hashes_verify_only_the_right_secret() {
        let salt = hex::encode(random_bytes::<16>());
        let stored = salted_hash(&salt, "secret");
        assert!(stored.starts_with("sha256$"));
        assert!(verify(&salt, &stored, "secret"));
        assert!(!verify(&salt, &stored, "secreT"));
        assert!(!verify(&salt, &stored, ""));
        let other_salt = hex::encode(random_bytes::<16>());
        assert_ne!(salted_hash(&other_salt, "secret"), stored);
        assert!(!verify(&salt, "plain", "secret"));
    }

    #[test]
    fn constant_time_compare_is_equality() {
        assert!(same("abc", "abc"));
        assert!(!same("abc", "abd"));
        assert!(!same("abc", "ab"));
        assert!(same("", ""));
    }
}
