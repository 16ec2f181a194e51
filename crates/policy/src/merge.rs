//! Deep merge of JSON documents, right side winning, `{}` meaning "not configured".

use serde_json::Value;

/// Deep-merges `right` over `left`.
///
/// - two objects merge key by key, recursively;
/// - an empty object on the right (`{}`) is "not configured" and leaves `left` as it is
///   (at any depth, so `{"inbound": {}}` overrides nothing);
/// - any other right value replaces the left one.
///
/// The operation is associative (`merge(merge(a, b), c) == merge(a, merge(b, c))`), so the
/// precedence chain account `endpoint` < user < device can be folded in any grouping.
pub fn merge(left: &Value, right: &Value) -> Value {
    match (left, right) {
        (Value::Object(l), Value::Object(r)) => {
            let mut out = l.clone();
            for (k, rv) in r {
                let merged = match l.get(k) {
                    Some(lv) => merge(lv, rv),
                    None => rv.clone(),
                };
                out.insert(k.clone(), merged);
            }
            Value::Object(out)
        }
        (_, Value::Object(r)) if r.is_empty() => left.clone(),
        _ => right.clone(),
    }
}
