//! AIP-158 pagination: page sizes with a documented default and maximum, and opaque page
//! tokens that resume a keyset scan after the last row returned.

use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use devokr_proto::convert::FieldViolation;
use prost::Message;

/// Page size used when a request asks for none.
pub const DEFAULT_PAGE_SIZE: i64 = 50;
/// Larger page sizes are read as this one.
pub const MAX_PAGE_SIZE: i64 = 1_000;

/// Reads `page_size`: 0 is the default, above the maximum is the maximum, negative is an error.
pub fn page_size(requested: i32) -> Result<i64, FieldViolation> {
    match requested {
        0 => Ok(DEFAULT_PAGE_SIZE),
        n if n < 0 => Err(FieldViolation::new(
            "page_size",
            format!("must not be negative, got {n}"),
        )),
        n => Ok(i64::from(n).min(MAX_PAGE_SIZE)),
    }
}

/// What a page token encodes: where the scan stopped, and which collection it belongs to so
/// that a token cannot be replayed against another list.
#[derive(Clone, PartialEq, Message)]
struct PageTokenV1 {
    /// The sequence number of the last row returned.
    #[prost(int64, tag = "1")]
    after: i64,
    /// The collection the token was issued for.
    #[prost(string, tag = "2")]
    collection: String,
}

/// The keyset position a list resumes after: `None` for the first page.
fn decode_token(token: &str, collection: &str) -> Result<Option<i64>, FieldViolation> {
    if token.is_empty() {
        return Ok(None);
    }
    let invalid = || FieldViolation::new("page_token", "is not a token this list returned");
    let bytes = URL_SAFE_NO_PAD.decode(token).map_err(|_| invalid())?;
    let decoded = PageTokenV1::decode(bytes.as_slice()).map_err(|_| invalid())?;
    if decoded.collection != collection {
        return Err(invalid());
    }
    Ok(Some(decoded.after))
}

/// The token for the page after the row with sequence number `after`.
fn encode_token(after: i64, collection: &str) -> String {
    let token = PageTokenV1 {
        after,
        collection: collection.to_owned(),
    };
    URL_SAFE_NO_PAD.encode(token.encode_to_vec())
}

/// A validated list request: which collection, how many rows, and where to resume.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PageRequest {
    collection: String,
    size: i64,
    after: Option<i64>,
}

/// One page of a list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Page<T> {
    /// The rows of this page.
    pub items: Vec<T>,
    /// Empty on the last page.
    pub next_page_token: String,
}

impl PageRequest {
    /// Reads `page_size` and `page_token` of a list of `collection` (for example
    /// `tenants/acme/objectives`).
    pub fn new(
        collection: impl Into<String>,
        page_size: i32,
        page_token: &str,
    ) -> Result<Self, FieldViolation> {
        let collection = collection.into();
        let size = self::page_size(page_size)?;
        let after = decode_token(page_token, &collection)?;
        Ok(Self {
            collection,
            size,
            after,
        })
    }

    /// The sequence number to resume after (0 for the first page).
    pub fn after(&self) -> i64 {
        self.after.unwrap_or(0)
    }

    /// How many rows to fetch: one more than the page, to know whether another page follows.
    pub fn limit(&self) -> i64 {
        self.size + 1
    }

    /// Turns rows fetched with [`Self::limit`] into a page and the token of the next one.
    pub fn page<T>(&self, mut rows: Vec<T>, sequence: impl Fn(&T) -> i64) -> Page<T> {
        let page_len = usize::try_from(self.size).unwrap_or(usize::MAX);
        if rows.len() <= page_len {
            return Page {
                items: rows,
                next_page_token: String::new(),
            };
        }
        rows.truncate(page_len);
        let next_page_token = rows
            .last()
            .map(|row| encode_token(sequence(row), &self.collection))
            .unwrap_or_default();
        Page {
            items: rows,
            next_page_token,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn page_sizes_follow_aip_158() {
        assert_eq!(page_size(0), Ok(DEFAULT_PAGE_SIZE));
        assert_eq!(page_size(5_000), Ok(MAX_PAGE_SIZE));
        assert_eq!(page_size(-1).unwrap_err().field, "page_size");
    }

    #[test]
    fn tokens_round_trip_and_are_bound_to_their_collection() {
        let token = encode_token(42, "tenants/a/objectives");
        assert_eq!(decode_token(&token, "tenants/a/objectives"), Ok(Some(42)));
        assert!(decode_token(&token, "tenants/b/objectives").is_err());
        assert!(decode_token("not a token", "tenants/a/objectives").is_err());
        assert_eq!(decode_token("", "x"), Ok(None));
    }

    #[test]
    fn a_page_has_a_token_only_when_more_rows_exist() {
        let request = PageRequest::new("c", 2, "").unwrap();
        assert_eq!((request.after(), request.limit()), (0, 3));
        let page = request.page(vec![1, 2, 3], |n| *n);
        assert_eq!(page.items, [1, 2]);
        let next = PageRequest::new("c", 2, &page.next_page_token).unwrap();
        assert_eq!(next.after(), 2);
        let last = next.page(vec![3], |n| *n);
        assert!(last.next_page_token.is_empty());
    }
}
