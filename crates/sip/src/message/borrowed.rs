//! Allocation-free accessors for the hot path: the values a transaction layer matches on
//! (top Via branch, From/To tags, Call-ID), read straight from the received octets.
//! They return `None` when the header is absent or not UTF-8; the typed accessors
//! (`top_via()`, `from()`...) say why a value is malformed.

use std::borrow::Cow;

use super::headers::HeaderName;
use super::params::quoted_end;
use super::parse::Message;

/// Applies `f` to the text of `v`, keeping it borrowed when `v` was.
fn sub<'a>(v: Cow<'a, str>, f: impl Fn(&str) -> Option<&str>) -> Option<Cow<'a, str>> {
    match v {
        Cow::Borrowed(s) => f(s).map(Cow::Borrowed),
        Cow::Owned(s) => f(&s).map(|x| Cow::Owned(x.to_owned())),
    }
}

/// The value of parameter `name` in `;a=b;c` text, stopping at a `,` outside quotes.
/// `Some("")` for a flag.
pub(crate) fn find_param<'a>(params: &'a str, name: &str) -> Option<&'a str> {
    let b = params.as_bytes();
    let mut i = 0;
    let mut start = None;
    loop {
        let at_end = i >= b.len() || b.get(i) == Some(&b',');
        let c = b.get(i).copied();
        if at_end || c == Some(b';') {
            if let Some(s) = start {
                let piece = params.get(s..i).unwrap_or_default();
                let (n, v) = piece.split_once('=').unwrap_or((piece, ""));
                if n.trim().eq_ignore_ascii_case(name) {
                    return Some(v.trim());
                }
            }
            if at_end {
                return None;
            }
            start = Some(i + 1);
            i += 1;
        } else if c == Some(b'"') {
            i = quoted_end(b, i)?;
        } else {
            i += 1;
        }
    }
}

/// The parameter text of a name-addr / addr-spec value (from the first `;` after the
/// address), or "" if none.
pub(crate) fn name_addr_params(v: &str) -> Option<&str> {
    let t = v.trim_start();
    let b = t.as_bytes();
    let mut i = 0;
    if b.first() == Some(&b'"') {
        i = quoted_end(b, 0)?;
    }
    let rest = t.get(i..)?;
    let after = match rest.find('<') {
        Some(lt) => {
            let gt = rest.get(lt..)?.find('>')?;
            rest.get(lt + gt + 1..)?
        }
        None => rest,
    };
    Some(after.find(';').and_then(|p| after.get(p..)).unwrap_or(""))
}

impl Message {
    fn first_str(&self, name: HeaderName) -> Option<Cow<'_, str>> {
        let h = self.headers.iter().find(|h| h.name == name)?;
        match self.value_of(h) {
            Cow::Borrowed(b) => std::str::from_utf8(b).ok().map(Cow::Borrowed),
            Cow::Owned(v) => String::from_utf8(v).ok().map(Cow::Owned),
        }
    }

    /// The `branch` of the top Via, without allocating (unless the header was folded).
    pub fn top_via_branch(&self) -> Option<Cow<'_, str>> {
        let v = self.first_str(HeaderName::Via)?;
        sub(v, |s| {
            let s = super::access::first_element(s);
            let p = s.find(';')?;
            find_param(s.get(p..)?, "branch").filter(|b| !b.is_empty())
        })
    }

    /// The From tag, without allocating (unless folded).
    pub fn from_tag(&self) -> Option<Cow<'_, str>> {
        let v = self.first_str(HeaderName::From)?;
        sub(v, |s| {
            find_param(name_addr_params(s)?, "tag").filter(|t| !t.is_empty())
        })
    }

    /// The To tag, without allocating (unless folded).
    pub fn to_tag(&self) -> Option<Cow<'_, str>> {
        let v = self.first_str(HeaderName::To)?;
        sub(v, |s| {
            find_param(name_addr_params(s)?, "tag").filter(|t| !t.is_empty())
        })
    }

    /// The Call-ID text, without allocating (unless folded). See `call_id()` for checks.
    pub fn call_id_str(&self) -> Option<Cow<'_, str>> {
        self.first_str(HeaderName::CallId).filter(|c| !c.is_empty())
    }
}
