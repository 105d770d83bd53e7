//! "Did you mean": the nearest known name to an unknown one.

/// The candidate closest to `name` by edit distance, if close enough to help.
pub fn nearest<'a>(name: &str, candidates: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
    let len = name.chars().count();
    let limit = (len / 2).max(1);
    candidates
        .into_iter()
        .filter(|c| *c != name)
        .map(|c| (strsim::levenshtein(name, c), c))
        .filter(|(d, _)| *d <= limit)
        .min_by_key(|(d, c)| (*d, *c))
        .map(|(_, c)| c)
}

/// A help line naming the nearest candidate, or listing a few when none is near.
pub fn help_for<'a>(
    name: &str,
    candidates: impl IntoIterator<Item = &'a str> + Clone,
) -> Option<String> {
    if let Some(n) = nearest(name, candidates.clone()) {
        return Some(format!("did you mean `{n}`?"));
    }
    let mut all: Vec<&str> = candidates.into_iter().collect();
    if all.is_empty() {
        return None;
    }
    all.sort_unstable();
    all.dedup();
    let shown: Vec<String> = all.iter().take(8).map(|c| format!("`{c}`")).collect();
    let more = if all.len() > 8 { ", …" } else { "" };
    Some(format!("known names: {}{more}", shown.join(", ")))
}

/// [`help_for`] as the tail of a one-line message (`; did you mean …`), or
/// nothing when there is no candidate.
pub fn help_suffix<'a>(
    name: &str,
    candidates: impl IntoIterator<Item = &'a str> + Clone,
) -> String {
    help_for(name, candidates).map_or_else(String::new, |h| format!("; {h}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_chinese_near_miss() {
        assert_eq!(
            nearest("一般网络", ["微网格", "一般网格", "社区"]),
            Some("一般网格")
        );
        assert_eq!(nearest("完全不同的名字", ["微网格", "社区"]), None);
    }
}
