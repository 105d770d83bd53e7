//! Masking personal data (个人信息保护法): fields a schema marks `personal`
//! are shown as `张*` or `138****1234` to callers without `查看个人信息`,
//! in cases, their events' explanations and exports.

use serde_json::Value;
use wangge_policy::{Case, PolicySet};

/// A masked text: a long run of digits keeps its first 3 and last 4
/// (`138****1234`), anything else its first character (`张*`, `幸**`).
pub fn mask_text(s: &str) -> String {
    let chars: Vec<char> = s.chars().collect();
    let digits = chars.iter().filter(|c| c.is_ascii_digit()).count();
    if chars.len() >= 8 && digits * 10 >= chars.len() * 8 {
        let keep_end = chars.len() - 4;
        return chars
            .iter()
            .enumerate()
            .map(|(i, c)| if i < 3 || i >= keep_end { *c } else { '*' })
            .collect();
    }
    match chars.split_first() {
        Some((first, rest)) => {
            let mut out = first.to_string();
            out.extend(rest.iter().map(|_| '*'));
            out
        }
        None => String::new(),
    }
}

/// A masked value: text masked, anything else (a number, a list) hidden.
pub fn mask_value(v: &Value) -> Value {
    match v {
        Value::String(s) => Value::String(mask_text(s)),
        Value::Null => Value::Null,
        _ => Value::String("***".into()),
    }
}

/// Masks the dotted `paths` (`联系电话`, `联系人.电话`) of `data`.
pub fn mask_paths(data: &mut Value, paths: &[String]) {
    for p in paths {
        let mut at = &mut *data;
        let mut parts = p.split('.').peekable();
        while let Some(part) = parts.next() {
            let Some(next) = at.get_mut(part) else { break };
            if parts.peek().is_none() {
                *next = mask_value(next);
                break;
            }
            at = next;
        }
    }
}

/// Masks, anywhere in an explanation, values under a key that is a
/// personal path or ends with one (`事件.联系电话`).
pub fn mask_explanation(v: &mut Value, paths: &[String]) {
    match v {
        Value::Object(map) => {
            for (k, val) in map.iter_mut() {
                let hit = paths
                    .iter()
                    .any(|p| k == p || k.ends_with(&format!(".{p}")));
                if hit && !val.is_object() {
                    *val = mask_value(val);
                } else if hit {
                    mask_paths(val, paths);
                    mask_explanation(val, paths);
                } else {
                    mask_explanation(val, paths);
                }
            }
        }
        Value::Array(items) => items.iter_mut().for_each(|i| mask_explanation(i, paths)),
        _ => {}
    }
}

/// The personal paths of a workflow's report data (none when it has no
/// `data` schema or the workflow is gone).
pub fn personal_paths(set: &PolicySet, workflow: &str) -> Vec<String> {
    set.workflow(workflow)
        .ok()
        .and_then(|w| w.data_schema(set))
        .map(|s| s.personal_fields(&set.schemas))
        .unwrap_or_default()
}

/// A case with its personal data masked.
pub fn mask_case(set: &PolicySet, case: &mut Case) {
    let paths = personal_paths(set, &case.workflow);
    if !paths.is_empty() {
        mask_paths(&mut case.data, &paths);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_phone_numbers_are_masked_as_people_expect() {
        assert_eq!(mask_text("张三"), "张*");
        assert_eq!(mask_text("欧阳娜娜"), "欧***");
        assert_eq!(mask_text("13812341234"), "138****1234");
        assert_eq!(mask_text("0571-87654321"), "057******4321");
        assert_eq!(mask_text(""), "");
        let mut v =
            serde_json::json!({"联系电话": "13812341234", "人": {"名": "李四"}, "类别": "噪音"});
        mask_paths(
            &mut v,
            &["联系电话".into(), "人.名".into(), "不在.这里".into()],
        );
        assert_eq!(
            v,
            serde_json::json!({"联系电话": "138****1234", "人": {"名": "李*"}, "类别": "噪音"})
        );
        let mut e =
            serde_json::json!({"inputs": {"事件.联系电话": "13812341234", "事件.类别": "噪音"}});
        mask_explanation(&mut e, &["联系电话".into()]);
        assert_eq!(e["inputs"]["事件.联系电话"], "138****1234");
        assert_eq!(e["inputs"]["事件.类别"], "噪音");
    }
}
