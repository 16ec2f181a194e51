//! Newest-first paging with Crossbar-style `start_key` / `next_start_key`.

use crate::error::{Result, StoreError};

/// One page of a newest-first listing.
#[derive(Debug, Clone, PartialEq)]
pub struct Page<T> {
    /// At most `page_size` items, newest first (ties broken by id, descending).
    pub items: Vec<T>,
    /// The `start_key` of the next page (its first item), or `None` on the last page. An opaque
    /// string to hand back unchanged; a row inserted or removed between two requests neither
    /// repeats nor skips any other row.
    pub next_start_key: Option<String>,
}

/// The position of one row: `"<created>:<id>"`.
pub(crate) fn encode_key(created: i64, id: &str) -> String {
    format!("{created}:{id}")
}

/// `(created, id)` from a key made by [`encode_key`].
pub(crate) fn decode_key(key: &str) -> Result<(i64, String)> {
    let invalid = || StoreError::InvalidStartKey {
        key: key.to_owned(),
    };
    let (created, id) = key.split_once(':').ok_or_else(invalid)?;
    if created.is_empty() || !created.bytes().all(|b| b.is_ascii_digit()) || id.contains('\0') {
        return Err(invalid());
    }
    let created = created.parse::<i64>().map_err(|_| invalid())?;
    Ok((created, id.to_owned()))
}

/// `page_size + 1` as a SQL `LIMIT` (one extra row tells whether there is a next page).
pub(crate) fn limit(page_size: usize) -> Result<i64> {
    if page_size == 0 {
        return Err(StoreError::InvalidPageSize);
    }
    i64::try_from(page_size)
        .ok()
        .and_then(|n| n.checked_add(1))
        .ok_or(StoreError::OutOfRange {
            field: "page_size",
            value: page_size as u64,
        })
}

/// Splits the `limit(page_size)` rows fetched into a page: the extra row, if any, names the
/// next page.
pub(crate) fn paginate<T>(
    mut items: Vec<T>,
    page_size: usize,
    key_of: impl Fn(&T) -> String,
) -> Page<T> {
    let next_start_key = if items.len() > page_size {
        let next = key_of(&items[page_size]);
        items.truncate(page_size);
        Some(next)
    } else {
        None
    };
    Page {
        items,
        next_start_key,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_round_trip_even_with_colons_in_ids() {
        let k = encode_key(63_890_000_000, "2026-a:b");
        assert_eq!(
            decode_key(&k).unwrap(),
            (63_890_000_000, "2026-a:b".to_owned())
        );
        for bad in [
            "",
            "abc",
            ":x",
            "-1:x",
            "+1:x",
            "99999999999999999999:x",
            "1 :x",
        ] {
            assert!(
                matches!(decode_key(bad), Err(StoreError::InvalidStartKey { .. })),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn limits_fetch_one_extra_row_and_refuse_zero() {
        assert_eq!(limit(1).unwrap(), 2);
        assert!(matches!(limit(0), Err(StoreError::InvalidPageSize)));
        assert!(matches!(
            limit(usize::MAX),
            Err(StoreError::OutOfRange { .. })
        ));
    }

    #[test]
    fn the_extra_row_becomes_the_next_start_key() {
        let p = paginate(vec![3, 2, 1], 2, |n| n.to_string());
        assert_eq!(p.items, vec![3, 2]);
        assert_eq!(p.next_start_key.as_deref(), Some("1"));
        let last = paginate(vec![3, 2], 2, |n| n.to_string());
        assert_eq!(last.next_start_key, None);
    }
}
