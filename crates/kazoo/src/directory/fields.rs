//! Reading typed fields from one JSON document with errors that name the document and key.

use serde_json::{Map, Value};

use super::error::{DirectoryError, DocName};

/// One document being read.
pub(super) struct Fields<'a> {
    pub(super) name: DocName,
    pub(super) obj: &'a Map<String, Value>,
}

impl<'a> Fields<'a> {
    pub(super) fn missing(&self, path: &str) -> DirectoryError {
        DirectoryError::Missing {
            doc: Box::new(self.name.clone()),
            path: path.to_owned(),
        }
    }

    pub(super) fn invalid(&self, path: &str, expected: &'static str) -> DirectoryError {
        DirectoryError::Invalid {
            doc: Box::new(self.name.clone()),
            path: path.to_owned(),
            expected,
        }
    }

    /// The value at a dotted path (objects only), None when absent or JSON null.
    pub(super) fn get(&self, path: &str) -> Option<&'a Value> {
        let mut parts = path.split('.');
        let first = parts.next()?;
        let mut v = self.obj.get(first)?;
        for p in parts {
            v = v.as_object()?.get(p)?;
        }
        (!v.is_null()).then_some(v)
    }

    pub(super) fn opt_str(&self, path: &str) -> Result<Option<String>, DirectoryError> {
        match self.get(path) {
            None => Ok(None),
            Some(Value::String(s)) => Ok(Some(s.clone())),
            Some(_) => Err(self.invalid(path, "a string")),
        }
    }

    /// A required non-empty string.
    pub(super) fn req_str(&self, path: &str) -> Result<String, DirectoryError> {
        match self.opt_str(path)? {
            Some(s) if !s.trim().is_empty() => Ok(s),
            Some(_) => Err(self.invalid(path, "a non-empty string")),
            None => Err(self.missing(path)),
        }
    }

    /// An optional string with a default when absent.
    pub(super) fn str_or(&self, path: &str, default: &str) -> Result<String, DirectoryError> {
        Ok(self.opt_str(path)?.unwrap_or_else(|| default.to_owned()))
    }

    pub(super) fn bool_or(&self, path: &str, default: bool) -> Result<bool, DirectoryError> {
        match self.get(path) {
            None => Ok(default),
            Some(Value::Bool(b)) => Ok(*b),
            Some(_) => Err(self.invalid(path, "true or false")),
        }
    }

    /// An optional array of strings.
    pub(super) fn opt_strs(&self, path: &str) -> Result<Option<Vec<String>>, DirectoryError> {
        match self.get(path) {
            None => Ok(None),
            Some(Value::Array(items)) => items
                .iter()
                .map(|i| match i {
                    Value::String(s) => Ok(s.clone()),
                    _ => Err(self.invalid(path, "an array of strings")),
                })
                .collect::<Result<Vec<_>, _>>()
                .map(Some),
            Some(_) => Err(self.invalid(path, "an array of strings")),
        }
    }

    /// A raw optional value.
    pub(super) fn raw(&self, path: &str) -> Option<Value> {
        self.get(path).cloned()
    }
}
