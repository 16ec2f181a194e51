//! `;name=value` parameter lists of header values (Via, From/To, Contact...).

use super::error::SyntaxError;
use super::headers::is_token_char;

/// One parameter; `value` is `None` for a flag (`;lr`). Quoted values keep their quotes here;
/// use [`Params::get_unquoted`] for the content.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Param {
    /// Name as written.
    pub name: String,
    /// Value as written (quotes kept), `None` for a flag parameter.
    pub value: Option<String>,
}

/// An ordered parameter list; names compare ignoring ASCII case.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Params(pub Vec<Param>);

impl Params {
    /// The value of `name`: `Some("")` for a flag, `None` if absent.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|p| p.name.eq_ignore_ascii_case(name))
            .map(|p| p.value.as_deref().unwrap_or(""))
    }

    /// The value of `name` with surrounding quotes and backslash escapes removed.
    pub fn get_unquoted(&self, name: &str) -> Option<String> {
        self.get(name).map(unquote)
    }

    /// Whether `name` is present (with or without a value).
    pub fn contains(&self, name: &str) -> bool {
        self.0.iter().any(|p| p.name.eq_ignore_ascii_case(name))
    }

    /// Sets (replaces or appends) a parameter.
    pub fn set(&mut self, name: &str, value: Option<&str>) {
        let value = value.map(str::to_owned);
        if let Some(p) = self
            .0
            .iter_mut()
            .find(|p| p.name.eq_ignore_ascii_case(name))
        {
            p.value = value;
        } else {
            self.0.push(Param {
                name: name.to_owned(),
                value,
            });
        }
    }

    /// Removes a parameter; true if it was present.
    pub fn remove(&mut self, name: &str) -> bool {
        let before = self.0.len();
        self.0.retain(|p| !p.name.eq_ignore_ascii_case(name));
        before != self.0.len()
    }

    /// Whether the list is empty.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Parses `;a=b;c;d="x y"` (the text starting at the first `;`, or empty).
    /// Names must be tokens; values are tokens, quoted strings, or host-like text
    /// (IPv6 references in brackets, `:`).
    pub fn parse(s: &str) -> Result<Params, SyntaxError> {
        let mut out = Vec::new();
        scan(s, |name, value| {
            out.push(Param {
                name: name.to_owned(),
                value: value.map(str::to_owned),
            });
        })?;
        Ok(Params(out))
    }
}

/// Reads a parameter list as [`Params::parse`] does, without allocating: `f` gets each
/// parameter's name and value (as written, quotes kept; `None` for a flag) in order. Fails
/// exactly where `Params::parse` fails (it is built on this).
pub(crate) fn scan<'a>(
    s: &'a str,
    mut f: impl FnMut(&'a str, Option<&'a str>),
) -> Result<(), SyntaxError> {
    let bytes = s.as_bytes();
    let mut i = 0;
    let skip_ws = |i: &mut usize| {
        while bytes.get(*i).is_some_and(|b| *b == b' ' || *b == b'\t') {
            *i += 1;
        }
    };
    skip_ws(&mut i);
    while i < bytes.len() {
        if bytes.get(i) != Some(&b';') {
            return Err(SyntaxError("expected ';' before parameter"));
        }
        i += 1;
        skip_ws(&mut i);
        let ns = i;
        while bytes.get(i).is_some_and(|b| is_token_char(*b)) {
            i += 1;
        }
        let name = s.get(ns..i).unwrap_or_default();
        if name.is_empty() {
            return Err(SyntaxError("empty parameter name"));
        }
        skip_ws(&mut i);
        let mut value = None;
        if bytes.get(i) == Some(&b'=') {
            i += 1;
            skip_ws(&mut i);
            let vs = i;
            if bytes.get(i) == Some(&b'"') {
                i = quoted_end(bytes, i).ok_or(SyntaxError("unterminated quoted string"))?;
            } else {
                while bytes.get(i).is_some_and(|b| {
                    is_token_char(*b) || matches!(b, b'[' | b']' | b':' | b'/' | b'@' | b'?')
                }) {
                    i += 1;
                }
            }
            let v = s.get(vs..i).unwrap_or_default();
            if v.is_empty() {
                return Err(SyntaxError("empty parameter value"));
            }
            value = Some(v);
            skip_ws(&mut i);
        }
        f(name, value);
    }
    Ok(())
}

impl std::fmt::Display for Params {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        for p in &self.0 {
            match &p.value {
                Some(v) => write!(f, ";{}={}", p.name, v)?,
                None => write!(f, ";{}", p.name)?,
            }
        }
        Ok(())
    }
}

/// Given `bytes[start] == '"'`, the index just after the closing quote.
pub(crate) fn quoted_end(bytes: &[u8], start: usize) -> Option<usize> {
    let mut i = start.checked_add(1)?;
    loop {
        match bytes.get(i)? {
            b'\\' => i = i.checked_add(2)?,
            b'"' => return i.checked_add(1),
            _ => i += 1,
        }
    }
}

/// Removes surrounding quotes and backslash escapes; unquoted text is returned as is.
pub fn unquote(s: &str) -> String {
    let t = s.trim();
    match t.strip_prefix('"').and_then(|r| r.strip_suffix('"')) {
        Some(inner) => {
            let mut out = String::with_capacity(inner.len());
            let mut chars = inner.chars();
            while let Some(c) = chars.next() {
                if c == '\\' {
                    if let Some(n) = chars.next() {
                        out.push(n);
                    }
                } else {
                    out.push(c);
                }
            }
            out
        }
        None => t.to_owned(),
    }
}

/// Quotes `s` as a quoted-string, escaping `"` and `\`.
pub fn quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        if c == '"' || c == '\\' {
            out.push('\\');
        }
        out.push(c);
    }
    out.push('"');
    out
}
