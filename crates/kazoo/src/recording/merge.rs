//! Deep merge of JSON documents, right side winning, `{}` meaning "not configured".

use serde_json::Value;

/// Deep-merges `right` over `left`.
///
/// - two objects merge key by key, recursively;
/// - an empty object (`{}`) on either side is "not configured": the other side is kept
///   (at any depth, so `{"inbound": {}}` overrides nothing);
/// - between two non-objects (booleans, strings, numbers, null, arrays) the right one wins;
/// - a non-empty object is never replaced by a non-object, and replaces a non-object: a scalar
///   where the schema wants an object is malformed (the validator reports it) and must not
///   erase configuration below it.
///
/// With these rules the operation is associative (`merge(merge(a, b), c) ==
/// merge(a, merge(b, c))`, checked by a property test) with `{}` as its identity, so the
/// precedence chain account `endpoint` < user < device can be folded in any grouping. (The
/// naive rule "any right value replaces a left object" is not associative: `{"k": 1}`, `null`,
/// `{"j": 1}` give `{"j": 1}` one way and `{"k": 1, "j": 1}` the other.)
pub fn merge(left: &Value, right: &Value) -> Value {
    match (left, right) {
        (_, Value::Object(r)) if r.is_empty() => left.clone(),
        (Value::Object(l), _) if l.is_empty() => right.clone(),
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
        (Value::Object(_), _) => left.clone(),
        _ => right.clone(),
    }
}
